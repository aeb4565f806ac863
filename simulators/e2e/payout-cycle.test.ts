// A whole payout cycle on a real gateway (SQLite file, HTTP and MQTT on
// loopback), driven only through its APIs: guests enter their bank account or
// donate on the portal, operator A creates a run and may not approve it,
// operator B does, A exports it as pain.001.001.09; the simulated bank turns
// that into a CAMT.053 statement with a seeded share of returned transfers and
// one guest's bank top-up; the statement goes in through the bank import jobs
// API as `wristpay-gateway bank import` sends it, and then once more. After
// every step the ledger is balanced and every guest holds exactly what the
// inputs say they should.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { topics, type AlertEvent } from '../../device-protocol/index.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { slugOfEventName } from '../../gateway/apis.js'
import { accountIds } from '../../gateway/ledger/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { chooseReturns } from '../bank-sim/camt053.js'
import { parsePain001 } from '../bank-sim/pain001.js'
import { demoIban, portalLogin, registerPayoutData, runPayoutCycle, summarisePayoutCycle, type PayoutCycleStep, type PortalGuest } from '../demo/demo-payouts.js'
import { startLoopbackGateway } from './kiosk-harness.js'

const ADMIN_TOKEN = randomBytes(24).toString('base64url')
const ANNA = { name: 'anna', token: randomBytes(24).toString('base64url') }
const BEN = { name: 'ben', token: randomBytes(24).toString('base64url') }
const RETURN_SHARE = 0.4
const SEED = 11
const TOPUP_CENTS = 2_500

/** The guests: what they hold when the event ends and what they tell the portal. */
interface GuestPlan {
  uid: string
  pin: string
  balance: number
  payout?: { donationCents: number } | 'donate_all'
}
const uid = (n: number) => `04AA00000000${String(n).padStart(2, '0')}`
/** PINs avoid 0, 1, I and O. */
const pin = (n: number) => `GUESTPAY${'ABCDEFGHJ'[n - 1]}`
const GUESTS: GuestPlan[] = [
  { uid: uid(1), pin: pin(1), balance: 4_200, payout: { donationCents: 0 } },
  { uid: uid(2), pin: pin(2), balance: 3_150, payout: { donationCents: 550 } },
  { uid: uid(3), pin: pin(3), balance: 990, payout: { donationCents: 0 } },
  { uid: uid(4), pin: pin(4), balance: 12_075, payout: { donationCents: 75 } },
  { uid: uid(5), pin: pin(5), balance: 505, payout: { donationCents: 0 } },
  { uid: uid(6), pin: pin(6), balance: 1_800, payout: 'donate_all' },
  // Registered, but nothing left to pay: in no run.
  { uid: uid(7), pin: pin(7), balance: 0, payout: { donationCents: 0 } },
  // No payout data: one tops up by bank transfer, one does nothing at all.
  { uid: uid(8), pin: pin(8), balance: 1_000 },
  { uid: uid(9), pin: pin(9), balance: 700 },
]
const TOPUP_GUEST = GUESTS[7]!
const donationOf = (g: GuestPlan) => (g.payout === undefined ? 0 : g.payout === 'donate_all' ? g.balance : Math.min(g.payout.donationCents, g.balance))
/** Guests the run pays: payout data and money left after their donation. */
const PAID = GUESTS.filter((g) => g.payout !== undefined && g.balance - donationOf(g) > 0)
const payoutOf = (g: GuestPlan) => g.balance - donationOf(g)

t.test('a payout run from the portal to the bank statement and back, balanced after every step', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-payout-cycle-'))
  const setup: EventSetup = {
    event: { name: 'Payout Cycle Fest', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [{ id: 'bar-1', booth: 'bar', token: randomBytes(24).toString('base64url'), saleAllowed: true, topupAllowed: false }],
    wristbands: GUESTS.map((g) => ({ uid: g.uid, pin: g.pin })),
    portal: { bankAccount: { holder: 'Payout Cycle Fest e.V.', iban: 'DE02120300000000202051', bic: 'BYLADEM1001' } },
  }
  const gateway = await startLoopbackGateway({ dir, setup, logger: pino({ level: 'silent' }), config: { adminToken: ADMIN_TOKEN, operators: [ANNA, BEN] } })
  const base = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const operator = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, { username: `operator:${BEN.name}`, password: BEN.token, reconnectPeriod: 0 })
  const alerts: AlertEvent[] = []
  operator.on('message', (topic, payload) => {
    if (topic === topics.event('alert')) alerts.push(JSON.parse(payload.toString()) as AlertEvent)
  })
  await operator.subscribeAsync([topics.event('alert')], { qos: 1 })
  t.teardown(async () => {
    await operator.endAsync(true)
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const ledger = gateway.ledger

  // The balances the guests end the event with (booked as the payout tests book them), then what each should hold.
  const expected = new Map<string, number>()
  for (const g of GUESTS) {
    if (g.balance > 0)
      ledger.bookExternal({ ref: `test:${g.uid}`, kind: 'topup_online', postings: [{ account: ledger.ensureAccount('clearing', 'test'), amount: -g.balance }, { account: accountIds.customer(g.uid), amount: g.balance }] })
    expected.set(g.uid, g.balance)
  }
  const expectedAccounts = { payout: 0, donation: 0, bank: 0 }
  const checkLedger = (step: string) => {
    t.same(ledger.checkInvariants(), [], `${step}: every booking balanced, every balance the sum of its postings`)
    t.equal(ledger.sumOfAllBalances(), 0, `${step}: the balances sum to zero`)
    for (const g of GUESTS) t.equal(ledger.balanceOf(g.uid) ?? 0, expected.get(g.uid), `${step}: ${g.uid} holds what they should`)
    t.equal(ledger.accountBalance(accountIds.payout('sepa')) ?? 0, expectedAccounts.payout, `${step}: money on its way to the guests' banks`)
    t.equal(ledger.accountBalance(accountIds.donation('event')) ?? 0, expectedAccounts.donation, `${step}: donations`)
    t.equal(ledger.accountBalance('clearing:bank') ?? 0, expectedAccounts.bank, `${step}: bank top-ups`)
  }
  checkLedger('before')

  // The guests on the portal, as its page does it.
  const portal = new Map<string, PortalGuest>()
  for (const [i, g] of GUESTS.entries()) {
    if (g.payout === undefined && g !== TOPUP_GUEST) continue
    const guest = await portalLogin(base, g.pin)
    t.equal(guest.uid, g.uid)
    portal.set(g.uid, guest)
    if (g.payout === 'donate_all') await registerPayoutData(guest, 'donate_all')
    else if (g.payout !== undefined) await registerPayoutData(guest, { iban: demoIban(1_000 + i), accountName: `Guest ${i + 1}`, email: `guest${i + 1}@example.org`, donationCents: g.payout.donationCents })
  }
  checkLedger('payout data registered')

  let returnedUids: string[] = []
  const cycle = await runPayoutCycle({
    baseUrl: base,
    adminToken: ADMIN_TOKEN,
    creator: ANNA,
    approver: BEN,
    organizer: slugOfEventName(setup.event.name),
    dir,
    returnShare: RETURN_SHARE,
    seed: SEED,
    topups: [{ guest: portal.get(TOPUP_GUEST.uid)!, amountCents: TOPUP_CENTS, payer: 'Topup Guest', iban: demoIban(9_999) }],
    afterStep: async (step: PayoutCycleStep, c) => {
      switch (step) {
        case 'created': {
          // Donations are booked with the run; nothing else is.
          for (const g of GUESTS) expected.set(g.uid, g.balance - donationOf(g))
          expectedAccounts.donation = GUESTS.reduce((sum, g) => sum + donationOf(g), 0)
          t.same(c.created!.items.map((i) => i.uid).sort(), PAID.map((g) => g.uid).sort(), 'the run holds every guest with valid payout data and money left')
          t.same(Object.fromEntries(c.created!.items.map((i) => [i.uid, i.amount])), Object.fromEntries(PAID.map((g) => [g.uid, payoutOf(g)])))
          t.equal(c.created!.payoutSum, PAID.reduce((sum, g) => sum + payoutOf(g), 0))
          t.equal(c.created!.donationSum, expectedAccounts.donation)
          t.match((await portal.get(PAID[0]!.uid)!.get('/payout_info')).body, { in_payout_run: true })
          break
        }
        case 'creator_refused':
          t.match(c.creatorApproval, { status: 403, body: { type: 'approver_is_creator' } }, "anna may not approve her own run")
          break
        case 'approved':
          t.match(c.approved, { state: 'approved', createdBy: 'anna', approvedBy: 'ben' })
          break
        case 'exported':
          for (const g of PAID) expected.set(g.uid, 0)
          expectedAccounts.payout = c.exported!.payoutSum
          t.equal(c.exported!.state, 'exported')
          t.match(readFileSync(c.painPath!, 'utf8'), /urn:iso:std:iso:20022:tech:xsd:pain\.001\.001\.09/)
          break
        case 'imported': {
          // Which transfers came back follows from the seed alone: the test picks them itself.
          const order = parsePain001(readFileSync(c.painPath!, 'utf8'))
          const returns = [...chooseReturns(order.transfers, RETURN_SHARE, SEED).keys()]
          t.same(c.statement!.returned.map((r) => r.endToEndId), returns)
          const byE2e = new Map(c.exported!.items.map((i) => [i.endToEndId, i]))
          returnedUids = returns.map((e2e) => byE2e.get(e2e)!.uid)
          t.equal(returnedUids.length, Math.round(RETURN_SHARE * PAID.length))
          t.ok(returnedUids.length > 0 && returnedUids.length < PAID.length, 'some payouts came back, some did not')
          for (const returned of returnedUids) expected.set(returned, payoutOf(GUESTS.find((g) => g.uid === returned)!))
          expectedAccounts.payout -= returnedUids.reduce((sum, u) => sum + expected.get(u)!, 0)
          expected.set(TOPUP_GUEST.uid, TOPUP_GUEST.balance + TOPUP_CENTS)
          expectedAccounts.bank = -TOPUP_CENTS
          break
        }
        case 'reimported':
          break
      }
      checkLedger(step)
    },
  })

  // What the import decided: the debits are our payouts leaving (nothing booked), returns and the top-up are booked.
  const job = cycle.job
  const states = job.transactions.map((tx) => tx.state)
  t.equal(states.length, PAID.length + returnedUids.length + 1, 'a debit per payout, a credit per return, the top-up')
  const debits = job.transactions.filter((tx) => tx.amount.startsWith('-'))
  t.equal(debits.length, PAID.length)
  t.same(
    debits.map((tx) => [tx.state, tx.order]).sort(),
    cycle.exported!.items.map((i) => ['valid', i.endToEndId]).sort(),
    'each debit is confirmed as the payout it names',
  )
  t.same(
    job.transactions.filter((tx) => tx.state === 'valid' && !tx.amount.startsWith('-')).map((tx) => tx.order).sort(),
    [...cycle.statement.returned.map((r) => r.endToEndId), cycle.topupReferences[TOPUP_GUEST.uid]!.replace(/\s+/g, '')].sort(),
    'each return names its payout, the top-up its wristband',
  )
  t.equal(states.filter((s) => s === 'nomatch').length, 0, 'nothing is left for the finance team to explain')
  t.ok(job.transactions.filter((tx) => tx.state === 'valid').every((tx) => tx.payer === '' && tx.reference === ''), 'payer and reference forgotten once matched')
  t.same(
    cycle.reimport.transactions.map((tx) => tx.state),
    states.map(() => 'already'),
    'the same statement again: every transaction already seen, nothing booked',
  )

  // The operators heard of each returned payout.
  await waitUntil(() => alerts.filter((a) => a.kind === 'payout_returned').length >= returnedUids.length, 'payout_returned alerts', 5_000, 10)
  const returnAlerts = alerts.filter((a) => a.kind === 'payout_returned')
  t.equal(returnAlerts.length, returnedUids.length, 'one alert per returned payout, none on the re-import')
  for (const u of returnedUids) t.ok(returnAlerts.some((a) => a.message.includes(u)), `the alert names ${u}`)

  // A paid guest and a guest whose payout came back, as the portal shows them.
  const paid = PAID.find((g) => !returnedUids.includes(g.uid))!
  const paidGuest = portal.get(paid.uid)!
  t.same((await paidGuest.get('/payout_info')).body, { in_payout_run: true, payout_date: new Date(cycle.exported.exportedAt!).toISOString() })
  t.match((await paidGuest.get('/get_payout_transactions')).body, [{ amount: payoutOf(paid) / 100, target_account_type: 'sepa', booked_at: new Date(cycle.exported.exportedAt!).toISOString() }])
  t.match((await paidGuest.get('/customer')).body, { balance: 0, has_entered_info: true })
  const returned = GUESTS.find((g) => g.uid === returnedUids[0])!
  const returnedGuest = portal.get(returned.uid)!
  t.match((await returnedGuest.get('/customer')).body, { balance: payoutOf(returned) / 100, iban: null, has_entered_info: false }, 'the money is back and the payout data marked invalid')
  t.same((await returnedGuest.get('/payout_info')).body, { in_payout_run: false, payout_date: null }, 'no longer in a run: the portal asks for new data')
  t.same((await returnedGuest.get('/get_payout_transactions')).body, [], 'no payout reached the guest')
  t.match((await portal.get(TOPUP_GUEST.uid)!.get('/customer')).body, { balance: (TOPUP_GUEST.balance + TOPUP_CENTS) / 100 })

  // The summary the demo prints of it.
  const summary = summarisePayoutCycle(cycle, true)
  t.match(summary.payoutRun, { count: PAID.length, sumCents: PAID.reduce((sum, g) => sum + payoutOf(g), 0), donationsCents: expectedAccounts.donation, createdBy: 'anna', approvedBy: 'ben', creatorApprovalRefused: true, exported: true })
  t.same(
    { ...summary.bankRoundTrip, states: undefined },
    {
      payouts: PAID.length,
      payoutsConfirmed: PAID.length,
      returned: returnedUids.length,
      returnedCents: returnedUids.reduce((sum, u) => sum + payoutOf(GUESTS.find((g) => g.uid === u)!), 0),
      topups: 1,
      topupCents: TOPUP_CENTS,
      entries: states.length,
      states: undefined,
      reimportAlready: states.length,
      reimportBooked: 0,
      ledgerBalanced: true,
    },
  )
})
