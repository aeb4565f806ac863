// Bank import jobs on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts):
// the jobs module on the gateway's database with the real ledger
// (createLedger on the same database), without HTTP. One test body per
// engine: a job's transactions decided in order across several commits (a
// top-up by transfer reference, the same transfer again, a reference of
// nobody, an invalid amount, a returned payout, a debit that is an exported
// payout leaving), the operator matching and discarding what was not matched,
// the list with its filters and pages, a job resumed by a second module on the
// same database, and after all of it the ledger's invariants and the audit
// (bank statement lines against their bookings) find nothing.
import t, { type Test } from 'tap'
import { auditLedgerDatabase } from '../audit/audit.js'
import { createLedger } from '../ledger/ledger.js'
import { fixedClock, silentLogger, testSetup, UID } from '../ledger/testing/test-helpers.js'
import { sqlEngines, type SqlEngine } from '../testing/sql-engines.js'
import { createBankImportJobs, DECISIONS_PER_COMMIT, type PayoutReturns, type ReturnedPayout } from './import-jobs.js'
import { createTransferCodes } from './transfer-codes.js'

const engines = await sqlEngines(t)

const tx = (amount: string, reference: string, more: Record<string, unknown> = {}) => ({ payer: 'Alice Guest', reference, amount, date: '2026-07-01', ...more })

function world(t: Test, engine: SqlEngine) {
  const db = engine.open(t)
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger })
  ledger.registry.importEventSetup(testSetup())
  const codes = createTransferCodes({ db, clock })
  const payouts = new Map<string, ReturnedPayout>()
  const returned: string[] = []
  const payoutReturns: PayoutReturns = { findPayoutByEndToEndId: (id) => payouts.get(id), markPayoutReturned: (id) => void returned.push(id) }
  const alerts: string[] = []
  const open = () => createBankImportJobs({ db, ledger, transferCodes: codes, payouts: payoutReturns, clock, logger: silentLogger, currency: 'EUR', alert: (a) => alerts.push(a.kind) })
  const jobs = open()
  /** Decides every open job to its end; how many commits it took. */
  const drain = (on = jobs) => {
    let commits = 0
    for (const id of on.openJobs()) while (on.processNext(id)) commits++
    return commits
  }
  const problems = () => ({ invariants: ledger.checkInvariants(), audit: auditLedgerDatabase({ db }).findings.map((f) => `${f.code}: ${f.message}`) })
  return { db, ledger, codes, jobs, open, drain, payouts, returned, alerts, problems }
}

for (const engine of engines) {
  t.test(`${engine.name}: a job decided in order over several commits, each transfer booked once`, async (t) => {
    const w = world(t, engine)
    const alice = w.codes.referenceOf(UID.alice)
    const bob = w.codes.referenceOf(UID.bob)
    // Bob topped up online, and a payout of his was exported (booked to payout:sepa then) that comes back; another leaves the account as a debit.
    w.ledger.bookExternal({
      ref: 'sumup:checkout-bob',
      kind: 'topup_online',
      postings: [
        { account: w.ledger.ensureAccount('clearing', 'sumup'), amount: -5_000 },
        { account: `customer:${UID.bob}`, amount: 5_000 },
      ],
      customerUid: UID.bob,
    })
    w.ledger.bookExternal({
      ref: 'payout:E2E-BOB-1',
      kind: 'payout',
      postings: [
        { account: `customer:${UID.bob}`, amount: -1_000 },
        { account: w.ledger.ensureAccount('payout', 'sepa'), amount: 1_000 },
      ],
      customerUid: UID.bob,
    })
    w.payouts.set('E2E-BOB-1', { uid: UID.bob, amountCents: 1_000 })
    const topupsBefore = { alice: w.ledger.balanceOf(UID.alice) ?? 0, bob: w.ledger.balanceOf(UID.bob) ?? 0 }
    w.payouts.set('E2E-ALICE-7', { uid: UID.alice, amountCents: 700 })
    const fillers = Array.from({ length: DECISIONS_PER_COMMIT }, (_, i) => tx(`${i + 1}.00`, `no code ${i}`))
    const id = w.jobs.create({
      event: 'test-fest',
      createdBy: 'admin',
      transactions: [
        tx('23.50', `GUTSCHRIFT ${alice.display} EREF: NOTPROVIDED`, { iban: 'DE02120300000000202051' }),
        tx('23.50', `gutschrift ${alice.display.toLowerCase()} eref: notprovided`, { payer: 'ALICE GUEST', iban: 'DE02120300000000202051' }),
        tx('10.00', 'RF18539007547034'),
        tx('1e3', bob.display),
        tx('10.00', 'RETURN E2E-BOB-1', { payer: 'Bank' }),
        tx('-7.00', 'SEPA E2E-ALICE-7', { payer: 'Alice Guest' }),
        ...fillers,
        tx('4.00', bob.compact),
      ],
    })
    t.same(w.jobs.openJobs(), [id])
    t.equal(w.jobs.job(id)!.state, 'pending')
    t.same(w.jobs.job(id)!.transactions, [], 'transactions appear once the job has started')
    t.ok(w.drain() >= 2, 'more than one commit')
    t.same(w.jobs.openJobs(), [])
    const job = w.jobs.job(id)!
    t.equal(job.state, 'completed')
    t.equal(job.event, 'test-fest')
    t.same(job.transactions.map((x) => x.state), ['valid', 'already', 'nomatch', 'invalid', 'valid', 'valid', ...fillers.map(() => 'nomatch'), 'valid'])
    t.match(job.transactions[0], { amount: '23.50', payer: '', reference: '', order: alice.compact, iban: 'DE02120300000000202051' })
    t.equal(job.transactions[1]!.checksum, job.transactions[0]!.checksum, 'the same transfer, written otherwise')
    t.match(job.transactions[2], { payer: 'Alice Guest', reference: 'RF18539007547034' }, 'nomatch keeps payer and reference for the operator')
    t.equal(job.transactions[4]!.order, 'E2E-BOB-1')
    t.equal(job.transactions[5]!.order, 'E2E-ALICE-7')
    t.equal(w.ledger.balanceOf(UID.alice), topupsBefore.alice + 2_350)
    t.equal(w.ledger.balanceOf(UID.bob), topupsBefore.bob + 1_000 + 400, 'the returned payout is back, and the transfer booked')
    t.equal(w.ledger.accountBalance('clearing:bank'), -2_750)
    t.same(w.returned, ['E2E-BOB-1'])
    t.same(w.alerts.length, 1, 'the returned payout alerts an operator')

    // The operator: one unmatched transfer is bob's after all, another is discarded.
    t.match(w.jobs.matchByOperator(id, 2, UID.bob, 'ops'), { state: 'valid', order: bob.compact, payer: '', reference: '' })
    t.match(w.jobs.discardByOperator(id, 6, 'a test transfer of the bank', 'ops'), { state: 'discarded', comment: 'a test transfer of the bank' })
    t.equal(w.ledger.balanceOf(UID.bob), topupsBefore.bob + 1_000 + 400 + 1_000, 'matched by the operator: booked')
    t.throws(() => w.jobs.matchByOperator(id, 2, UID.alice, 'ops'), 'a decided transaction is not matched again')

    // The same transfer uploaded again in the next statement: already.
    const again = w.jobs.create({ event: 'test-fest', createdBy: 'admin', transactions: [tx('23.50', `GUTSCHRIFT ${alice.display} EREF: NOTPROVIDED`, { iban: 'DE02120300000000202051' })] })
    w.drain()
    t.match(w.jobs.job(again)!.transactions, [{ state: 'already' }])
    t.equal(w.ledger.balanceOf(UID.alice), topupsBefore.alice + 2_350)

    t.same(w.problems(), { invariants: [], audit: [] })
  })

  t.test(`${engine.name}: the list filters by event and state and pages by id; a second module on the database resumes an open job`, async (t) => {
    const w = world(t, engine)
    const ref = w.codes.referenceOf(UID.alice).display
    const ids = ['a-fest', 'b-fest', 'a-fest'].map((event, i) => w.jobs.create({ event, createdBy: 'admin', transactions: [tx(`${i + 1}.00`, `${ref} ${i}`)] }))
    const list = (filter: { event?: string; state?: string; offset: number; limit: number }) => {
      const page = w.jobs.list(filter)
      return { count: page.count, ids: page.jobs.map((j) => j.id) }
    }
    t.same(list({ offset: 0, limit: 10 }), { count: 3, ids })
    t.same(list({ event: 'a-fest', offset: 0, limit: 10 }), { count: 2, ids: [ids[0], ids[2]] })
    t.same(list({ event: 'a-fest', offset: 1, limit: 1 }), { count: 2, ids: [ids[2]] })
    t.same(list({ state: 'completed', offset: 0, limit: 10 }), { count: 0, ids: [] })

    // Decided by another gateway's module (a restart, or PostgreSQL's other gateway): it reads the jobs from the database.
    const other = w.open()
    t.same(other.openJobs(), ids)
    t.ok(other.processNext(ids[0]!) || other.job(ids[0]!)!.state === 'completed')
    w.drain(other)
    t.same(list({ state: 'completed', offset: 0, limit: 10 }), { count: 3, ids })
    t.same(
      ids.map((id) => w.jobs.job(id)!.transactions.map((x) => x.state)),
      [['valid'], ['valid'], ['valid']],
    )
    t.equal(w.ledger.accountBalance('clearing:bank'), -600)
    t.same(w.problems(), { invariants: [], audit: [] })
  })
}
