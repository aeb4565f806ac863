// The card side of an event, against a running gateway whose `stancer`
// provider is the payments provider simulator, over the gateway's real HTTP
// APIs: guests top up on the portal and pay on the provider's hosted page,
// (the caller lets them buy), some ask for their money back on the card (the
// card's bank refuses one), the card holder of one payment disputes it, the
// provider pays out (settle now) and the finance team reconciles the payouts
// with the ledger, twice. Optionally the dispute is then lost, taken from the
// next payout and reconciled too. The demo (demo.ts) and the end-to-end test
// (simulators/e2e/provider-cycle.test.ts) share it.
import { decimalStringFromCents } from '../../device-protocol/money.js'
import type { Ledger } from '../../gateway/ledger/index.js'
import type { ReconciliationReport } from '../../gateway/payments/reconciliation.js'
import type { Payout, ProviderSim } from '../provider-sim/index.js'
import { portalLogin, type HttpAnswer, type PortalGuest } from './demo-payouts.js'

/** What one guest does on the card side. Amounts are integer cents (the portal takes euros; the provider cents too). */
export interface CardGuestPlan {
  uid: string
  pin: string
  /** Online top-ups, each paid on the provider's hosted page. */
  topupsCents: number[]
  /** Asks for this much back on the card, on the portal. */
  refundCents?: number
  /** The card's bank refuses that refund (the simulator answers not_honored): the money is back on the wristband. */
  refundRefused?: boolean
  /** The card holder disputes the guest's last top-up. */
  disputed?: boolean
}

export type ProviderCycleStep =
  | 'topped_up'
  | 'bought'
  | 'refunded'
  | 'disputed'
  | 'settled'
  | 'reconciled'
  | 'reconciled_again'
  | 'dispute_lost'
  | 'settled_after_dispute'
  | 'reconciled_after_dispute'

export interface CardGuest {
  plan: CardGuestPlan
  portal: PortalGuest
  /** Our checkout id and the provider's intent id of each paid top-up. */
  topups: Array<{ checkoutId: string; intentId: string; amountCents: number }>
  /** The portal's answer to the refund request (POST /api/customer/card_refund). */
  refund?: { id: string; amount: number; state: string; parts: Array<{ amount: number; state: string; reason: string | null }> }
}

/** A dispute as GET /admin/disputes shows it (the fields read here). */
export interface AdminDispute {
  id: string
  state: string
  uid: string
  amountCents: number
  bookedCents: number
  openDebtCents: number
  blocksWristband: boolean
}

export interface ProviderCycle {
  guests: CardGuest[]
  dispute?: AdminDispute
  /** What the provider paid out when told to settle. */
  payouts: Payout[]
  report: ReconciliationReport
  /** The same reconciliation again: must book nothing. */
  again: ReconciliationReport
  /** With loseDispute: the dispute lost, the payout that takes it, and the reconciliation of that payout. */
  lost?: { dispute: AdminDispute; payouts: Payout[]; report: ReconciliationReport }
}

export interface ProviderCycleOptions {
  baseUrl: string
  adminToken: string
  /** The provider simulator, in process (its controls stand for the card holders and the provider's back office). */
  sim: Pick<ProviderSim, 'controls' | 'state'>
  guests: readonly CardGuestPlan[]
  /** Called once every guest has topped up: the caller's kiosk sales. */
  buy?: (guests: readonly CardGuest[]) => Promise<void>
  /** After the first payout: the card holder's bank wins the dispute; the next payout takes it. */
  loseDispute?: boolean
  /** Called after every step that may move money, for the caller's checks. */
  afterStep?: (step: ProviderCycleStep, cycle: Partial<ProviderCycle>) => void | Promise<void>
}

export class ProviderCycleError extends Error {
  override name = 'ProviderCycleError'
}

const euros = (cents: number) => cents / 100

async function call<T = any>(base: string, method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<HttpAnswer<T>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await response.text()
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T }
}

function expectStatus<T>(answer: HttpAnswer<T>, status: number, what: string): T {
  if (answer.status !== status) throw new ProviderCycleError(`${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`)
  return answer.body
}

/** A top-up as the portal page makes it: create the checkout, pay on the hosted page (a form post), confirm. */
async function topUpOnline(guest: PortalGuest, amountCents: number): Promise<{ checkoutId: string; intentId: string; amountCents: number }> {
  const created = expectStatus(await guest.post('/sumup/create-checkout', { amount: euros(amountCents) }), 200, `top-up of ${guest.uid}`) as { checkout_id: string; redirect_url: string }
  const paid = await fetch(`${created.redirect_url}/pay`, { method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(30_000) })
  await paid.arrayBuffer()
  if (paid.status !== 303) throw new ProviderCycleError(`the hosted page did not take the payment of ${guest.uid}: ${paid.status}`)
  // Booked on our own confirmation with the provider (the webhook may have been first: booked once all the same).
  const checked = expectStatus(await guest.post('/sumup/check-checkout', { checkout_id: created.checkout_id }), 200, `check of ${guest.uid}'s top-up`) as { status: string }
  if (checked.status !== 'PAID') throw new ProviderCycleError(`${guest.uid}'s top-up is ${checked.status}, not PAID`)
  return { checkoutId: created.checkout_id, intentId: new URL(created.redirect_url).pathname.split('/').at(-1)!, amountCents }
}

/** Runs the cycle; throws ProviderCycleError when a step answers other than it should. */
export async function runProviderCycle(options: ProviderCycleOptions): Promise<ProviderCycle> {
  const { baseUrl, adminToken, sim } = options
  const cycle: Partial<ProviderCycle> = {}
  const step = async (name: ProviderCycleStep) => options.afterStep?.(name, cycle)
  const admin = (method: 'GET' | 'POST', path: string, body?: unknown) => call(baseUrl, method, `/admin${path}`, adminToken, body)
  const reconcile = async (): Promise<ReconciliationReport> => {
    // Every webhook the provider sent (payouts, refunds refunded) has reached the gateway before the finance team looks.
    await sim.controls.flushWebhooks()
    return expectStatus(await admin('POST', '/reconciliation/run', { mode: 'all' }), 200, 'reconciliation run') as ReconciliationReport
  }
  const disputeListed = async (id: string, state: string): Promise<AdminDispute> => {
    await sim.controls.flushWebhooks()
    // The webhook is a hint the gateway checks with the provider: bounded wait until the admin API shows it.
    for (let i = 0; i < 200; i++) {
      const listed = expectStatus(await admin('GET', '/disputes'), 200, 'list disputes') as AdminDispute[]
      const found = listed.find((d) => d.id === id)
      if (found?.state === state) return found
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new ProviderCycleError(`dispute ${id} never showed as ${state} at GET /admin/disputes`)
  }

  const guests: CardGuest[] = []
  for (const plan of options.guests) {
    const portal = await portalLogin(baseUrl, plan.pin)
    if (portal.uid !== plan.uid) throw new ProviderCycleError(`PIN of ${plan.uid} logged in ${portal.uid}`)
    const guest: CardGuest = { plan, portal, topups: [] }
    for (const cents of plan.topupsCents) guest.topups.push(await topUpOnline(portal, cents))
    guests.push(guest)
  }
  cycle.guests = guests
  await step('topped_up')
  if (options.buy) {
    await options.buy(guests)
    await step('bought')
  }

  for (const guest of guests) {
    if (guest.plan.refundCents === undefined) continue
    if (guest.plan.refundRefused) sim.controls.refuseNextRefunds(1)
    guest.refund = expectStatus(await guest.portal.post('/customer/card_refund', { amount: euros(guest.plan.refundCents) }), 201, `refund to ${guest.plan.uid}'s card`) as CardGuest['refund']
    const want = guest.plan.refundRefused ? 'refused' : 'pending'
    if (guest.refund!.state !== want) throw new ProviderCycleError(`${guest.plan.uid}'s refund is ${guest.refund!.state}, not ${want}`)
  }
  await step('refunded')

  const disputedGuest = guests.find((g) => g.plan.disputed)
  if (disputedGuest !== undefined) {
    const intent = sim.state.paymentIntents.get(disputedGuest.topups.at(-1)!.intentId)
    if (intent?.payment == null) throw new ProviderCycleError(`no payment of ${disputedGuest.plan.uid}'s top-up to dispute`)
    const raised = sim.controls.raiseDispute(intent.payment)
    cycle.dispute = await disputeListed(raised.id, 'open')
    await step('disputed')
  }

  cycle.payouts = sim.controls.settleNow()
  await step('settled')
  cycle.report = await reconcile()
  await step('reconciled')
  cycle.again = await reconcile()
  await step('reconciled_again')

  if (options.loseDispute && cycle.dispute !== undefined) {
    sim.controls.resolveDispute(cycle.dispute.id, 'lost')
    const dispute = await disputeListed(cycle.dispute.id, 'lost')
    cycle.lost = { dispute } as ProviderCycle['lost']
    await step('dispute_lost')
    cycle.lost!.payouts = sim.controls.settleNow()
    await step('settled_after_dispute')
    cycle.lost!.report = await reconcile()
    await step('reconciled_after_dispute')
  }
  return cycle as ProviderCycle
}

/** The demo summary of the card side: the reconciliation report in counts, the disputes, and the ledger. */
export interface ProviderReconciliationSummary {
  /** Payouts the provider made and the reconciliation booked (once). */
  payouts: number
  /** Items of those payouts matched to a ledger booking. */
  matched: { payments: number; refunds: number; disputes: number }
  missingInLedger: number
  missingAtProvider: number
  amountDifferences: number
  /** Disputes the gateway knows (GET /admin/disputes): still open (not yet in any payout, so not in the report), lost, and their amount. */
  disputes: { open: number; lost: number; amountCents: number }
  /** The provider's fees (with their VAT) booked to expense:fees:stancer. */
  feesCents: number
  /** What the payouts brought to the bank (clearing:bank). */
  netCents: number
  /** Payouts the second run of the reconciliation booked (none: each is booked once). */
  rerunBooked: number
  /** The report's own verdict: every item matched, nothing missing on either side, no difference. */
  clean: boolean
  /** The ledger after the cycle: balanced, all balances sum to zero, every card guest holds what they should. */
  ledgerBalanced: boolean
}

export function summariseProviderCycle(cycle: ProviderCycle, disputes: readonly AdminDispute[], ledgerBalanced: boolean): ProviderReconciliationSummary {
  const report = cycle.lost?.report ?? cycle.report
  const booked = [cycle.report, cycle.again, ...(cycle.lost ? [cycle.lost.report] : [])]
  const count = (kind: string) => report.matched.filter((m) => m.kind === kind).length
  return {
    payouts: report.payouts.length,
    matched: { payments: count('payment'), refunds: count('refund'), disputes: count('dispute') },
    missingInLedger: report.missingInLedger.length,
    missingAtProvider: report.missingAtProvider.length,
    amountDifferences: report.amountDifferences.length,
    disputes: { open: disputes.filter((d) => d.state === 'open').length, lost: disputes.filter((d) => d.state === 'lost').length, amountCents: disputes.reduce((sum, d) => sum + d.amountCents, 0) },
    feesCents: booked.reduce((sum, r) => sum + r.booked.fees, 0),
    netCents: booked.reduce((sum, r) => sum + r.booked.net, 0),
    rerunBooked: cycle.again.booked.payouts,
    clean: report.clean,
    ledgerBalanced,
  }
}

/**
 * Whether the demo's card side went as it must: the provider's payout booked
 * once, every payment and refund in it matched, nothing missing on either
 * side, no difference; the one dispute open (the provider has not taken it
 * from a payout yet, so it is in no payout and not in the report); fees
 * booked; the ledger balanced.
 */
export function demoProviderSound(summary: ProviderReconciliationSummary | { skipped: string }): boolean {
  if ('skipped' in summary) return true
  return (
    summary.clean &&
    summary.payouts === 1 &&
    summary.matched.payments >= DEMO_CARD_GUESTS &&
    summary.matched.refunds >= 1 &&
    summary.missingInLedger === 0 &&
    summary.missingAtProvider === 0 &&
    summary.amountDifferences === 0 &&
    summary.disputes.open === 1 &&
    summary.feesCents > 0 &&
    summary.rerunBooked === 0 &&
    summary.ledgerBalanced
  )
}

/** The demo's card guests: one refunds part to the card, one is refused by the card's bank, one is disputed. */
export const DEMO_CARD_GUESTS = 3
export const DEMO_CARD_TOPUP_CENTS = 3_000
export const DEMO_CARD_REFUND_CENTS = 1_000

export interface DemoProviderOptions {
  baseUrl: string
  adminToken: string
  sim: Pick<ProviderSim, 'controls' | 'state'>
  /** Pre-sale guests (they know their PIN); the last ones not held by a payout run and not blocked take part. */
  wristbands: ReadonlyArray<{ uid: string; pin: string }>
  ledger: Pick<Ledger, 'balanceOf' | 'checkInvariants' | 'sumOfAllBalances' | 'wristband'> & { registry: { wristband(uid: string): { inPayoutRun?: boolean } | undefined } }
  currency: string
}

/**
 * The demo's card side, after its payout run: three guests top up online
 * through the provider, the first gets part back on the card, the second's
 * card bank refuses the same, the third's top-up is disputed; the provider
 * pays out and the payouts are reconciled (twice). Each guest's balance is
 * checked against what they held, topped up, got back and had taken.
 */
export async function runDemoProvider(options: DemoProviderOptions): Promise<{ providerReconciliation: ProviderReconciliationSummary | { skipped: string }; line: string }> {
  const { ledger } = options
  const free = [...options.wristbands].reverse().filter((w) => ledger.wristband(w.uid)?.blocked !== true && ledger.registry.wristband(w.uid)?.inPayoutRun !== true)
  if (free.length < DEMO_CARD_GUESTS) {
    const skipped = 'not enough guests free of payout runs'
    return { providerReconciliation: { skipped }, line: `provider reconciliation: none (${skipped})` }
  }
  const plans: CardGuestPlan[] = free.slice(0, DEMO_CARD_GUESTS).map((w, i) => ({
    uid: w.uid,
    pin: w.pin,
    topupsCents: [DEMO_CARD_TOPUP_CENTS],
    ...(i < 2 ? { refundCents: DEMO_CARD_REFUND_CENTS, refundRefused: i === 1 } : { disputed: true }),
  }))
  const before = new Map(plans.map((p) => [p.uid, ledger.balanceOf(p.uid) ?? 0]))
  const cycle = await runProviderCycle({ baseUrl: options.baseUrl, adminToken: options.adminToken, sim: options.sim, guests: plans })
  const disputes = expectStatus(await call(options.baseUrl, 'GET', '/admin/disputes', options.adminToken), 200, 'list disputes') as AdminDispute[]

  // What each guest must hold: the top-up in, an accepted refund out, a refused one back, the dispute taken (what the balance covered).
  const expected = (p: CardGuestPlan) => {
    const topped = (before.get(p.uid) ?? 0) + p.topupsCents.reduce((s, c) => s + c, 0)
    const refunded = p.refundCents !== undefined && !p.refundRefused ? p.refundCents : 0
    const disputed = p.disputed ? Math.min(topped - refunded, p.topupsCents.at(-1)!) : 0
    return topped - refunded - disputed
  }
  const guestsRight = plans.every((p) => (ledger.balanceOf(p.uid) ?? 0) === expected(p))
  const balanced = ledger.checkInvariants().length === 0 && ledger.sumOfAllBalances() === 0 && guestsRight
  const summary = summariseProviderCycle(cycle, disputes, balanced)
  const money = (cents: number) => `${decimalStringFromCents(cents)} ${options.currency}`
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const refunds = cycle.guests.filter((g) => g.refund !== undefined)
  const refused = refunds.filter((g) => g.refund!.state === 'refused').length
  const line =
    `card side (stancer): ${plural(plans.length, 'online top-up')}, ${plural(refunds.length - refused, 'refund')} to the card, ${refused} refused by the card's bank, ${summary.disputes.open} dispute open; ` +
    `${summary.payouts} payout reconciled: ${plural(summary.matched.payments, 'payment')} and ${plural(summary.matched.refunds, 'refund')} matched, ` +
    `${summary.missingInLedger} missing in the ledger, ${summary.missingAtProvider} missing at the provider, ${summary.amountDifferences} differences, ` +
    `fees ${money(summary.feesCents)}, net ${money(summary.netCents)}; run again: ${summary.rerunBooked} booked; ledger ${summary.ledgerBalanced ? 'balanced' : 'NOT balanced'}`
  return { providerReconciliation: summary, line }
}
