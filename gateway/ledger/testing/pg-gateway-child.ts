// Test code only: one gateway's ledger in a child process, for the tests of
// several gateways booking into one PostgreSQL database at once
// (pg-concurrent.test.ts); a child process rather than a worker thread,
// because pg-native's libpq addon cannot be loaded in a worker. Each child has
// its own pg-native connection and ledger (registry in its own in-memory
// SQLite, as createLedgerOverStore does), books the batches it was handed,
// and sends back what each envelope was answered. A kiosk's envelope that
// comes before the other gateway has booked its predecessors is answered with
// a gap and sent again later, as the kiosk's outbox would; every loop is
// bounded.
//
// With `pauseAt` the child stops in the middle of that batch, says so, and
// waits there until the test kills it (a gateway that dies mid-batch) or lets
// it go on (a gateway that is slow to commit).
import { existsSync } from 'node:fs'
import pino from 'pino'
import type { Envelope } from '../../../device-protocol/index.js'
import type { EventSetup } from '../../event-setup.js'
import { openLedgerDatabase } from '../db.js'
import { createPgLedgerStore } from '../pg-store.js'
import type { LedgerStore } from '../store.js'
import { createLedgerOverStore, fixedClock, testSetup, UID, type KioskKeys } from './test-helpers.js'

/** The kiosks and wristbands of the concurrent runs: testSetup's and more of each. */
export const EXTRA_KIOSKS = [
  { id: 'bar-2', booth: 'bar', saleAllowed: true, topupAllowed: false },
  { id: 'food-2', booth: 'food', saleAllowed: true, topupAllowed: true },
  { id: 'cash-2', booth: 'cashdesk', saleAllowed: false, topupAllowed: true },
] as const
export const KIOSK_IDS = ['bar-1', 'cash-1', 'food-1', ...EXTRA_KIOSKS.map((k) => k.id)] as const
export const WRISTBANDS = [UID.alice, UID.bob, ...Array.from({ length: 6 }, (_, i) => `04C0FFEE00000${i}`)] as const

/** The event set-up every gateway of a run imports: the kiosks' public keys, the wristbands with PINs. */
export function concurrentSetup(publicKeys: Record<string, string>): EventSetup {
  const base = testSetup(Object.fromEntries(Object.entries(publicKeys).map(([id, key]) => [id, { publicKeyBase64Url: key } as KioskKeys])))
  return {
    ...base,
    kiosks: [
      ...base.kiosks,
      ...EXTRA_KIOSKS.map((k) => ({ ...k, token: `token-of-${k.id}-0123456789abcdef`, publicKey: publicKeys[k.id]! })),
    ],
    wristbands: [...base.wristbands, ...WRISTBANDS.slice(2).map((uid, i) => ({ uid, pin: `XTRA${"BCDEFGHJ"[i]}2345AB` }))],
  }
}

export interface GatewayChildData {
  url: string
  publicKeys: Record<string, string>
  batches: Envelope[][]
  /** Stop before the `writes`-th transaction of the `batch`-th batch is written (the core has decided it), until killed or until `resumeFile` exists. */
  pauseAt?: { batch: number; writes: number; resumeFile?: string }
}

/** What each envelope was answered (by tx id): its status and reason, and whether it was a resend of one already recorded. */
export type Answers = Record<string, { status: string; reason: string | null; replay: boolean }>

/** The test to the child: first its data, then (when every gateway is ready, so they start together) go. */
export type GatewayChildCommand = { kind: 'data'; data: GatewayChildData } | { kind: 'go' }

export type GatewayChildMessage =
  | { kind: 'ready' }
  | { kind: 'paused'; answered: Answers }
  | { kind: 'done'; answers: Answers; conflictRetries: number; rounds: number }
  | { kind: 'failed'; message: string; answered: Answers }

const MAX_ROUNDS = 5_000
/** How long a paused child waits to be killed before it gives up (50 ms steps). */
const MAX_PAUSE_STEPS = 1_200

const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

function prepare(data: GatewayChildData, post: (message: GatewayChildMessage) => void): () => void {
  let conflictRetries = 0
  const logger = pino({ level: 'warn' }, { write: (line: string) => void (line.includes('lost a race') && conflictRetries++) })
  const pg = createPgLedgerStore({ url: data.url })
  let batchNo = 0
  let writesInBatch = 0
  const answers: Answers = {}
  // Counts the writes of the batch to pause in, and stops there until the test has killed the session.
  const pausing = (store: LedgerStore): LedgerStore => {
    const pauseAt = data.pauseAt
    if (pauseAt === undefined) return store
    const commitTransaction: LedgerStore['commitTransaction'] = (write) => {
      if (batchNo === pauseAt.batch && ++writesInBatch === pauseAt.writes) {
        post({ kind: 'paused', answered: { ...answers } })
        const resumeFile = pauseAt.resumeFile
        let step = 0
        while (!(resumeFile !== undefined && existsSync(resumeFile))) {
          if (++step > MAX_PAUSE_STEPS) throw new Error('paused and neither killed nor resumed')
          sleep(50)
        }
      }
      store.commitTransaction(write)
    }
    return { ...store, commitTransaction }
  }
  const ledger = createLedgerOverStore({ db: openLedgerDatabase(':memory:'), clock: fixedClock(), store: pg, logger, wrapStore: pausing })
  ledger.registry.importEventSetup(concurrentSetup(data.publicKeys))
  return () => book()

  function book(): void {
    const queue = data.batches.map((b) => [...b])
    let rounds = 0
    try {
      while (queue.length > 0) {
        if (++rounds > MAX_ROUNDS) throw new Error(`still ${queue.length} batches to book after ${MAX_ROUNDS} rounds`)
        const batch = queue.shift()!
        batchNo += 1
        writesInBatch = 0
        const outcomes = ledger.applyBatch(batch.map((envelope) => ({ envelope })))
        const later: Envelope[] = []
        outcomes.forEach((outcome, i) => {
          const envelope = batch[i]!
          if (outcome.kind === 'gap') later.push(envelope)
          else answers[envelope.tx.id] = { status: outcome.result.status, reason: outcome.result.reason ?? null, replay: outcome.replay }
        })
        if (later.length > 0) {
          queue.push(later)
          // Waiting on the other gateway for this kiosk's earlier seqs: give it a moment.
          if (later.length === batch.length) sleep(2)
        }
      }
      post({ kind: 'done', answers, conflictRetries, rounds })
    } catch (error) {
      post({ kind: 'failed', message: error instanceof Error ? error.message : String(error), answered: answers })
    } finally {
      pg.close()
    }
  }
}

if (process.send !== undefined) {
  const post = (message: GatewayChildMessage) => process.send!(message)
  let book: (() => void) | undefined
  process.on('message', (command: GatewayChildCommand) => {
    if (command.kind === 'data') {
      book = prepare(command.data, post)
      post({ kind: 'ready' })
    } else if (command.kind === 'go' && book !== undefined) {
      // Then it idles until the test ends it.
      book()
    }
  })
}
