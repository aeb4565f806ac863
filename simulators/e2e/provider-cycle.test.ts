// The card side of an event on a real gateway (SQLite file, HTTP and MQTT on
// loopback) whose `stancer` provider is the payments provider simulator over
// real HTTP, its webhooks sent to the gateway: guests top up on the portal and
// pay on the provider's hosted page, buy at two real kiosk daemons, ask for
// refunds to the card (the card's bank refuses one: the money is back, with the
// reason), one payment is disputed (refused at every kiosk, what the balance
// covers booked off, the rest an open debt), the provider pays out and the
// payouts are reconciled, twice; then the dispute is lost, taken from the next
// payout and reconciled; a late top-up is left for the next payout. After
// every step the ledger is balanced, every guest holds what the inputs say,
// clearing:stancer holds exactly what the provider has not yet paid out (or
// taken back), the fees sit on expense:fees:stancer and the net on clearing:bank.
//
// "Clean except for the dispute", exactly: every report says clean (every
// payment and refund of every payout matched, nothing missing in the ledger or
// at the provider, no amount difference). While the dispute is open the
// provider has not taken it from a payout, so it matches no payout item: the
// report lists it apart among its open disputes (without making it unclean),
// it is listed open at GET /admin/disputes and is the only thing clearing:stancer holds
// after the payout (its booked cents). Once lost, the next payout takes it and
// the report matches it as a dispute item with the guest's open debt.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { KioskError } from '../../daemon/kiosk-error.js'
import { createMemoryReader, type MemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { DEFAULT_CONFIG } from '../../gateway/config.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { accountIds } from '../../gateway/ledger/index.js'
import { STANCER_REFUND_NOT_HONORED } from '../../gateway/payments/stancer.js'
import { startSim, TEST_SECRET_KEY } from '../provider-sim/testing/sim-client.js'
import { portalLogin } from '../demo/demo-payouts.js'
import { runProviderCycle, summariseProviderCycle, type AdminDispute, type CardGuestPlan, type ProviderCycleStep } from '../demo/demo-provider.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const ADMIN_TOKEN = randomBytes(24).toString('base64url')
const BEER_CENTS = 450
/** The provider's fees in this test: 1.5 % + 0.30 per payment, 20 % VAT on them (the simulator rounds half up). */
const FEE_BASIS_POINTS = 150
const FEE_FIXED_CENTS = 30
const FEE_VAT_BASIS_POINTS = 2_000
const roundHalfUp = (x: number, basisPoints: number) => Math.floor((x * basisPoints + 5_000) / 10_000)
const feeOf = (amount: number) => roundHalfUp(amount, FEE_BASIS_POINTS) + FEE_FIXED_CENTS

const uid = (n: number) => `04CC00000000${String(n).padStart(2, '0')}`
/** PINs avoid 0, 1, I and O. */
const pin = (n: number) => `CARDGUEST${'ABCDEFGHJ'[n - 1]}`
type Plan = CardGuestPlan & { beers: number }
const GUESTS: Plan[] = [
  // Two top-ups, beers, part back on the card (from the newest top-up).
  { uid: uid(1), pin: pin(1), topupsCents: [3_000, 2_000], beers: 2, refundCents: 1_500 },
  // The card's bank refuses the refund: the money is back on the wristband.
  { uid: uid(2), pin: pin(2), topupsCents: [4_000], beers: 1, refundCents: 1_000, refundRefused: true },
  // Disputed after a beer: the balance covers only part of it, the rest is an open debt.
  { uid: uid(3), pin: pin(3), topupsCents: [2_500], beers: 1, disputed: true },
  // Everything back on the card.
  { uid: uid(4), pin: pin(4), topupsCents: [1_000], beers: 0, refundCents: 1_000 },
  // Tops up and drinks.
  { uid: uid(5), pin: pin(5), topupsCents: [5_000], beers: 3 },
]
const LATE = { uid: uid(6), pin: pin(6), topupCents: 1_200 }
const DISPUTED = GUESTS.find((g) => g.disputed)!
const sum = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0)
const acceptedRefund = (g: Plan) => (g.refundCents !== undefined && !g.refundRefused ? g.refundCents : 0)
const ALL_TOPUPS = GUESTS.flatMap((g) => g.topupsCents)
const REFUNDS = GUESTS.filter((g) => acceptedRefund(g) > 0)

t.test('the card side: top-ups, sales, refunds, a dispute, the payouts reconciled; the ledger balanced after every step', async (t) => {
  const sim = await startSim(t, { feeBasisPoints: FEE_BASIS_POINTS, feeFixedCents: FEE_FIXED_CENTS, feeVatBasisPoints: FEE_VAT_BASIS_POINTS })
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-provider-cycle-'))
  const tokens = { bar1: randomBytes(24).toString('base64url'), bar2: randomBytes(24).toString('base64url') }
  const setup: EventSetup = {
    event: { name: 'Card Side Fest', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: BEER_CENTS, booth: 'bar' }],
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: tokens.bar1, saleAllowed: true, topupAllowed: false },
      { id: 'bar-2', booth: 'bar', token: tokens.bar2, saleAllowed: true, topupAllowed: false },
    ],
    wristbands: [...GUESTS, LATE].map((g) => ({ uid: g.uid, pin: g.pin })),
  }
  const gateway = await startLoopbackGateway({
    dir,
    setup,
    logger: silent,
    config: { adminToken: ADMIN_TOKEN, payments: { ...DEFAULT_CONFIG.payments, defaultProvider: 'stancer', stancer: { secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl } } },
  })
  const daemons: KioskDaemon[] = []
  t.teardown(async () => {
    for (const d of daemons) await d.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const base = `http://127.0.0.1:${gateway.httpAddress!.port}`
  sim.controls.setWebhookUrl(`${base}/payments/webhooks/stancer`)
  const ledger = gateway.ledger

  // Two bar kiosks with memory readers (no staff list: no login needed).
  const kiosks: Array<{ daemon: KioskDaemon; reader: MemoryReader }> = []
  for (const [id, token] of [['bar-1', tokens.bar1], ['bar-2', tokens.bar2]] as const) {
    const reader = createMemoryReader()
    const daemon = await createKioskDaemon({ config: kioskDaemonConfig({ kioskId: id, token, mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, dataDir: join(dir, id), overrides: { replyTimeoutMs: 10_000, tapTimeoutMs: 10_000 } }), logger: silent, clock: systemClock, reader })
    daemons.push(daemon)
    ledger.registry.enrollKiosk(id, daemon.publicKeyBase64Url)
    await daemon.start()
    kiosks.push({ daemon, reader })
  }
  await waitUntil(() => kiosks.every((k) => k.daemon.status().connected && k.daemon.status().products.length > 0), 'kiosks connected with their config', 10_000, 20)
  /** The kiosk's own refusal or the gateway's rejection reason; 'accepted' when it went through. */
  const saleAt = (k: (typeof kiosks)[number], u: string, beers: number) =>
    tapAndAwait(k.daemon.kiosk.sale([{ product: 'beer', qty: beers }]), k.reader, u).then(
      (o) => (o.status === 'accepted' ? 'accepted' : `${o.status}:${(o as { reason?: string }).reason ?? ''}`),
      (err: unknown) => (err instanceof KioskError ? err.type : String(err)),
    )

  // What the inputs say each account must hold, kept step by step.
  const expected = new Map<string, number>([...GUESTS, LATE].map((g) => [g.uid, 0]))
  const accounts = { clearing: 0, fees: 0, bank: 0 }
  let disputeBooked = 0
  const checkLedger = (step: string) => {
    t.same(ledger.checkInvariants(), [], `${step}: every booking balanced, every balance the sum of its postings`)
    t.equal(ledger.sumOfAllBalances(), 0, `${step}: the balances sum to zero`)
    for (const [u, cents] of expected) t.equal(ledger.balanceOf(u) ?? 0, cents, `${step}: ${u} holds what they should`)
    t.equal(ledger.accountBalance('clearing:stancer') ?? 0, accounts.clearing, `${step}: clearing:stancer holds what the provider has not yet paid out or taken back`)
    t.equal(ledger.accountBalance('expense:fees:stancer') ?? 0, accounts.fees, `${step}: the provider's fees`)
    t.equal(ledger.accountBalance('clearing:bank') ?? 0, accounts.bank, `${step}: what the payouts brought to the bank`)
  }
  checkLedger('before')

  const disputesListed = async () => (await (await fetch(`${base}/admin/disputes`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as AdminDispute[]

  const cycle = await runProviderCycle({
    baseUrl: base,
    adminToken: ADMIN_TOKEN,
    sim,
    guests: GUESTS,
    loseDispute: true,
    async buy(guests) {
      for (const [i, g] of guests.entries()) {
        const beers = (g.plan as Plan).beers
        if (beers > 0) t.equal(await saleAt(kiosks[i % 2]!, g.plan.uid, beers), 'accepted', `${g.plan.uid} buys ${beers} beer(s)`)
      }
    },
    afterStep: async (step: ProviderCycleStep, c) => {
      switch (step) {
        case 'topped_up':
          for (const g of GUESTS) expected.set(g.uid, sum(g.topupsCents))
          accounts.clearing -= sum(ALL_TOPUPS)
          t.same(c.guests!.map((g) => g.topups.map((x) => x.amountCents)), GUESTS.map((g) => g.topupsCents))
          for (const g of c.guests!) for (const x of g.topups) t.equal(ledger.externalBookingByRef(`stancer:${x.intentId}`)?.kind, 'topup_online', `${x.intentId} booked once, as an online top-up`)
          break
        case 'bought':
          for (const g of GUESTS) expected.set(g.uid, expected.get(g.uid)! - g.beers * BEER_CENTS)
          break
        case 'refunded':
          for (const g of c.guests!) {
            const plan = g.plan as Plan
            if (plan.refundCents === undefined) continue
            if (plan.refundRefused) {
              t.match(g.refund, { amount: plan.refundCents / 100, state: 'refused', parts: [{ state: 'refused', reason: STANCER_REFUND_NOT_HONORED }] }, 'refused by the card\'s bank, with the reason')
              const listed = await g.portal.get('/customer/card_refund')
              t.match(listed.body.refunds, [{ id: g.refund!.id, state: 'refused' }], 'the portal lists it as refused')
            } else {
              t.match(g.refund, { amount: plan.refundCents / 100, state: 'pending' })
              t.equal(sum(g.refund!.parts.map((p) => p.amount)), plan.refundCents / 100, 'split over the card top-ups')
              t.ok(g.refund!.parts.every((p) => p.state === 'pending'))
              expected.set(plan.uid, expected.get(plan.uid)! - plan.refundCents)
              accounts.clearing += plan.refundCents
            }
          }
          break
        case 'disputed': {
          const amount = DISPUTED.topupsCents.at(-1)!
          disputeBooked = Math.min(expected.get(DISPUTED.uid)!, amount)
          t.ok(disputeBooked < amount, 'the guest spent some of it: part of the dispute is an open debt')
          t.match(c.dispute, { state: 'open', uid: DISPUTED.uid, amountCents: amount, bookedCents: disputeBooked, openDebtCents: amount - disputeBooked, blocksWristband: true })
          expected.set(DISPUTED.uid, expected.get(DISPUTED.uid)! - disputeBooked)
          accounts.clearing += disputeBooked
          t.equal(ledger.wristband(DISPUTED.uid)?.blocked, true)
          // Blocked at every kiosk: the kiosk's signed blocklist or, until it arrives, the gateway refuses; nothing is booked.
          for (const [i, k] of kiosks.entries()) t.match(await saleAt(k, DISPUTED.uid, 1), /tag_blocked/, `bar-${i + 1} refuses the disputed wristband`)
          t.match((await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin: DISPUTED.pin }) }).then((r) => r.json())) as object, { type: 'wristband_blocked' }, 'the portal refuses the guest')
          break
        }
        case 'settled': {
          // The provider pays out every paid payment (the disputed one too: the dispute is still open) less the refunds, and keeps its fees.
          t.equal(c.payouts!.length, 1, 'one payout')
          const fees = sum(ALL_TOPUPS.map(feeOf))
          t.match(c.payouts![0], {
            currency: 'eur',
            status: 'paid',
            payments: { amount: sum(ALL_TOPUPS), count: ALL_TOPUPS.length },
            refunds: { amount: sum(REFUNDS.map(acceptedRefund)), count: REFUNDS.length },
            disputes: { amount: 0, count: 0 },
            fees,
            fees_vat: roundHalfUp(fees, FEE_VAT_BASIS_POINTS),
          })
          break
        }
        case 'reconciled': {
          const p = c.payouts![0]!
          const fees = p.fees + p.fees_vat
          const net = p.payments.amount - p.refunds.amount - fees
          const r = c.report!
          t.equal(r.clean, true, 'clean')
          t.same([r.missingInLedger, r.missingAtProvider, r.amountDifferences], [[], [], []], 'nothing missing on either side, no difference')
          t.match(r.payouts, [{ id: p.id, booking: 'booked', net, matched: { payments: ALL_TOPUPS.length, refunds: REFUNDS.length, disputes: 0 } }])
          t.same(r.booked, { payouts: 1, net, fees })
          t.same(
            r.matched.filter((m) => m.kind === 'payment').map((m) => m.ref).sort(),
            c.guests!.flatMap((g) => g.topups.map((x) => `stancer:${x.intentId}`)).sort(),
            'each payment matched to its top-up booking',
          )
          t.equal(r.matched.filter((m) => m.kind === 'dispute').length, 0, 'the open dispute is in no payout yet, so matches no item')
          t.match(r.openDisputes, [{ id: c.dispute!.id, wristband: DISPUTED.uid, amountCents: c.dispute!.amountCents, bookedCents: disputeBooked, openDebtCents: c.dispute!.amountCents - disputeBooked }], 'the report lists it as open, and is clean all the same')
          t.match(await disputesListed(), [{ id: c.dispute!.id, state: 'open' }], 'it is listed open at GET /admin/disputes')
          accounts.clearing += p.payments.amount - p.refunds.amount
          accounts.fees -= fees
          accounts.bank -= net
          t.equal(accounts.clearing, disputeBooked, 'after the payout clearing:stancer holds only the open dispute the provider has yet to take')
          break
        }
        case 'reconciled_again':
          t.equal(c.again!.clean, true)
          t.same(c.again!.booked, { payouts: 0, net: 0, fees: 0 }, 'the second run books nothing')
          t.match(c.again!.payouts, [{ booking: 'already' }])
          break
        case 'dispute_lost':
          t.match(c.lost!.dispute, { state: 'lost', bookedCents: disputeBooked, openDebtCents: DISPUTED.topupsCents.at(-1)! - disputeBooked })
          break
        case 'settled_after_dispute':
          t.match(c.lost!.payouts, [{ payments: { amount: 0, count: 0 }, refunds: { amount: 0, count: 0 }, disputes: { amount: c.dispute!.amountCents, count: 1 }, fees: 0, fees_vat: 0 }], 'the next payout takes the lost dispute')
          break
        case 'reconciled_after_dispute': {
          const r = c.lost!.report
          const amount = c.dispute!.amountCents
          t.equal(r.clean, true)
          t.same([r.missingInLedger, r.missingAtProvider, r.amountDifferences], [[], [], []])
          t.match(r.matched.filter((m) => m.kind === 'dispute'), [{ id: c.dispute!.id, amount, openDebt: amount - disputeBooked }], 'the dispute matched to its booking, with the open debt')
          t.same(r.openDisputes, [], 'lost and taken: no longer open')
          t.same(r.booked, { payouts: 1, net: -amount, fees: 0 }, 'only the new payout is booked')
          accounts.clearing -= amount
          accounts.bank += amount
          t.equal(accounts.clearing, -(amount - disputeBooked), 'clearing:stancer: the provider took the whole dispute, the guest\'s balance covered only part (the open debt)')
          break
        }
      }
      checkLedger(step)
    },
  })

  // A guest who tops up after the last payout: clearing:stancer holds exactly that on top, and a run books nothing and finds nothing missing.
  const late = await portalLogin(base, LATE.pin)
  const created = await late.post('/sumup/create-checkout', { amount: LATE.topupCents / 100 })
  t.equal((await fetch(`${created.body.redirect_url}/pay`, { method: 'POST', redirect: 'manual' })).status, 303)
  t.same((await late.post('/sumup/check-checkout', { checkout_id: created.body.checkout_id })).body, { status: 'PAID' })
  expected.set(LATE.uid, LATE.topupCents)
  accounts.clearing -= LATE.topupCents
  checkLedger('late top-up')
  const rerun = await fetch(`${base}/admin/reconciliation/run`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{}' }).then((r) => r.json() as Promise<any>)
  t.match(rerun, { clean: true, booked: { payouts: 0, net: 0, fees: 0 }, missingAtProvider: [] }, 'a top-up not yet paid out is not missing at the provider')
  checkLedger('reconciled with a top-up not yet paid out')

  // The summary the demo prints of such a cycle.
  const summary = summariseProviderCycle(cycle, await disputesListed(), true)
  t.same(summary, {
    payouts: 2,
    // The last run (mode all) lists both payouts: every item of both matched.
    matched: { payments: ALL_TOPUPS.length, refunds: REFUNDS.length, disputes: 1 },
    missingInLedger: 0,
    missingAtProvider: 0,
    amountDifferences: 0,
    disputes: { open: 0, lost: 1, amountCents: DISPUTED.topupsCents.at(-1)! },
    feesCents: -accounts.fees,
    netCents: -accounts.bank,
    rerunBooked: 0,
    clean: true,
    ledgerBalanced: true,
  })
})
