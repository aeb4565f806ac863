// composeLedgerFacts (facts.ts): a wristband's balance is read before its
// registry facts. Inside a batch on PostgreSQL the balance is read FOR UPDATE,
// so a sale on one gateway that meets a payout run holding the guest's
// balance row on another (payouts/balance-locks.ts) waits there, and reads
// the wristband's in_payout_run only after the run's commit: the order is
// what makes the sale see the run's open item and be refused.
import t from 'tap'
import { composeLedgerFacts } from './facts.js'
import type { LedgerStore, RegistryFacts } from './store.js'

t.test("a wristband's balance is read before its registry facts, and an unknown wristband is still unknown", async (t) => {
  const reads: string[] = []
  const store = { account: (id: string) => (reads.push(`balance ${id}`), id === 'customer:04A1' ? { kind: 'customer', balance: 700 } : undefined) } as unknown as LedgerStore
  const registry = {
    wristband: (uid: string) => (reads.push(`facts ${uid}`), uid === '04A1' ? { blocked: false, vouchers: 0, variant: null, inPayoutRun: true } : undefined),
  } as unknown as RegistryFacts
  const facts = composeLedgerFacts(registry, store)
  t.same(facts.wristband('04A1'), { blocked: false, vouchers: 0, variant: null, inPayoutRun: true, balance: 700 })
  t.same(reads, ['balance customer:04A1', 'facts 04A1'])
  t.equal(facts.wristband('04FF'), undefined)
})
