// Claims a kiosk signs that the gateway checks itself (issue 9, points 2, 3
// and 10): a kiosk's key proves who sent a transaction, not that it is
// allowed. Offline caps are counted by the gateway from its own bookings;
// deposits paid back never exceed those taken; `at` must be near the
// gateway's clock. Each refusal is named, recorded, books nothing and alerts.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { DEFAULT_OFFLINE_CAP_WINDOW_MS, envelopeHash, type AlertEvent, type ReplyMessage } from '../../device-protocol/index.js'
import { DEFAULT_TRANSACTION_TIME, EventSetupError, parseEventSetup, type EventSetup } from '../event-setup.js'
import { createIngest } from '../ingest.js'
import { openLedgerDatabase } from './db.js'
import { createLedger } from './ledger.js'
import {
  L,
  OPS_UID,
  STAFF,
  StaffedKiosk,
  applyOne,
  bookChecked as book,
  fund,
  line,
  opsSetup,
  opsWorld as world,
  type Answer,
  type OpsWorld,
} from './testing/operations-fixtures.js'
import { fixedClock, silentLogger } from './testing/test-helpers.js'
import { accountIds } from './types.js'

/** The caps of the issue: 2,000 cents per wristband, 20,000 per kiosk. */
const issueCaps = (s: EventSetup) => void (s.offline = { allowed: true, perTagCapCents: 2_000, kioskTotalCapCents: 20_000 })

const alertKinds = (a: Answer) => (a.alerts ?? []).map((x) => x.kind)

/** Everything money-related that a refused transaction must leave as it was. */
function moneyState(w: OpsWorld) {
  const stats = w.ledger.stats()
  return { balancesByKind: stats.balancesByKind, revenueByBooth: stats.revenueByBooth, depositsByBooth: stats.depositsByBooth, openDebts: stats.openDebts, debts: w.ledger.debts().length, accepted: stats.accepted }
}

t.test('offline caps: the hostile sale at size (2,000,000 cents offline on 56,410 with caps 2,000/20,000) is refused', async (t) => {
  const w = world(t, issueCaps)
  fund(w, OPS_UID.alice, 56_410)
  const before = moneyState(w)
  // Validly signed by the bar's key, marked offline, a free-price line of 2,000,000 cents.
  const hostile = w.kiosks.bar.cart(OPS_UID.alice, [line('tip', 1, 2_000_000)], { offline: true })
  const a = book(t, w, hostile)
  t.match(a, { status: 'rejected', reason: 'offline_limit_exceeded', balance: 56_410, recorded: true, booked: false })
  t.equal(a.debt, undefined)
  t.same(alertKinds(a), ['offline_limit_exceeded'], 'an operator is alerted')
  t.match(a.alerts?.[0]?.message, new RegExp(`${hostile.tx.id}.*2000000 cents at bar-1 on wristband ${OPS_UID.alice}.*per-wristband cap of 2000`))
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 56_410, 'balance unchanged')
  t.same(w.ledger.debts(), [], 'no debt')
  t.same(moneyState(w), before, 'nothing booked anywhere')
  t.same(w.ledger.transaction(hostile.tx.id)?.postings, [])
  // Recorded like every refusal: the kiosk's chain goes on after it.
  t.same(w.ledger.kioskCursor('bar-1'), { nextSeq: hostile.tx.seq + 1, lastHash: envelopeHash(hostile) })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer()])), { status: 'accepted', balance: 55_960 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('through ingest, the refusals reach the kiosk and the operators', async (t) => {
  const w = world(t, issueCaps)
  fund(w, OPS_UID.alice, 56_410)
  const replies: ReplyMessage[] = []
  const alerts: AlertEvent[] = []
  const ingest = createIngest({
    ledger: w.ledger,
    logger: silentLogger,
    clock: w.clock,
    publishReply: (_kiosk, message) => void replies.push(message),
    publishEvent: (kind, payload) => void (kind === 'alert' && alerts.push(payload as AlertEvent)),
  })
  const send = (envelope: ReturnType<typeof w.kiosks.bar.cart>) => ingest.submit('bar-1', Buffer.from(JSON.stringify(envelope)))
  send(w.kiosks.bar.cart(OPS_UID.alice, [line('tip', 1, 2_000_000)], { offline: true }))
  send(w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-1_000)]))
  send(w.kiosks.bar.cart(OPS_UID.alice, [L.beer()], { at: Date.UTC(2100, 0, 1) }))
  await ingest.drain()
  t.match(replies, [
    { kind: 'result', status: 'rejected', reason: 'offline_limit_exceeded', balance: 56_410 },
    { kind: 'result', status: 'rejected', reason: 'return_qty_exceeded' },
    { kind: 'result', status: 'rejected', reason: 'timestamp_in_future' },
  ])
  t.same(
    alerts.map((a) => [a.kind, a.kiosk]),
    [
      ['offline_limit_exceeded', 'bar-1'],
      ['return_qty_exceeded', 'bar-1'],
      ['timestamp_in_future', 'bar-1'],
    ],
  )
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 56_410)
  t.equal(w.ledger.balanceOf(OPS_UID.bob), 0)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('offline caps are counted by the gateway per wristband and per kiosk, from its own bookings', async (t) => {
  const w = world(t, (s) => void (s.offline = { allowed: true, perTagCapCents: 2_000, kioskTotalCapCents: 3_000 }))
  const { bar, food } = w.kiosks
  // Bob has nothing on his wristband: every one of these needs the offline trust (a debt).
  t.match(book(t, w, bar.cart(OPS_UID.bob, [line('tip', 1, 1_500)], { offline: true })), { status: 'accepted', balance: -1_500, debt: true })
  t.match(book(t, w, bar.cart(OPS_UID.bob, [line('tip', 1, 500)], { offline: true })), { status: 'accepted', balance: -2_000, debt: true }, 'exactly at the per-wristband cap')
  const over = book(t, w, bar.cart(OPS_UID.bob, [line('tip', 1, 1)], { offline: true }))
  t.match(over, { status: 'rejected', reason: 'offline_limit_exceeded', balance: -2_000 })
  t.same(alertKinds(over), ['offline_limit_exceeded'])
  // Another wristband at the same kiosk: its own cap, but the kiosk's 3,000 in total binds.
  t.match(book(t, w, bar.cart(OPS_UID.alice, [line('tip', 1, 1_000)], { offline: true })), { status: 'accepted', balance: -1_000, debt: true })
  const kioskOver = book(t, w, bar.cart(OPS_UID.alice, [line('tip', 1, 1)], { offline: true }))
  t.match(kioskOver, { status: 'rejected', reason: 'offline_limit_exceeded' })
  t.match(kioskOver.alerts?.[0]?.message, /kiosk cap of 3000 cents \(3000 booked offline/)
  // The caps are per kiosk: the food stand has its own.
  t.match(book(t, w, food.cart(OPS_UID.bob, [line('fries', 1, 350)], { offline: true })), { status: 'accepted', balance: -2_350, debt: true })
  // Returns are not capped (the kiosk does not cap them either).
  fund(w, OPS_UID.crew, 2_000)
  t.match(applyOne(w.ledger, bar.cart(OPS_UID.crew, [L.cup(2)])), { status: 'accepted' })
  t.match(book(t, w, bar.cart(OPS_UID.bob, [L.cup(-2)], { offline: true })), { status: 'accepted', balance: -1_950 })
  t.same(w.ledger.stats().openDebts, { count: 2, cents: 1_950 + 1_000 })
  t.same(w.ledger.checkInvariants(), [])

  // The window runs on the gateway's clock: an hour later (the default) the kiosk may sell offline again.
  w.clock.advance(DEFAULT_OFFLINE_CAP_WINDOW_MS)
  const now = { at: w.clock.now() }
  t.match(book(t, w, bar.cart(OPS_UID.bob, [line('tip', 1, 2_000)], { offline: true, ...now })), { status: 'accepted', balance: -3_950, debt: true })
  t.match(book(t, w, bar.cart(OPS_UID.bob, [line('tip', 1, 1)], { offline: true, ...now })), { status: 'rejected', reason: 'offline_limit_exceeded' })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('beyond the caps an offline sale gets nothing from its claim: booked as online only where online would book it', async (t) => {
  const w = world(t, (s) => void (s.offline = { allowed: true, perTagCapCents: 500, kioskTotalCapCents: 5_000, capWindowMs: 600_000 }))
  fund(w, OPS_UID.alice, 5_000)
  // Alice can pay: the claim changes nothing, so it books as any online sale would, and an operator hears of the claim.
  const covered = book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer(2)], { offline: true }))
  t.match(covered, { status: 'accepted', balance: 4_100 })
  t.equal(covered.debt, undefined)
  t.same(alertKinds(covered), ['offline_limit_exceeded'])
  t.match(covered.alerts?.[0]?.message, /booked as an online sale would be/)
  // A blocked wristband beyond the caps: refused as online, named after the claim.
  const blocked = book(t, w, w.kiosks.bar.cart(OPS_UID.blocked, [L.beer(2)], { offline: true }))
  t.match(blocked, { status: 'rejected', reason: 'offline_limit_exceeded' })
  t.match(blocked.alerts?.[0]?.message, /refused \(tag_blocked online\)/)
  // The configured window (10 minutes) counts, not the default hour.
  w.clock.advance(600_000)
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.beer()], { offline: true, at: w.clock.now() })), { status: 'accepted', balance: -450, debt: true })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('an offline claim where the event allows none is never honoured', async (t) => {
  const w = world(t, (s) => void (s.offline = { allowed: false, perTagCapCents: 5_000, kioskTotalCapCents: 50_000 }))
  const a = book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.beer()], { offline: true }))
  t.match(a, { status: 'rejected', reason: 'offline_not_allowed', balance: 0 })
  t.same(alertKinds(a), ['offline_not_allowed'])
  t.same(w.ledger.debts(), [])
  t.equal(w.ledger.balanceOf(OPS_UID.bob), 0)
  // A reload that allows offline sales applies to the next transaction at once.
  const allowing = structuredClone(w.setup)
  allowing.offline = { allowed: true, perTagCapCents: 5_000, kioskTotalCapCents: 50_000 }
  w.ledger.registry.importEventSetup(allowing)
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.beer()], { offline: true })), { status: 'accepted', debt: true })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('offline counts survive a restart: they are read from the booked transactions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-offline-caps-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.db')
  const clock = fixedClock()
  const bar = new StaffedKiosk('bar-1', STAFF.cashier)
  const setup = opsSetup({ 'bar-1': bar.keys })
  issueCaps(setup)
  const first = openLedgerDatabase(path)
  const ledger = createLedger({ db: first, clock, logger: silentLogger })
  ledger.registry.importEventSetup(setup)
  t.match(applyOne(ledger, bar.cart(OPS_UID.bob, [line('tip', 1, 2_000)], { offline: true })), { status: 'accepted', balance: -2_000, debt: true })
  first.close()

  const db = openLedgerDatabase(path)
  t.teardown(() => db.close())
  const restarted = createLedger({ db, clock, logger: silentLogger })
  const a = applyOne(restarted, bar.cart(OPS_UID.bob, [L.water()], { offline: true }))
  t.match(a, { status: 'rejected', reason: 'offline_limit_exceeded', balance: -2_000 })
  t.equal(restarted.balanceOf(OPS_UID.bob), -2_000)
  t.same(restarted.checkInvariants(), [])
})

t.test('a ledger made before offline counting counts the offline sales it already holds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-offline-upgrade-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.db')
  const clock = fixedClock()
  const bar = new StaffedKiosk('bar-1', STAFF.cashier)
  const setup = opsSetup({ 'bar-1': bar.keys })
  issueCaps(setup)
  const old = openLedgerDatabase(path)
  const ledger = createLedger({ db: old, clock, logger: silentLogger })
  ledger.registry.importEventSetup(setup)
  t.match(applyOne(ledger, bar.cart(OPS_UID.bob, [line('tip', 1, 1_800)], { offline: true })), { status: 'accepted', debt: true })
  // As the database was before: no offline column, no index.
  old.exec(`DROP INDEX offline_sales_by_kiosk`)
  old.exec(`ALTER TABLE transactions DROP COLUMN offline`)
  // Such a database says schema version 2 (the column was added in place then); gateway/migrations.ts adopts it.
  old.exec(`UPDATE meta SET value = '2' WHERE key = 'schema_version'`)
  old.close()

  const db = openLedgerDatabase(path)
  t.teardown(() => db.close())
  const upgraded = createLedger({ db, clock, logger: silentLogger })
  t.match(applyOne(upgraded, bar.cart(OPS_UID.bob, [L.beer()], { offline: true })), { status: 'rejected', reason: 'offline_limit_exceeded' }, '1,800 + 450 > 2,000')
  t.match(applyOne(upgraded, bar.cart(OPS_UID.bob, [L.water()], { offline: true })), { status: 'accepted', balance: -2_000, debt: true }, '1,800 + 200 = 2,000')
  t.same(upgraded.checkInvariants(), [])
})

t.test('deposits: the hostile return at size (1,000 cups never bought) is refused', async (t) => {
  const w = world(t)
  const before = moneyState(w)
  const hostile = w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-1_000)])
  t.equal(hostile.tx.amount, 200_000)
  const a = book(t, w, hostile)
  t.match(a, { status: 'rejected', reason: 'return_qty_exceeded', recorded: true, booked: false })
  t.same(alertKinds(a), ['return_qty_exceeded'])
  t.match(a.alerts?.[0]?.message, /brings back 1000 of 'cup'; one return may bring at most 50/)
  t.equal(w.ledger.balanceOf(OPS_UID.bob), 0)
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 0)
  t.same(moneyState(w), before, 'nothing booked')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('deposits: with a per-return maximum of 1,000 the same return is refused for the cups never handed out', async (t) => {
  const w = world(t, (s) => void s.products.forEach((p) => p.id === 'cup' && (p.maxReturnQty = 1_000)))
  fund(w, OPS_UID.alice, 1_000)
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.alice, [L.cup(3)])), { status: 'accepted' })
  const before = moneyState(w)
  const a = book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-1_000)]))
  t.match(a, { status: 'rejected', reason: 'deposit_not_handed_out' })
  t.same(alertKinds(a), ['deposit_not_handed_out'])
  t.match(a.alerts?.[0]?.message, /pays back 200000 cents of deposits; the event holds only 600/)
  t.same(moneyState(w), before)
  // Exactly what was handed out comes back; one more does not.
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-3)])), { status: 'accepted', balance: 600 })
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 0)
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-1)])), { status: 'rejected', reason: 'deposit_not_handed_out' })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.water(), L.cup(-1)])), { status: 'rejected', reason: 'deposit_not_handed_out' }, 'a cup paying for a water is a return too')
  t.equal(w.ledger.balanceOf(OPS_UID.bob), 600)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('deposits: the per-product maximum counts every line of the product', async (t) => {
  const w = world(t, (s) => void s.products.forEach((p) => p.id === 'cup' && (p.maxReturnQty = 3)))
  fund(w, OPS_UID.alice, 5_000)
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.alice, [L.cup(10)])), { status: 'accepted' })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-2), L.cup(-2)])), { status: 'rejected', reason: 'return_qty_exceeded' })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-3)])), { status: 'accepted', balance: 600 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('deposits: a cup goes back at any booth, drawn from the booths that hold deposits, none below zero', async (t) => {
  // The food stand takes the same cups.
  const w = world(t, (s) => void s.products.push({ id: 'cup', name: 'Cup deposit', price: 200, booth: 'food', kind: 'deposit' }))
  fund(w, OPS_UID.alice, 2_000)
  const sale = w.kiosks.bar.cart(OPS_UID.alice, [L.beer(), L.cup(2)])
  t.match(applyOne(w.ledger, sale), { status: 'accepted', balance: 1_150 })
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 400)
  const ret = w.kiosks.food.cart(OPS_UID.bob, [L.cup(-1)])
  t.match(book(t, w, ret), { status: 'accepted', balance: 200 })
  t.same(
    w.ledger.transaction(ret.tx.id)?.postings.map((p) => ({ ...p })).sort((a, b) => a.account.localeCompare(b.account)),
    [
      { account: accountIds.customer(OPS_UID.bob), amount: 200 },
      { account: accountIds.deposit('bar'), amount: -200 },
    ],
    'the food stand holds no deposits: the bar, which does, pays it back',
  )
  t.equal(w.ledger.accountBalance(accountIds.deposit('food')), 0)
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 200)
  // The bar cannot cancel a sale whose cup came back already: that would pay the deposit twice.
  const cancel = book(t, w, w.kiosks.bar.next({ type: 'cancel', uid: OPS_UID.alice, amount: sale.tx.amount }, { ref: sale.tx.id }))
  t.match(cancel, { status: 'rejected', reason: 'deposit_not_handed_out' })
  t.same(alertKinds(cancel), ['deposit_not_handed_out'])
  t.match(book(t, w, w.kiosks.food.cart(OPS_UID.bob, [L.cup(-1)])), { status: 'accepted', balance: 400 })
  t.match(book(t, w, w.kiosks.food.cart(OPS_UID.bob, [L.cup(-1)])), { status: 'rejected', reason: 'deposit_not_handed_out' }, 'two cups went out, two came back')
  for (const booth of ['bar', 'food', 'cashdesk']) t.equal(w.ledger.accountBalance(accountIds.deposit(booth)), 0, `deposit:${booth} at zero, not below`)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('checkInvariants reports a deposit account below zero', async (t) => {
  const w = world(t)
  t.same(w.ledger.checkInvariants(), [])
  w.db.prepare(`UPDATE accounts SET balance = -200 WHERE id = ?`).run(accountIds.deposit('bar'))
  t.ok(w.ledger.checkInvariants().includes('deposit account deposit:bar is negative (-200): more deposits paid back than taken'))
})

t.test('maxReturnQty belongs to deposits only', async (t) => {
  const setup = opsSetup()
  setup.products.find((p) => p.id === 'beer')!.maxReturnQty = 5
  t.throws(() => parseEventSetup(setup), new EventSetupError('invalid event set-up: /products/0 maxReturnQty is for deposits only'))
  const ok = opsSetup()
  ok.products.find((p) => p.id === 'cup')!.maxReturnQty = 5
  t.doesNotThrow(() => parseEventSetup(ok))
  const zero = opsSetup()
  zero.products.find((p) => p.id === 'cup')!.maxReturnQty = 0
  t.throws(() => parseEventSetup(zero), EventSetupError)
})

t.test('time: a transaction stamped in the year 2100 is refused, recorded, alerted; its resend gets the same answer', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 1_000)
  const before = moneyState(w)
  const future = w.kiosks.bar.cart(OPS_UID.alice, [L.beer()], { at: Date.UTC(2100, 0, 1) })
  const a = book(t, w, future)
  t.match(a, { status: 'rejected', reason: 'timestamp_in_future', recorded: true, booked: false })
  t.same(alertKinds(a), ['timestamp_in_future'])
  t.match(a.alerts?.[0]?.message, new RegExp(`sale ${future.tx.id} \\(seq ${future.tx.seq}\\) of bar-1 is stamped \\d+ ms ahead`))
  t.same(moneyState(w), before)
  t.same(w.ledger.kioskCursor('bar-1'), { nextSeq: future.tx.seq + 1, lastHash: envelopeHash(future) }, 'the chain goes on after it, as after any refusal')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer()])), { status: 'accepted', balance: 550 })
  // Any integer is a schema-valid `at`: the largest one is refused, never thrown on.
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer()], { at: Number.MAX_SAFE_INTEGER })), { status: 'rejected', reason: 'timestamp_in_future' })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('time: the default limits, and an old offline sale is still booked', async (t) => {
  const w = world(t)
  const { maxAheadMs, maxBehindMs } = DEFAULT_TRANSACTION_TIME
  t.same({ maxAheadMs, maxBehindMs }, { maxAheadMs: 300_000, maxBehindMs: 259_200_000 })
  fund(w, OPS_UID.alice, 5_000)
  const now = w.clock.now()
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: now + maxAheadMs })), { status: 'accepted' }, 'a clock 5 minutes fast')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: now + maxAheadMs + 1 })), { status: 'rejected', reason: 'timestamp_in_future' })
  // A sale made offline two days ago, sent when the kiosk got through again.
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.water()], { offline: true, at: now - 48 * 3_600_000 })), { status: 'accepted', balance: -200, debt: true })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: now - maxBehindMs })), { status: 'accepted' })
  const old = book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: now - maxBehindMs - 1 }))
  t.match(old, { status: 'rejected', reason: 'timestamp_too_old' })
  t.same(alertKinds(old), ['timestamp_too_old'])
  t.same(w.ledger.checkInvariants(), [])
})

t.test('time: the limits come from the set-up, and an already booked transaction keeps its first answer', async (t) => {
  const w = world(t, (s) => void (s.transactionTime = { maxAheadMs: 1_000, maxBehindMs: 60_000 }))
  fund(w, OPS_UID.alice, 5_000)
  const now = w.clock.now()
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: now + 1_001 })), { status: 'rejected', reason: 'timestamp_in_future' })
  const booked = w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: now - 60_000 })
  t.match(applyOne(w.ledger, booked), { status: 'accepted', balance: 4_800 })
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: now - 60_001 })), { status: 'rejected', reason: 'timestamp_too_old' })
  // Hours later its stamp is far too old, but a resend is answered from the record, as first answered.
  w.clock.advance(5 * 3_600_000)
  const again = applyOne(w.ledger, booked)
  t.match(again, { status: 'accepted', balance: 4_800, replay: true, recorded: false })
  t.equal(again.alerts, undefined)
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 4_800)
  // Without transactionTime in the set-up the defaults hold again.
  const setup = structuredClone(w.setup)
  delete setup.transactionTime
  w.ledger.registry.importEventSetup(setup)
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.alice, [L.water()], { at: w.clock.now() - 3_600_000 })), { status: 'accepted', balance: 4_600 })
  t.same(w.ledger.checkInvariants(), [])
})
