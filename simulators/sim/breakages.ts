// Deliberately broken stores and ingests, for the simulator's self-test
// (broken.test.ts): each is injected through a factory's dependencies
// (the ledger's wrapStore, ingest's deps), never by changing the real code.
// A simulator that passes with one of these in place cannot be trusted.
import type { IngestDeps } from '../../gateway/ingest.js'
import type { Outcome } from '../../gateway/ledger/index.js'
import type { LedgerStore } from '../../gateway/ledger/store.js'
import type { Breakage } from './simulation.js'

/** A store that loses every 50th posting it is given to write. */
export function storeDroppingPostings(every = 50): Breakage {
  let postings = 0
  return {
    wrapStore: (store: LedgerStore): LedgerStore => ({
      ...store,
      commitTransaction(write) {
        if (write.decision.status !== 'accepted') return store.commitTransaction(write)
        const kept = write.decision.postings.filter(() => ++postings % every !== 0)
        store.commitTransaction(kept.length === write.decision.postings.length ? write : { ...write, decision: { ...write.decision, postings: kept } })
      },
    }),
  }
}

/** A ledger under ingest that, every `every`-th batch, answers every envelope accepted and books nothing. */
export function ingestAcceptingWithoutCommit(every = 7): Breakage {
  let batches = 0
  return {
    wrapIngestDeps: (deps: IngestDeps): IngestDeps => ({
      ...deps,
      ledger: {
        ...deps.ledger,
        applyBatch(items) {
          batches += 1
          if (batches % every !== 0) return deps.ledger.applyBatch(items)
          return items.map(({ envelope: { tx } }): Outcome => ({ kind: 'result', result: { kind: 'result', id: tx.id, seq: tx.seq, status: 'accepted' }, booked: true, recorded: true, replay: false }))
        },
      },
    }),
  }
}

/** A store whose look-up of recorded ids forgets every `every`-th id: a resend is no longer known as one. */
export function storeForgettingIds(every = 2): Breakage {
  let lookups = 0
  return {
    wrapStore: (store: LedgerStore): LedgerStore => ({
      ...store,
      recorded(id) {
        lookups += 1
        return lookups % every === 0 ? undefined : store.recorded(id)
      },
    }),
  }
}
