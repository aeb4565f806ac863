// Payout runs over the ledger, on SQLite and on PostgreSQL (one body per
// engine, gateway/testing/world-engines.ts): who gets into a run, the four eyes, the
// bookings of create and export, cancel, limits, and what the tills answer a
// wristband in a run. After every test the ledger's invariants hold.
import t, { type Test } from 'tap'
import { accountIds, type LedgerRefusalError } from '../ledger/index.js'
import { SigningKiosk, UID, fixedClock, silentLogger, testSetup, verified } from '../ledger/testing/test-helpers.js'
import { createLedger, type Ledger } from '../ledger/index.js'
import type { SqlDatabase } from '../sql/database.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { isEndToEndId } from './end-to-end-id.js'
import { PayoutRunError, createPayoutRuns, payoutAccountId, type PayoutRunErrorCode, type PayoutRuns } from './payout-runs.js'
import { createPayoutReads } from './reads.js'
import { createPayoutReturns } from './payout-returns.js'
import { renderPayoutFiles } from './payout-files.js'

const CAROL = '04C0C0C0C0C0C0'
const DAVE = '04D0D0D0D0D0D0'
const ERIN = '04E0E0E0E0E0E0'
const IBAN_DE = 'DE89370400440532013000'
const IBAN_AT = 'AT611904300234573201'
const IBAN_GB = 'GB29NWBK60161331926819'
const SUMUP = accountIds.clearing('sumup')

interface World {
  db: SqlDatabase
  ledger: Ledger
  runs: PayoutRuns
  bar: SigningKiosk
  clock: ReturnType<typeof fixedClock>
  countries: string[] | null
}

function world(t: Test, engine: WorldEngine): World {
  const connection = engine.database(t).connect()
  t.teardown(() => connection.close())
  const db = connection.db
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger })
  const bar = new SigningKiosk('bar-1')
  const setup = testSetup({ 'bar-1': bar.keys })
  setup.offline = { allowed: true, perTagCapCents: 5000, kioskTotalCapCents: 50_000 }
  setup.wristbands.push({ uid: CAROL, pin: 'CRLA2345AB' }, { uid: DAVE, pin: 'DVEE2345AB' }, { uid: ERIN, pin: 'ERNN2345AB' })
  ledger.registry.importEventSetup(setup)
  ledger.ensureAccount('clearing', 'sumup')
  const w: World = { db, ledger, bar, clock, countries: ['DE', 'AT'], runs: undefined as unknown as PayoutRuns }
  w.runs = createPayoutRuns({ db, ledger, clock, logger: silentLogger, allowedCountryCodes: () => w.countries })
  return w
}

function topup(w: World, uid: string, amount: number) {
  w.ledger.bookExternal({ ref: `test-topup:${uid}:${amount}:${Math.random()}`, kind: 'topup_online', customerUid: uid, postings: [{ account: SUMUP, amount: -amount }, { account: accountIds.customer(uid), amount }] })
}

/** What the portal stores when a guest enters their payout data (written as the portal backend does). */
function registerPayoutData(w: World, uid: string, data: { iban?: string | null; name?: string | null; email?: string | null; donation?: number; donateAll?: boolean }) {
  w.db
    .prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, donation_cents, donate_all, has_entered_info) VALUES (?, ?, ?, ?, ?, ?, 1)`)
    .run(uid, data.iban === undefined ? IBAN_DE : data.iban, data.name === undefined ? 'Guest Name' : data.name, data.email === undefined ? 'guest@example.org' : data.email, data.donation ?? 0, data.donateAll ? 1 : 0)
}

function refusal(t: Test, fn: () => unknown, code: PayoutRunErrorCode, what: string) {
  try {
    fn()
    t.fail(`${what}: not refused`)
  } catch (err) {
    t.ok(err instanceof PayoutRunError, `${what}: a PayoutRunError`)
    t.equal((err as PayoutRunError).code, code, what)
  }
}

const balance = (w: World, uid: string) => w.ledger.balanceOf(uid)

/** Alice 3000 (DE, donates 500), Bob 2000 (AT). */
function twoGuests(t: Test, engine: WorldEngine): World {
  const w = world(t, engine)
  topup(w, UID.alice, 3000)
  topup(w, UID.bob, 2000)
  registerPayoutData(w, UID.alice, { donation: 500 })
  registerPayoutData(w, UID.bob, { iban: IBAN_AT, name: 'Bob B' })
  return w
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: create: eligible guests with their amounts after donations; donations booked, nothing else; the tills refuse them`, async (t) => {
    const w = twoGuests(t, engine)
    const run = w.runs.create({ operator: 'anna' })
    t.equal(run.state, 'created')
    t.same(
      run.items.map((i) => [i.uid, i.amount, i.donation, i.iban, i.payoutBooking]),
      [
        [UID.alice, 2500, 500, IBAN_DE, null],
        [UID.bob, 2000, 0, IBAN_AT, null],
      ],
    )
    t.equal(run.payoutCount, 2)
    t.equal(run.payoutSum, 4500)
    t.equal(run.donationSum, 500)
    t.equal(balance(w, UID.alice), 2500, 'the donation left the wristband')
    t.equal(balance(w, UID.bob), 2000, 'no payout booked yet')
    t.equal(w.ledger.accountBalance(accountIds.donation('event')), 500)
    t.equal(w.ledger.accountBalance(payoutAccountId), undefined, 'the payout account is not even opened')
    t.same(run.events.map((e) => [e.action, e.operator]), [['created', 'anna']])
    for (const item of run.items) t.ok(isEndToEndId(item.endToEndId) && item.endToEndId.length <= 35, `end-to-end id ${item.endToEndId} is SEPA-safe`)
    t.equal(new Set(run.items.map((i) => i.endToEndId)).size, 2, 'end-to-end ids are unique')

    // The till: a sale by a wristband in the run is refused with its own reason, through the ledger.
    const [outcome] = w.ledger.applyBatch([verified(w.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
    t.equal(outcome!.kind === 'result' && outcome!.result.reason, 'in_payout_run')
    t.equal(balance(w, UID.alice), 2500, 'nothing spent')
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: four eyes: the creator cannot approve; approve once; export books once; cancel after export refused`, async (t) => {
    const w = twoGuests(t, engine)
    const run = w.runs.create({ operator: 'anna' })
    refusal(t, () => w.runs.approve(run.id, 'anna'), 'approver_is_creator', 'the creator approving')
    t.equal(w.runs.get(run.id).state, 'created', 'still waiting for a second operator')
    refusal(t, () => w.runs.export(run.id, 'ben'), 'payout_run_not_exportable', 'export before approval')
    const approved = w.runs.approve(run.id, 'ben')
    t.equal(approved.state, 'approved')
    t.equal(approved.approvedBy, 'ben')
    refusal(t, () => w.runs.approve(run.id, 'carl'), 'payout_run_not_approvable', 'a second approval')

    w.clock.advance(60_000)
    const exported = w.runs.export(run.id, 'ben')
    t.equal(exported.replay, false)
    t.equal(exported.run.state, 'exported')
    t.equal(balance(w, UID.alice), 0)
    t.equal(balance(w, UID.bob), 0)
    t.equal(w.ledger.accountBalance(payoutAccountId), 4500, 'customer → payout:sepa')
    for (const item of exported.run.items) {
      const booking = w.ledger.externalBooking(item.payoutBooking!)
      t.equal(booking?.kind, 'payout')
      t.equal(booking?.meta.endToEndId, item.endToEndId, 'the booking names its end-to-end id')
    }

    const again = w.runs.export(run.id, 'anna')
    t.equal(again.replay, true, 'a second export is a replay')
    t.equal(w.ledger.accountBalance(payoutAccountId), 4500, 'booked once')
    t.equal(w.db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM external_bookings WHERE kind = 'payout'`).get()?.n, 2)
    refusal(t, () => w.runs.cancel(run.id, 'anna'), 'payout_run_not_cancellable', 'cancel after export')

    t.same(
      w.runs.get(run.id).events.map((e) => [e.action, e.operator]),
      [
        ['created', 'anna'],
        ['refused', 'anna'],
        ['approved', 'ben'],
        ['exported', 'ben'],
        ['exported_again', 'anna'],
      ],
      'every step is logged with who did it',
    )
    // The till now: the wristband is out of the run (and empty).
    const [outcome] = w.ledger.applyBatch([verified(w.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
    t.equal(outcome!.kind === 'result' && outcome!.result.reason, 'insufficient_balance', 'after export the wristband is out of the run')
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: cancel before export: money stays, the wristbands spend again and can go into a new run; the donation is not booked twice`, async (t) => {
    const w = twoGuests(t, engine)
    const run = w.runs.create({ operator: 'anna' })
    w.runs.approve(run.id, 'ben')
    const cancelled = w.runs.cancel(run.id, 'anna')
    t.equal(cancelled.state, 'cancelled')
    t.equal(balance(w, UID.alice), 2500, 'the donation stays booked, nothing else moved')
    t.equal(balance(w, UID.bob), 2000)
    refusal(t, () => w.runs.export(run.id, 'ben'), 'payout_run_not_exportable', 'export of a cancelled run')
    refusal(t, () => w.runs.cancel(run.id, 'ben'), 'payout_run_not_cancellable', 'cancel twice')
    const [outcome] = w.ledger.applyBatch([verified(w.bar.sale(UID.bob, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
    t.equal(outcome!.kind === 'result' && outcome!.result.status, 'accepted', 'bob spends again')

    const next = w.runs.create({ operator: 'ben' })
    t.same(next.items.map((i) => [i.uid, i.amount, i.donation]), [[UID.alice, 2500, 0], [UID.bob, 1550, 0]], 'a new run: no second donation')
    t.equal(w.ledger.accountBalance(accountIds.donation('event')), 500)
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: who is left out: blocked, a balance of zero, an invalid IBAN, a country not accepted, no holder, no e-mail, in another open run`, async (t) => {
    const w = world(t, engine)
    w.ledger.registry.setWristbandBlocked(UID.blocked, false)
    for (const uid of [UID.alice, UID.bob, UID.blocked, CAROL, DAVE]) topup(w, uid, 1000)
    w.ledger.registry.setWristbandBlocked(UID.blocked, true)
    registerPayoutData(w, UID.blocked, {}) // blocked wristband
    registerPayoutData(w, ERIN, {}) // balance zero
    registerPayoutData(w, UID.alice, { iban: 'DE89370400440532013001' }) // checksum wrong
    registerPayoutData(w, UID.bob, { iban: IBAN_GB }) // country not accepted
    registerPayoutData(w, CAROL, { name: '' })
    registerPayoutData(w, DAVE, { email: 'not-an-address' })
    refusal(t, () => w.runs.create({ operator: 'anna' }), 'empty_payout_run', 'nobody eligible')
    t.same(w.runs.list(), [], 'no run was made')

    w.db.prepare(`UPDATE portal_customers SET iban = ? WHERE uid = ?`).run(IBAN_DE, UID.alice)
    const first = w.runs.create({ operator: 'anna' })
    t.same(first.items.map((i) => i.uid), [UID.alice])
    w.db.prepare(`UPDATE portal_customers SET email = 'dave@example.org' WHERE uid = ?`).run(DAVE)
    const second = w.runs.create({ operator: 'anna' })
    t.same(second.items.map((i) => i.uid), [DAVE], 'alice is in the open first run: not again')

    w.countries = null
    const third = w.runs.create({ operator: 'anna' })
    t.same(third.items.map((i) => i.uid), [UID.bob], 'with every country accepted, a valid GB IBAN is in')
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: limits: at most maxCount payouts and maxSum cents; hostile limits and operators refused`, async (t) => {
    const w = world(t, engine)
    const guests: Array<[string, number]> = [
      [UID.alice, 3000],
      [UID.bob, 2000],
      [CAROL, 1500],
      [DAVE, 500],
    ]
    for (const [uid, amount] of guests) {
      topup(w, uid, amount)
      registerPayoutData(w, uid, {})
    }
    const byCount = w.runs.create({ operator: 'anna', maxCount: 2 })
    t.same(byCount.items.map((i) => i.uid), [UID.alice, UID.bob])
    w.runs.cancel(byCount.id, 'anna')
    const bySum = w.runs.create({ operator: 'anna', maxSum: 4000 })
    t.ok(bySum.payoutSum <= 4000, 'within the sum')
    t.same(bySum.items.map((i) => i.uid), [UID.alice, DAVE], 'who does not fit is left for a later run')
    w.runs.cancel(bySum.id, 'anna')

    for (const bad of [0, -1, 1.5, Number.NaN, '10', Number.MAX_SAFE_INTEGER + 2])
      refusal(t, () => w.runs.create({ operator: 'anna', maxCount: bad as number }), 'invalid_payout_limits', `maxCount ${String(bad)}`)
    refusal(t, () => w.runs.create({ operator: 'anna', maxSum: -5 }), 'invalid_payout_limits', 'a negative maxSum')
    for (const bad of ['', ' anna', 'a'.repeat(65), 'anna\n', 42, undefined])
      refusal(t, () => w.runs.create({ operator: bad as string }), 'invalid_operator', `operator ${JSON.stringify(bad)}`)
    refusal(t, () => w.runs.approve(99, 'ben'), 'unknown_payout_run', 'an unknown run')
    refusal(t, () => w.runs.get(-1), 'unknown_payout_run', 'a negative id')
    refusal(t, () => w.runs.export(Number.NaN, 'ben'), 'unknown_payout_run', 'NaN')
    t.equal(w.runs.list().length, 2, 'refusals made no run')
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: donate all: the whole balance goes to the donation account and no payout is made`, async (t) => {
    const w = world(t, engine)
    topup(w, UID.alice, 1200)
    topup(w, UID.bob, 800)
    registerPayoutData(w, UID.alice, { iban: null, name: null, email: null, donateAll: true })
    registerPayoutData(w, UID.bob, {})
    const run = w.runs.create({ operator: 'anna' })
    t.same(run.items.map((i) => i.uid), [UID.bob])
    t.equal(run.donationSum, 1200)
    t.equal(balance(w, UID.alice), 0)
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: an offline sale that came in after create: export refuses and books nothing`, async (t) => {
    const w = twoGuests(t, engine)
    const run = w.runs.create({ operator: 'anna' })
    w.runs.approve(run.id, 'ben')
    const [outcome] = w.ledger.applyBatch([verified(w.bar.sale(UID.bob, [{ product: 'beer', qty: 1, unitPrice: 450 }], { offline: true }))])
    t.equal(outcome!.kind === 'result' && outcome!.result.status, 'accepted', 'offline, the goods are gone', { outcome })
    t.same(outcome!.kind === 'result' && outcome!.alerts?.map((a) => a.kind), ['offline_in_payout_run'])
    refusal(t, () => w.runs.export(run.id, 'ben'), 'payout_balance_changed', 'export')
    t.equal(balance(w, UID.alice), 2500, 'alice not paid either: all or nothing')
    t.equal(w.runs.get(run.id).state, 'approved')
    t.equal(w.ledger.accountBalance(payoutAccountId) ?? 0, 0)
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: the portal: in a run with its date, then the payouts as booked`, async (t) => {
    const w = twoGuests(t, engine)
    const reads = createPayoutReads(w.db)
    t.same(reads.payoutInfo(UID.alice), { inPayoutRun: false, payoutDateMs: null })
    const run = w.runs.create({ operator: 'anna' })
    t.same(reads.payoutInfo(UID.alice), { inPayoutRun: true, payoutDateMs: run.createdAt })
    t.same(reads.payoutTransactions(UID.alice), [], 'nothing paid yet')
    w.runs.approve(run.id, 'ben')
    w.clock.advance(5000)
    const { run: exported } = w.runs.export(run.id, 'ben')
    t.same(reads.payoutInfo(UID.alice), { inPayoutRun: true, payoutDateMs: exported.exportedAt })
    const [paid] = reads.payoutTransactions(UID.alice)
    t.match(paid, { amountCents: 2500, bookedAtMs: exported.exportedAt, accountName: 'Guest Name', endToEndId: exported.items[0]!.endToEndId })
    t.equal(paid!.receiptId, w.ledger.externalBooking(exported.items[0]!.payoutBooking!)!.receiptId)
    t.same(reads.payoutInfo(UID.stranger), { inPayoutRun: false, payoutDateMs: null })
    t.same(reads.payoutTransactions(42 as unknown as string), [], 'hostile uid')
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: a returned payout: found by its end-to-end id once exported; marking it invalidates the guest's payout data and logs it`, async (t) => {
    const w = twoGuests(t, engine)
    const returns = createPayoutReturns({ db: w.db, clock: w.clock })
    const run = w.runs.create({ operator: 'anna' })
    const e2e = run.items[1]!.endToEndId
    t.equal(returns.findPayoutByEndToEndId(e2e), undefined, 'not booked yet: nothing to return')
    w.runs.approve(run.id, 'ben')
    w.runs.export(run.id, 'ben')
    t.same(returns.findPayoutByEndToEndId(e2e), { uid: UID.bob, amountCents: 2000, account: payoutAccountId })
    for (const bad of ['', 'x'.repeat(36), 'WP R1', 42]) t.equal(returns.findPayoutByEndToEndId(bad as string), undefined, `hostile id ${JSON.stringify(bad)}`)
    returns.markPayoutReturned(e2e, { amountCents: 2000, checksum: 'abc' })
    t.match(w.db.prepare(`SELECT iban, has_entered_info FROM portal_customers WHERE uid = ?`).get(UID.bob), { iban: null, has_entered_info: 0 })
    t.same(w.runs.get(run.id).events.at(-1), { action: 'returned', operator: 'bank', at: w.clock.now(), detail: JSON.stringify({ endToEndId: e2e, uid: UID.bob, amountCents: 2000, checksum: 'abc' }) })
    t.throws(() => returns.markPayoutReturned('WP-R9-1-AAAAAAAA', { amountCents: 1, checksum: 'x' }), /no exported payout/)
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: money cannot leave a wristband in an open run by an external booking either, except by the run's own bookings`, async (t) => {
    const w = twoGuests(t, engine)
    const run = w.runs.create({ operator: 'anna' })
    const hold = w.ledger.ensureAccount('clearing', 'card-hold')
    const spend = (kind: 'card_payment' | 'refund', ref: string) => () =>
      w.ledger.bookExternal({ ref, kind, customerUid: UID.bob, postings: [{ account: accountIds.customer(UID.bob), amount: -100 }, { account: hold, amount: 100 }] })
    for (const kind of ['card_payment', 'refund'] as const) {
      try {
        spend(kind, `test:${kind}`)()
        t.fail(`${kind} booked`)
      } catch (err) {
        t.equal((err as LedgerRefusalError).code, 'in_payout_run', `${kind} refused`)
      }
    }
    topup(w, UID.bob, 500)
    t.equal(balance(w, UID.bob), 2500, 'money may still come onto it')
    w.runs.cancel(run.id, 'ben')
    t.equal(spend('card_payment', 'test:after-cancel')().status, 'booked', 'after cancel it spends again')
    t.same(w.ledger.checkInvariants(), [])
  })

  const ORGANISER = { holder: 'Test Fest e.V.', iban: 'DE02120300000000202051', bic: 'BYLADEM1001' }
  const renderFiles = (run: Parameters<typeof renderPayoutFiles>[0]) => renderPayoutFiles(run, { debtor: ORGANISER, eventName: 'Test Fest' })

  /** What the ledger holds, to compare before and after a refused export. */
  function ledgerState(w: World) {
    return {
      balances: [UID.alice, UID.bob, CAROL].map((uid) => balance(w, uid)),
      payout: w.ledger.accountBalance(payoutAccountId) ?? 0,
      bookings: w.db.prepare('SELECT COUNT(*) AS n FROM external_bookings').get(),
      postings: w.db.prepare('SELECT COUNT(*) AS n FROM postings').get(),
    }
  }

  t.test(`${engine.name}: create leaves out guests whose payout data the bank files cannot carry, and says why`, async (t) => {
    const w = twoGuests(t, engine)
    topup(w, CAROL, 1500)
    topup(w, DAVE, 900)
    // Both pass the portal's checks: a name in a script SEPA cannot spell, and one of 70 characters that becomes 72 once transliterated.
    registerPayoutData(w, CAROL, { name: '王小明', donation: 300 })
    registerPayoutData(w, DAVE, { name: 'Ä'.repeat(35) + ' ' + 'Ö'.repeat(34) })
    const run = w.runs.create({ operator: 'anna' })
    t.same(run.items.map((i) => i.uid), [UID.alice, UID.bob], 'the two left out')
    t.match(run.skipped, [
      { uid: CAROL, reason: /account holder name.*character SEPA does not allow \(U\+738B\)/ },
      { uid: DAVE, reason: /account holder name.*longer than 70/ },
    ])
    t.equal(run.skipped.length, 2)
    t.equal(balance(w, CAROL), 1500, 'nothing happens to a guest left out: no donation booked either')
    t.equal(run.donationSum, 500)
    t.match(JSON.parse(run.events[0]!.detail!), { skipped: [{ uid: CAROL }, { uid: DAVE }] }, 'the run keeps who was left out')
    const [sale] = w.ledger.applyBatch([verified(w.bar.sale(CAROL, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
    t.equal(sale!.kind === 'result' && sale!.result.status, 'accepted', 'a guest left out can still spend')

    // A guest whose data the portal would refuse now (the country is no longer accepted) is named too.
    w.runs.cancel(run.id, 'ben')
    w.countries = ['DE']
    const second = w.runs.create({ operator: 'anna' })
    t.same(second.items.map((i) => i.uid), [UID.alice])
    t.match(second.skipped, [{ uid: UID.bob, reason: /country is not accepted/ }, { uid: CAROL }, { uid: DAVE }])
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: export renders the files inside its transaction: a name that cannot be rendered books nothing, and the run stays approved`, async (t) => {
    const w = twoGuests(t, engine)
    topup(w, CAROL, 1500)
    registerPayoutData(w, CAROL, { name: 'Zoë 🎪' })
    // A run made without the creation check (as by a gateway before it): the name is frozen in the run.
    const unchecked = createPayoutRuns({ db: w.db, ledger: w.ledger, clock: w.clock, logger: silentLogger, allowedCountryCodes: () => w.countries, payeeProblem: () => null })
    const run = unchecked.create({ operator: 'anna' })
    t.same(run.items.map((i) => i.uid), [UID.alice, UID.bob, CAROL])
    w.runs.approve(run.id, 'ben')
    const before = ledgerState(w)
    try {
      w.runs.export(run.id, 'ben', renderFiles)
      t.fail('exported')
    } catch (err) {
      t.ok(err instanceof PayoutRunError)
      const refused = err as PayoutRunError
      t.equal(refused.code, 'payout_files_unrenderable')
      const carol = run.items.find((i) => i.uid === CAROL)!
      t.same(refused.payouts, [{ uid: CAROL, endToEndId: carol.endToEndId, reason: 'the account holder name: has a character SEPA does not allow (U+1F3AA)' }])
      t.match(refused.message, `wristband ${CAROL} (end-to-end id ${carol.endToEndId})`)
      t.match(refused.message, /nothing was booked/)
    }
    t.same(ledgerState(w), before, 'nothing booked: the ledger is as it was')
    const after = w.runs.get(run.id)
    t.equal(after.state, 'approved', 'the run stays approved')
    t.same(after.items.map((i) => i.payoutBooking), [null, null, null])
    t.match(after.events.at(-1), { action: 'refused', operator: 'ben', detail: /^export: the bank files cannot be written/ })

    // The way out: cancel, and a new run leaves the guest out and says why; it exports with its files.
    w.runs.cancel(run.id, 'ben')
    const next = w.runs.create({ operator: 'anna' })
    t.match(next.skipped, [{ uid: CAROL, reason: /U\+1F3AA/ }])
    w.runs.approve(next.id, 'ben')
    const exported = w.runs.export(next.id, 'ben', renderFiles)
    t.equal(exported.replay, false)
    t.same(Object.keys(exported.files ?? {}).sort(), [`payout-run-${next.id}.csv`, `payout-run-${next.id}.pain.001.001.03.xml`, `payout-run-${next.id}.pain.001.001.09.xml`])
    t.equal(w.ledger.accountBalance(payoutAccountId), 4500)
    w.clock.advance(3_600_000)
    const again = w.runs.export(next.id, 'anna', renderFiles)
    t.equal(again.replay, true)
    t.same(again.files, exported.files, 'a replay returns the same files')
    t.equal(w.ledger.accountBalance(payoutAccountId), 4500, 'and books nothing')
    t.equal(balance(w, CAROL), 1500)
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: an export whose renderer fails outside any payout (the organiser's account) books nothing and says what the renderer said`, async (t) => {
    const w = twoGuests(t, engine)
    const run = w.runs.create({ operator: 'anna' })
    w.runs.approve(run.id, 'ben')
    const before = ledgerState(w)
    const badAccount = (r: Parameters<typeof renderPayoutFiles>[0]) => renderPayoutFiles(r, { debtor: { ...ORGANISER, iban: 'DE00000000000000000000' }, eventName: 'Test Fest' })
    try {
      w.runs.export(run.id, 'ben', badAccount)
      t.fail('exported')
    } catch (err) {
      t.equal((err as PayoutRunError).code, 'payout_files_unrenderable')
      t.same((err as PayoutRunError).payouts, [], 'no payout is at fault')
      t.match((err as PayoutRunError).message, /debtor\.iban: is not a valid IBAN/)
    }
    t.same(ledgerState(w), before)
    t.equal(w.runs.get(run.id).state, 'approved')
    t.same(w.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: SEPA checks: a mismatch is left out with its reason, a check not answered is flagged (or left out with requireSepaCheck)`, async (t) => {
    const w = world(t, engine)
    topup(w, UID.alice, 3000)
    topup(w, UID.bob, 2000)
    topup(w, CAROL, 1000)
    topup(w, ERIN, 700)
    registerPayoutData(w, UID.alice, { name: 'Alice Wrong', donation: 500 })
    registerPayoutData(w, UID.bob, { iban: IBAN_AT, name: 'Bob B' })
    registerPayoutData(w, CAROL, { name: 'Carol C' })
    registerPayoutData(w, ERIN, { name: 'Erin E' })
    // Erin's data has no check yet (undefined): as good as queued.
    const states: Record<string, string | undefined> = { [UID.alice]: 'mismatch', [UID.bob]: 'pending', [CAROL]: 'matched' }
    const asked: Array<[string, string, string]> = []
    const runs = createPayoutRuns({
      db: w.db,
      ledger: w.ledger,
      clock: w.clock,
      logger: silentLogger,
      allowedCountryCodes: () => w.countries,
      sepaCheck: (uid, payee) => {
        asked.push([uid, payee.iban, payee.accountName])
        const state = states[uid]
        return state === undefined ? undefined : { state }
      },
    })

    const strict = runs.create({ operator: 'anna', requireSepaCheck: true })
    t.same(strict.skipped, [
      { uid: UID.alice, reason: 'the SEPA check found that the account holder name does not match the IBAN; the portal asks the guest to correct it' },
      { uid: UID.bob, reason: 'the SEPA check is not answered yet (pending) and this run requires one' },
      { uid: ERIN, reason: 'the SEPA check is not answered yet (queued) and this run requires one' },
    ])
    t.same(strict.items.map((i) => [i.uid, i.sepaCheck]), [[CAROL, 'matched']])
    t.same(asked[0], [UID.alice, IBAN_DE, 'Alice Wrong'], 'asked about the data the run would pay to')
    runs.cancel(strict.id, 'anna')
    t.equal(balance(w, UID.alice), 3000, "a guest left out donates nothing yet")

    const run = runs.create({ operator: 'anna' })
    t.same(run.items.map((i) => [i.uid, i.sepaCheck, i.amount]), [[UID.bob, 'pending', 2000], [CAROL, 'matched', 1000], [ERIN, 'queued', 700]])
    t.same(run.skipped.map((s) => s.uid), [UID.alice])
    t.same(runs.get(run.id).items.map((i) => i.sepaCheck), ['pending', 'matched', 'queued'], 'kept with the run')
    t.same(w.ledger.checkInvariants(), [])
    t.equal(w.ledger.sumOfAllBalances(), 0)
  })
}
