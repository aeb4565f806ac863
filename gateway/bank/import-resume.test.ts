// A gateway that stops in the middle of a bank import job: the job is picked up
// again from the database, and no transaction is booked twice or lost. Tested
// in-process (the gateway's database closed mid-job and opened again), not
// with a killed child process; on SQLite and on PostgreSQL (one body per engine).
import pino from 'pino'
import t, { type Test } from 'tap'
import { makeWorld, UID } from '../ledger/testing/test-helpers.js'
import { testOnEngines, worldEngines, type WorldDatabase, type WorldEngine } from '../testing/world-engines.js'
import { createBankImportJobs, DECISIONS_PER_COMMIT, type BankLedger } from './import-jobs.js'
import { createImportQueue } from './import-queue.js'
import { createTransferCodes } from './transfer-codes.js'

const silent = pino({ level: 'silent' })
const tx = (amount: string, reference: string, date = '2026-07-01') => ({ payer: 'Guest', reference, amount, date })

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

function open(database: WorldDatabase, ledgerWrap: (l: BankLedger) => BankLedger = (l) => l) {
  const world = makeWorld(database)
  const codes = createTransferCodes({ db: world.db, clock: world.clock })
  const jobs = createBankImportJobs({ db: world.db, ledger: ledgerWrap(world.ledger), transferCodes: codes, clock: world.clock, logger: silent, currency: 'EUR' })
  return { world, codes, jobs, queue: createImportQueue({ jobs, logger: silent }) }
}

onEveryEngine('a job stopped half-way goes on after a restart, booking each transfer once', async (t, engine) => {
  const database = engine.database(t)
  let g = open(database)
  const alice = g.codes.referenceOf(UID.alice).display
  const bob = g.codes.referenceOf(UID.bob).display
  // Twice as many as one commit decides; every fourth names nobody.
  const transactions = Array.from({ length: 2 * DECISIONS_PER_COMMIT }, (_, i) => tx(`${i + 1}.00`, i % 4 === 3 ? 'nobody' : i % 2 === 0 ? alice : bob))
  const expected = { alice: 0, bob: 0 }
  transactions.forEach((x, i) => {
    if (i % 4 !== 3) expected[i % 2 === 0 ? 'alice' : 'bob'] += (i + 1) * 100
  })
  const id = g.jobs.create({ event: null, transactions, createdBy: 'admin' })
  t.ok(g.jobs.processNext(id), 'the first transactions are decided')
  t.equal(g.jobs.job(id)!.state, 'running')
  t.equal(g.jobs.job(id)!.transactions.filter((x) => x.state === 'imported').length, DECISIONS_PER_COMMIT, 'half are still undecided')
  g.world.close() // the gateway stops here, with the job running

  g = open(database)
  t.same(g.jobs.openJobs(), [id], 'found again at start')
  g.queue.kick()
  await g.queue.drained()
  const job = g.jobs.job(id)!
  t.equal(job.state, 'completed')
  t.same(job.transactions.map((x) => x.state), transactions.map((_, i) => (i % 4 === 3 ? 'nomatch' : 'valid')))
  t.equal(g.world.ledger.balanceOf(UID.alice), expected.alice)
  t.equal(g.world.ledger.balanceOf(UID.bob), expected.bob)
  t.same(g.world.ledger.checkInvariants(), [])
  await g.queue.stop()
  g.world.close()
})

onEveryEngine('a booking already made for a transaction still undecided (a stop between the two) is not made again', async (t, engine) => {
  const g = open(engine.database(t))
  t.teardown(() => g.world.close())
  const alice = g.codes.referenceOf(UID.alice).display
  const id = g.jobs.create({ event: null, transactions: [tx('10.00', alice)], createdBy: 'admin' })
  // Book what the import would book for it, under its ref, as if the stop came right after the booking.
  const db = g.world.db
  const { checksum } = db.prepare<[number], { checksum: string }>(`SELECT checksum FROM bank_import_transactions WHERE job_id = ?`).get(id)!
  g.world.ledger.bookExternal({
    ref: `bank:${checksum}`,
    kind: 'topup_online',
    postings: [{ account: g.world.ledger.ensureAccount('clearing', 'bank'), amount: -1000 }, { account: `customer:${UID.alice}`, amount: 1000 }],
    customerUid: UID.alice,
    meta: { checksum },
  })
  g.queue.kick()
  await g.queue.drained()
  t.equal(g.jobs.job(id)!.transactions[0]!.state, 'valid')
  t.equal(g.world.ledger.balanceOf(UID.alice), 1000, 'once')
  t.same(g.world.ledger.checkInvariants(), [])
})

onEveryEngine('a failure in the middle of a decision leaves no booking and no claimed checksum', async (t, engine) => {
  let fail = true
  const g = open(engine.database(t), (ledger) => ({
    ...ledger,
    ensureAccount: ledger.ensureAccount,
    wristband: ledger.wristband,
    externalBookingByRef: ledger.externalBookingByRef,
    bookExternal(input) {
      const result = ledger.bookExternal(input)
      if (fail) throw new Error('disk gone after the booking')
      return result
    },
  }))
  t.teardown(() => g.world.close())
  const alice = g.codes.referenceOf(UID.alice).display
  const id = g.jobs.create({ event: null, transactions: [tx('10.00', alice)], createdBy: 'admin' })
  g.queue.kick()
  await g.queue.drained()
  t.match(g.jobs.job(id)!.transactions[0], { state: 'error', message: /internal error/ })
  t.equal(g.world.ledger.balanceOf(UID.alice), 0, 'the booking rolled back with the decision')
  fail = false
  // The same transfer in the next statement is not `already`: nothing was booked for it.
  const again = g.jobs.create({ event: null, transactions: [tx('10.00', alice)], createdBy: 'admin' })
  g.queue.kick()
  await g.queue.drained()
  t.equal(g.jobs.job(again)!.transactions[0]!.state, 'valid')
  t.equal(g.world.ledger.balanceOf(UID.alice), 1000)
  t.same(g.world.ledger.checkInvariants(), [])
})
