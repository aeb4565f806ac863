// What the demo's simulated staff and guests do at each till: the cashier
// logs in with a staff wristband; bars sell drinks with cup deposits, take
// cups back, sometimes give the happy-hour discount and now and then cancel
// the last sale; the food stand sells food; the top-up station and the cash
// desk open a cash shift, take cash top-ups, pay balances out, sell tickets
// that activate new wristbands, and close the shift at the end with the
// counted cash.
import { randomInt } from 'node:crypto'
import type { Logger } from 'pino'
import type { KioskDaemon } from '../../daemon/app.js'
import { KioskError, type Outcome, type SaleLine } from '../../daemon/kiosk.js'
import type { Ledger } from '../../gateway/ledger/index.js'
import type { DemoKiosk } from './demo-event.js'
import type { SimulatedReader } from './demo-readers.js'
import { tapAndAwait } from '../e2e/kiosk-harness.js'

export interface DemoGuest {
  uid: string
  /** What the guest last saw on a kiosk screen: decides whether they go to top up. */
  knownBalance: number
  /** Cups the guest holds (deposit paid). */
  cups: number
}

export interface TillRuntime {
  spec: DemoKiosk
  daemon: KioskDaemon
  simulatedReader: SimulatedReader
}

export interface RecordedOperation {
  outcome: Outcome
  kioskId: string
  atMs: number
  latencyMs: number
}

export interface TillContext {
  guests: DemoGuest[]
  /** Wristbands not handed out yet: the cash desk sells tickets onto them. */
  freshWristbands: string[]
  recorded: RecordedOperation[]
  /** Refusals a kiosk makes by design (a minor asks for beer), by type. */
  refusals: Record<string, number>
  errors: string[]
  logger: Logger
  isStopping(): boolean
}

/** Refusals of the kiosk flow that a real till sees every day; anything else is a demo error. */
const EVERYDAY_REFUSALS = new Set(['product_restricted', 'nothing_to_pay_out', 'nothing_to_cancel', 'cancel_not_allowed', 'offline_limit', 'gateway_unreachable', 'tag_blocked'])

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))
const pick = <T>(items: readonly T[]): T => items[randomInt(0, items.length)]!
const chance = (oneIn: number) => randomInt(0, oneIn) === 0

const DRINKS = ['beer', 'radler', 'water', 'cola']
const FOOD = ['fries', 'burger', 'falafel']

/**
 * One operation at the counter: the staff rang it up, the guest taps after a
 * moment, the answer is recorded. A refusal, before or after the tap, is
 * counted and never thrown: the demo (and the gateway in its process) goes on.
 */
export async function atCounter(k: TillRuntime, ctx: TillContext, operation: () => Promise<Outcome>, uid: string | undefined): Promise<Outcome | undefined> {
  const tapDelayMs = randomInt(20, 80)
  const startedMs = performance.now()
  try {
    const pending = operation()
    const outcome = uid === undefined ? await pending : await tapAndAwait(pending, k.simulatedReader.presenter, uid, tapDelayMs)
    const nowMs = performance.now()
    ctx.recorded.push({ outcome, kioskId: k.spec.id, atMs: nowMs, latencyMs: nowMs - startedMs - (uid === undefined ? 0 : tapDelayMs) })
    return outcome
  } catch (err) {
    if (err instanceof KioskError && EVERYDAY_REFUSALS.has(err.type)) {
      ctx.refusals[err.type] = (ctx.refusals[err.type] ?? 0) + 1
    } else {
      ctx.errors.push(`${k.spec.id}: ${(err as Error).message}`)
      ctx.logger.warn({ err, kiosk: k.spec.id }, 'demo operation failed')
    }
    return undefined
  }
}

async function login(k: TillRuntime, ctx: TillContext): Promise<boolean> {
  for (let attempt = 0; attempt < 3 && !ctx.isStopping(); attempt++) {
    try {
      await tapAndAwait(k.daemon.kiosk.login(), k.simulatedReader.presenter, k.spec.staffUid, 20)
      return true
    } catch (err) {
      ctx.logger.warn({ err, kiosk: k.spec.id }, 'demo staff login failed; trying again')
      await sleep(200)
    }
  }
  ctx.errors.push(`${k.spec.id}: staff could not log in`)
  return false
}

function barCart(guest: DemoGuest): SaleLine[] {
  const lines: SaleLine[] = []
  // A guest with cups brings some back now and then, alone or with the next round.
  if (guest.cups > 0 && chance(3)) lines.push({ product: 'cup', qty: -randomInt(1, guest.cups + 1) })
  if (lines.length === 0 || chance(2)) {
    const drinks = randomInt(1, 3)
    lines.push({ product: pick(DRINKS), qty: drinks }, { product: 'cup', qty: drinks })
    if (chance(6)) lines.push({ product: 'happy-hour', qty: 1 })
    if (chance(12)) lines.push({ product: 'tip', qty: 1, unitPrice: pick([50, 100, 200]) })
  }
  return lines
}

function cupsMoved(lines: readonly SaleLine[]): number {
  return lines.filter((l) => l.product === 'cup').reduce((sum, l) => sum + l.qty, 0)
}

async function sellingTill(k: TillRuntime, ctx: TillContext): Promise<void> {
  while (!ctx.isStopping()) {
    // Most guests who come to buy have money on their wristband; some find out they don't.
    const funded = ctx.guests.filter((g) => g.knownBalance >= 1_000)
    const guest = pick(funded.length > 0 && randomInt(0, 10) > 0 ? funded : ctx.guests)
    const lines = k.spec.role === 'bar' ? barCart(guest) : [{ product: pick(FOOD), qty: randomInt(1, 3) }]
    const outcome = await atCounter(k, ctx, () => k.daemon.kiosk.sale(lines), guest.uid)
    if (outcome?.balance !== undefined) guest.knownBalance = outcome.balance
    if (outcome?.status === 'accepted') {
      guest.cups = Math.max(0, guest.cups + cupsMoved(lines))
      // "Sorry, wrong drink": the cashier cancels the sale just made.
      if (chance(20)) {
        const undone = await atCounter(k, ctx, () => k.daemon.kiosk.cancelLast(), undefined)
        if (undone?.status === 'accepted') {
          guest.cups = Math.max(0, guest.cups - cupsMoved(lines))
          if (undone.balance !== undefined) guest.knownBalance = undone.balance
        }
      }
    }
    await sleep(randomInt(50, 250))
  }
}

const FLOAT_CENTS = 20_000

async function cashTill(k: TillRuntime, ctx: TillContext): Promise<void> {
  const register = k.spec.register!
  if (k.daemon.kiosk.shift() === null) {
    const opened = await atCounter(k, ctx, () => k.daemon.kiosk.openShift(register, FLOAT_CENTS), undefined)
    if (opened?.status !== 'accepted') return
  }
  while (!ctx.isStopping()) {
    if (k.spec.role === 'cashdesk' && ctx.freshWristbands.length > 0 && chance(2)) {
      // A new guest buys a ticket and some money on the wristband with it.
      const uid = ctx.freshWristbands.pop()!
      const ticket = chance(6) ? 'day-ticket-u18' : 'day-ticket'
      const topup = pick([0, 1_000, 2_000, 3_000])
      const outcome = await atCounter(k, ctx, () => k.daemon.kiosk.sellTicket({ lines: [{ product: ticket, qty: 1 }], topup }), uid)
      if (outcome?.status === 'accepted') ctx.guests.push({ uid, knownBalance: topup, cups: 0 })
    } else if (chance(25)) {
      // Leaving early: the rest of the balance back in cash.
      const guest = pick(ctx.guests)
      const outcome = await atCounter(k, ctx, () => k.daemon.kiosk.cashOut(), guest.uid)
      if (outcome?.status === 'accepted') guest.knownBalance = 0
    } else {
      const low = ctx.guests.filter((g) => g.knownBalance < 1_500)
      const guest = pick(low.length > 0 ? low : ctx.guests)
      const outcome = await atCounter(k, ctx, () => k.daemon.kiosk.topUp(pick([1_000, 2_000, 2_000, 5_000])), guest.uid)
      if (outcome?.balance !== undefined) guest.knownBalance = outcome.balance
    }
    await sleep(randomInt(50, 250))
  }
}

/** The staff member's whole shift at a till, until the demo stops. */
export async function runTill(k: TillRuntime, ctx: TillContext): Promise<void> {
  try {
    // Wait for the retained config (catalog, staff) before anything else.
    for (let i = 0; i < 100 && !ctx.isStopping() && !k.daemon.status().config; i++) await sleep(50)
    if (!(await login(k, ctx))) return
    if (k.spec.register !== undefined) await cashTill(k, ctx)
    else await sellingTill(k, ctx)
  } catch (err) {
    // The demo awaits the tills only at the end: a till that fails stops alone, counted, and takes nothing down with it.
    ctx.errors.push(`${k.spec.id}: ${(err as Error).message}`)
    ctx.logger.error({ err, kiosk: k.spec.id }, 'demo till stopped')
  }
}

/**
 * The close-out: the staff counts the drawer. The demo's counting is exact
 * except at the cash desk, which is 50 cents short, so the summary shows a
 * difference booked to the imbalance account.
 */
export async function closeTill(k: TillRuntime, ctx: TillContext, ledger: Pick<Ledger, 'shiftReports'>): Promise<Outcome | undefined> {
  const shift = k.daemon.kiosk.shift()
  if (k.spec.register === undefined || shift === null) return undefined
  const open = ledger.shiftReports().find((r) => r.register === shift.register && r.closedAt === null)
  if (open === undefined) return undefined
  const counted = Math.max(0, open.expected - (k.spec.role === 'cashdesk' ? 50 : 0))
  return atCounter(k, ctx, () => k.daemon.kiosk.closeShift(counted), undefined)
}
