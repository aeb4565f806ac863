// The business rules of one transaction, as a pure function: given what the
// ledger knows about the kiosk, the wristband, the catalog, the staff and the
// cash shifts, decide accepted (with balanced postings and what else the
// booking changes) or rejected (with a named reason). Sequence and chain
// checks happen before this, in the ledger; the ledger applies the decision.
// A kiosk's signature proves who sent a transaction, not that it is allowed:
// every claim the gateway can check (time, offline caps, deposits handed out)
// is checked here, and a claim no honest kiosk makes is refused and alerted.
import {
  applyVouchers,
  cardPaymentRef,
  linesTotal,
  roleAllows,
  type Line,
  type ProductKind,
  type RejectReason,
  type StaffRole,
  type Transaction,
} from '../../device-protocol/index.js'
import { accountIds, type PostingRecord } from './types.js'

/** The clearing account of the kiosks' card terminals (ZVT): money the acquirer owes the event. */
export const CARD_TERMINAL_CLEARING = 'card-terminal'

/** What a till may do (the set-up's till profile, or derived from the kiosk's two flags). */
export interface ProfileFacts {
  sale: boolean
  topupCash: boolean
  topupCard: boolean
  cashout: boolean
  ticketSale: boolean
  tagSwitch: boolean
  cashRegister: boolean
  cancelWindowMs: number
  /** Product ids this till sells; undefined: all of the booth's. */
  products?: readonly string[]
}

export interface KioskFacts {
  id: string
  booth: string
  profile: ProfileFacts
}

export interface WristbandFacts {
  blocked: boolean
  /** In an open payout run, or an open refund run item (its balance goes back to the card): sales, cash-outs, a cancelled return and a tag switch from it are refused (in_payout_run). Absent: in neither. */
  inPayoutRun?: boolean
  /** Current balance of the guest's account, cents. */
  balance: number
  vouchers: number
  variant: string | null
}

export interface ProductFacts {
  id: string
  name: string
  price: number
  kind: ProductKind
  fixedPrice: boolean
  taxRate: number
  voucherEligible: boolean
  restrictions: readonly string[]
  ticketVariant: string | null
}

/** The event's offline policy as the gateway enforces it, its cap window resolved. */
export interface OfflineRules {
  allowed: boolean
  perTagCapCents: number
  kioskTotalCapCents: number
  capWindowMs: number
}

/** Offline sales the gateway booked from this kiosk within the cap window: of this wristband, and in total. */
export interface OfflineSpent {
  tagCents: number
  kioskCents: number
}

/** How far a transaction's `at` (the kiosk's clock) may be from the gateway's clock. */
export interface TimeLimits {
  maxAheadMs: number
  maxBehindMs: number
}

/** A booth's deposit account: what it holds of deposits taken (never below zero). */
export interface DepositAccountFacts {
  account: string
  balance: number
}

export interface ShiftFacts {
  id: string
  register: string
}

/** A sale or return that a cancel names. */
export interface CancelTarget {
  id: string
  kiosk: string
  type: string
  tag: string
  amount: number
  /** The kiosk clock of the original (its envelope's `at`). */
  at: number
  status: 'accepted' | 'rejected'
  cancelled: boolean
  /** Whether it is the last accepted sale or return of its kiosk. */
  isLast: boolean
  postings: readonly PostingRecord[]
  vouchersUsed: number
}

/** A line item as booked: the product's kind and tax rate in force now. */
export interface BookedLine extends Line {
  name: string
  kind: ProductKind
  total: number
  taxRate: number
}

/** What the ledger does besides the postings. */
export type SideEffect =
  | { kind: 'vouchers'; uid: string; delta: number }
  | { kind: 'cancelled'; txId: string }
  | { kind: 'register_wristband'; uid: string; variant: string | null; pinFrom?: string }
  | { kind: 'replace_wristband'; oldUid: string; newUid: string }
  | { kind: 'open_shift'; register: string; float: number }
  | { kind: 'close_shift'; shiftId: string; counted: number; expected: number; difference: number }
  | { kind: 'debt'; uid: string; shortfall: number }
  | { kind: 'alert'; alert: string; message: string }

export type Decision =
  | {
      status: 'accepted'
      postings: PostingRecord[]
      /** The guest's balance after the booking (undefined for shift bookings). */
      balanceAfter?: number
      lines?: BookedLine[]
      effects: SideEffect[]
      extras?: { charged?: number; vouchersUsed?: number; vouchers?: number; expected?: number; difference?: number; debt?: true; newPin?: true }
    }
  | {
      status: 'rejected'
      reason: RejectReason
      balance?: number
      /** A claim no honest kiosk makes (a stolen key, a broken clock): an operator must look. */
      alert?: { kind: string; message: string }
    }

export interface DecisionInputs {
  tx: Transaction
  kiosk: KioskFacts
  /** The gateway's clock, Unix ms (the ledger's injected clock). */
  now: number
  timeLimits: TimeLimits
  offlinePolicy: OfflineRules
  /** Offline sales booked from tx.kiosk within offlinePolicy.capWindowMs before `now` (for tx.tag and in total). */
  offlineSpent(): OfflineSpent
  /** Every booth's deposit account. */
  depositAccounts(): readonly DepositAccountFacts[]
  /** The most units of a deposit product one transaction may bring back. */
  maxReturnQty(booth: string, productId: string): number
  /** undefined: the tag is not a wristband of this event. */
  wristband: WristbandFacts | undefined
  /** A product of a booth's catalog, undefined if the booth does not sell it. */
  product(booth: string, productId: string): ProductFacts | undefined
  /** Whether a card payment with this reference (cardPaymentRef) is already booked. */
  cardPaymentBooked(ref: string): boolean
  /** undefined: the event has no staff list, so no login is required. */
  staffRoles?: (uid: string) => readonly StaffRole[] | undefined
  /** The open shift at this kiosk, if any. */
  openShift(): ShiftFacts | undefined
  registerExists(register: string): boolean
  registerBusy(register: string): boolean
  /** The balance of an account (the cash drawer of a register). */
  accountBalance(account: string): number
  cancelTarget(id: string): CancelTarget | undefined
  /** tag_switch: the wristband whose PIN the guest gave (decrypted by ingest); undefined if none. */
  wristbandByPin(): { uid: string; facts: WristbandFacts } | undefined
  /** tag_switch: too many wrong PINs from this kiosk (or event-wide); the PIN is not checked. */
  pinRefused?: boolean
}

const reject = (reason: RejectReason, balance?: number): Decision =>
  balance === undefined ? { status: 'rejected', reason } : { status: 'rejected', reason, balance }

/** A refusal an operator is told about: the alert's kind is the reason. */
const refuseAndAlert = (reason: RejectReason, message: string, balance?: number): Decision => ({
  ...(reject(reason, balance) as Extract<Decision, { status: 'rejected' }>),
  alert: { kind: reason, message },
})

/**
 * The kiosk's clock against the gateway's. Ahead by more than a clock's skew
 * is no honest stamp (a sale in 2100); behind is allowed for as long as a
 * transaction may wait in a kiosk's outbox. Never formats `at` as a date: any
 * integer passes the schema, and a date beyond year 275760 throws.
 */
function timeRefusal({ tx, kiosk, now, timeLimits }: DecisionInputs): Decision | undefined {
  const aheadMs = tx.at - now
  const which = `${tx.type} ${tx.id} (seq ${tx.seq}) of ${kiosk.id}`
  if (aheadMs > timeLimits.maxAheadMs)
    return refuseAndAlert('timestamp_in_future', `${which} is stamped ${aheadMs} ms ahead of the gateway's clock (at most ${timeLimits.maxAheadMs} allowed): check the kiosk's clock`)
  if (-aheadMs > timeLimits.maxBehindMs)
    return refuseAndAlert('timestamp_too_old', `${which} is stamped ${-aheadMs} ms behind the gateway's clock (at most ${timeLimits.maxBehindMs} allowed): check the kiosk's clock`)
  return undefined
}

type OfflineVerdict = { honoured: true } | { honoured: false; reason: RejectReason; message: string }

/**
 * Whether the gateway honours a kiosk's word that it was offline: only as the
 * event's policy allows, and for sales within the caps as the gateway counts
 * them (its own bookings, its own clock). Returns are not capped (the kiosk
 * does not cap them either; the deposits handed out bound them).
 */
function offlineVerdict(inputs: DecisionInputs): OfflineVerdict {
  const { tx, kiosk, offlinePolicy: policy } = inputs
  const what = `offline ${tx.type} ${tx.id} of ${tx.amount} cents at ${kiosk.id} on wristband ${tx.tag.uid}`
  if (!policy.allowed) return { honoured: false, reason: 'offline_not_allowed', message: `${what}: the event does not allow offline sales` }
  if (tx.type !== 'sale') return { honoured: true }
  const spent = inputs.offlineSpent()
  const window = `in the last ${Math.round(policy.capWindowMs / 60_000)} min`
  if (spent.tagCents + tx.amount > policy.perTagCapCents)
    return { honoured: false, reason: 'offline_limit_exceeded', message: `${what}: beyond the per-wristband cap of ${policy.perTagCapCents} cents (${spent.tagCents} booked offline ${window})` }
  if (spent.kioskCents + tx.amount > policy.kioskTotalCapCents)
    return { honoured: false, reason: 'offline_limit_exceeded', message: `${what}: beyond the kiosk cap of ${policy.kioskTotalCapCents} cents (${spent.kioskCents} booked offline ${window})` }
  return { honoured: true }
}

/** Fields that belong to one transaction type only: anywhere else the transaction is malformed. */
function misplacedField(tx: Transaction): boolean {
  if ((tx.type === 'topup_card') !== (tx.payment !== undefined)) return true
  if ((tx.type === 'cancel') !== (tx.ref !== undefined)) return true
  if ((tx.type === 'shift_open' || tx.type === 'shift_close') !== (tx.register !== undefined)) return true
  if (tx.terminalTotals !== undefined && tx.type !== 'shift_close') return true
  if (tx.type !== 'ticket' && tx.topup !== undefined) return true
  if ((tx.type === 'tag_switch') !== (tx.sealedPin !== undefined)) return true
  if (tx.offline && tx.type !== 'sale' && tx.type !== 'return') return true
  return tx.lines.some((l) => l.qty === 0)
}

/** The drawer cash moves through: the open shift's register, or the kiosk's cash account where no register is kept. */
function cashAccount(inputs: DecisionInputs): { account: string } | { reason: RejectReason } {
  const { kiosk } = inputs
  if (!kiosk.profile.cashRegister) return { account: accountIds.cash(kiosk.id) }
  const shift = inputs.openShift()
  return shift === undefined ? { reason: 'no_open_shift' } : { account: accountIds.register(shift.register) }
}

/** Sums postings per account (an account appears once) and drops none: zero postings stay, the pair is the record. */
function merge(postings: PostingRecord[]): PostingRecord[] {
  const byAccount = new Map<string, number>()
  for (const p of postings) byAccount.set(p.account, (byAccount.get(p.account) ?? 0) + p.amount)
  return [...byAccount].map(([account, amount]) => ({ account, amount }))
}

/** Checks the cart lines against the catalog; returns the booked lines or a refusal. */
function priceLines(inputs: DecisionInputs, wristband: WristbandFacts, allowTickets: boolean): BookedLine[] | RejectReason {
  const { tx, kiosk } = inputs
  const booked: BookedLine[] = []
  for (const line of tx.lines) {
    const product = inputs.product(kiosk.booth, line.product)
    if (product === undefined) return 'unknown_product'
    if (kiosk.profile.products !== undefined && !kiosk.profile.products.includes(product.id)) return 'unknown_product'
    if ((product.kind === 'ticket') !== allowTickets) return 'ticket_not_allowed'
    if (line.qty < 0 && product.kind !== 'deposit') return 'not_returnable'
    if (product.fixedPrice) {
      if (line.unitPrice !== product.price) return 'price_mismatch'
    } else if (line.unitPrice < 0 || (product.price > 0 && line.unitPrice > product.price)) {
      return 'price_mismatch'
    }
    if (line.qty > 0 && wristband.variant !== null && product.restrictions.includes(wristband.variant)) return 'product_restricted'
    booked.push({ ...line, name: product.name, kind: product.kind, total: line.qty * line.unitPrice, taxRate: product.taxRate })
  }
  return booked
}

/**
 * The deposit side of a cart. Deposits taken go to the booth's deposit
 * account. Deposits paid back come from the booth's own account first, then
 * from the booths holding most (a cup bought at one bar goes back at any
 * other), and never take an account below zero: a return of more than the
 * event handed out is refused, and so is one of more units than the product's
 * maxReturnQty.
 */
function depositPostings(inputs: DecisionInputs, lines: readonly BookedLine[]): PostingRecord[] | Decision {
  const { tx, kiosk } = inputs
  const deposits = lines.filter((l) => l.kind === 'deposit')
  if (deposits.length === 0) return []
  const which = `${tx.type} ${tx.id} at ${kiosk.id} (wristband ${tx.tag.uid})`
  const unitsBack = new Map<string, number>()
  for (const l of deposits) if (l.qty < 0) unitsBack.set(l.product, (unitsBack.get(l.product) ?? 0) - l.qty)
  for (const [product, units] of unitsBack) {
    const max = inputs.maxReturnQty(kiosk.booth, product)
    if (units > max) return refuseAndAlert('return_qty_exceeded', `${which} brings back ${units} of '${product}'; one return may bring at most ${max}`)
  }
  const own = accountIds.deposit(kiosk.booth)
  const net = deposits.reduce((sum, l) => sum + l.total, 0)
  if (net >= 0) return [{ account: own, amount: net }]
  let owed = -net
  const holders = inputs
    .depositAccounts()
    .filter((a) => a.balance > 0)
    .sort((a, b) => (a.account === own ? -1 : b.account === own ? 1 : b.balance - a.balance || a.account.localeCompare(b.account)))
  const postings: PostingRecord[] = []
  for (const holder of holders) {
    if (owed === 0) break
    const take = Math.min(owed, holder.balance)
    postings.push({ account: holder.account, amount: -take })
    owed -= take
  }
  if (owed > 0)
    return refuseAndAlert('deposit_not_handed_out', `${which} pays back ${-net} cents of deposits; the event holds only ${-net - owed} cents of deposits taken`)
  return postings
}

/** The credit side of a cart: goods to the booth's revenue, deposits as depositPostings says. */
function cartCredits(inputs: DecisionInputs, lines: readonly BookedLine[]): PostingRecord[] | Decision {
  const deposits = depositPostings(inputs, lines)
  if (!Array.isArray(deposits)) return deposits
  const revenue = lines.filter((l) => l.kind !== 'deposit').map((l) => ({ account: accountIds.revenue(inputs.kiosk.booth), amount: l.total }))
  return [...revenue, ...deposits]
}

function decideCart(inputs: DecisionInputs): Decision {
  const { tx, kiosk, wristband } = inputs
  if (!kiosk.profile.sale) return reject('sale_not_allowed')
  if (tx.lines.length === 0) return reject('invalid_transaction')
  if (wristband === undefined) return reject('unknown_tag')
  // The offline claim is honoured within the policy and its caps; beyond them the
  // cart is decided as online, so the claim gains nothing (no debt, no blocked wristband).
  const verdict: OfflineVerdict | undefined = tx.offline === true ? offlineVerdict(inputs) : undefined
  const offline = verdict?.honoured === true
  const unhonoured = verdict !== undefined && !verdict.honoured ? verdict : undefined
  /** What an online cart is refused for; named after the offline claim when the kiosk made one beyond its bounds. */
  const refuseOnline = (reason: RejectReason, balance?: number): Decision =>
    unhonoured === undefined ? reject(reason, balance) : refuseAndAlert(unhonoured.reason, `${unhonoured.message}; refused (${reason} online)`, balance)
  const effects: SideEffect[] = []
  if (unhonoured !== undefined) effects.push({ kind: 'alert', alert: unhonoured.reason, message: `${unhonoured.message}; booked as an online sale would be` })
  // Offline, the kiosk handed out the goods on the blocklist it had: book it and tell an operator.
  if (wristband.blocked) {
    if (!offline) return refuseOnline('tag_blocked')
    effects.push({ kind: 'alert', alert: 'offline_blocked', message: `offline sale ${tx.id} at ${kiosk.id} paid with blocked wristband ${tx.tag.uid}` })
  }
  // Its balance is promised to the guest's bank account. Offline, the goods are gone: book it, and the run's export
  // refuses the payout its balance no longer covers (an operator cancels that run and makes a new one).
  if (wristband.inPayoutRun === true && tx.type === 'sale') {
    if (!offline) return refuseOnline('in_payout_run')
    effects.push({ kind: 'alert', alert: 'offline_in_payout_run', message: `offline sale ${tx.id} at ${kiosk.id} paid with wristband ${tx.tag.uid}, which is in a payout run` })
  }
  const lines = priceLines(inputs, wristband, false)
  if (typeof lines === 'string') return reject(lines)
  const total = linesTotal(tx.lines)
  if (tx.type === 'sale' ? total !== tx.amount : total !== -tx.amount || tx.amount === 0) return reject('amount_mismatch')
  const credits = cartCredits(inputs, lines)
  if (!Array.isArray(credits)) return credits

  if (tx.type === 'return') {
    const postings = merge([{ account: accountIds.customer(tx.tag.uid), amount: tx.amount }, ...credits])
    return { status: 'accepted', postings, balanceAfter: wristband.balance + tx.amount, lines, effects }
  }
  const eligible = (id: string) => inputs.product(kiosk.booth, id)?.voucherEligible === true
  const vouchers = applyVouchers(tx.lines, eligible, wristband.vouchers)
  // Vouchers pay for goods, never out money: a discount in the cart lowers what they cover (a
  // discounted beer is worth less than its list price), so only returned deposits can make the
  // charge negative. Without this cap a voucher plus a discount credited the guest's balance.
  const bought = tx.lines.reduce((sum, l) => (l.qty > 0 ? sum + l.qty * l.unitPrice : sum), 0)
  const covered = Math.min(vouchers.coveredCents, Math.max(0, bought))
  const charged = tx.amount - covered
  const balanceAfter = wristband.balance - charged
  let debt: true | undefined
  // A cart that takes nothing (cups back, all paid by vouchers) never makes a balance worse: allowed even in debt.
  if (balanceAfter < 0 && charged > 0) {
    // The balance goes with this refusal so the cashier can tell the guest what is left.
    if (!offline) return refuseOnline('insufficient_balance', wristband.balance)
    // Only what this sale took below zero is a new debt: an offline sale that charges nothing to a
    // wristband already below zero adds none (a zero shortfall broke the debts CHECK and the batch).
    const shortfall = Math.min(-balanceAfter, charged)
    if (shortfall > 0) {
      debt = true
      effects.push({ kind: 'debt', uid: tx.tag.uid, shortfall })
    }
  }
  if (vouchers.used > 0) effects.push({ kind: 'vouchers', uid: tx.tag.uid, delta: -vouchers.used })
  const postings = merge([
    { account: accountIds.customer(tx.tag.uid), amount: -charged },
    ...(covered > 0 ? [{ account: accountIds.voucher(), amount: -covered }] : []),
    ...credits,
  ])
  // Voucher figures only for a wristband that has or had vouchers: a plain sale's answer stays plain.
  const extras: NonNullable<Extract<Decision, { status: 'accepted' }>['extras']> =
    wristband.vouchers > 0 ? { charged, vouchersUsed: vouchers.used, vouchers: wristband.vouchers - vouchers.used } : {}
  if (debt) extras.debt = debt
  return { status: 'accepted', postings, balanceAfter, lines, effects, ...(Object.keys(extras).length > 0 ? { extras } : {}) }
}

function decideCancel(inputs: DecisionInputs): Decision {
  const { tx, kiosk, wristband } = inputs
  if (tx.lines.length !== 0 || tx.ref === undefined) return reject('invalid_transaction')
  const target = inputs.cancelTarget(tx.ref)
  if (kiosk.profile.cancelWindowMs <= 0 || target === undefined) return reject('cancel_not_allowed')
  if (target.kiosk !== kiosk.id || target.status !== 'accepted' || target.cancelled || !target.isLast) return reject('cancel_not_allowed')
  if (target.type !== 'sale' && target.type !== 'return') return reject('cancel_not_allowed')
  if (tx.at - target.at > kiosk.profile.cancelWindowMs || tx.at < target.at) return reject('cancel_not_allowed')
  if (target.tag !== tx.tag.uid || wristband === undefined) return reject('invalid_transaction')
  if (target.amount !== tx.amount) return reject('amount_mismatch')
  // The exact negation of what was booked: revenue, deposits and vouchers all come back.
  const postings = target.postings.map((p) => ({ account: p.account, amount: -p.amount }))
  const customer = postings.find((p) => p.account === accountIds.customer(tx.tag.uid))?.amount ?? 0
  const balanceAfter = wristband.balance + customer
  if (balanceAfter < 0 && customer < 0) return reject('insufficient_balance', wristband.balance)
  // Cancelling a deposit return takes money back from the wristband: not from one whose balance is being paid out.
  if (customer < 0 && wristband.inPayoutRun === true) return reject('in_payout_run')
  // Cancelling a sale gives its deposits back to the guest: not if those cups came back already.
  for (const p of postings) {
    if (!p.account.startsWith(accountIds.deposit('')) || p.amount >= 0) continue
    const held = inputs.accountBalance(p.account)
    if (held + p.amount < 0)
      return refuseAndAlert('deposit_not_handed_out', `cancel ${tx.id} at ${kiosk.id} would take ${-p.amount} cents from ${p.account}, which holds ${held}: the deposits came back already`)
  }
  const effects: SideEffect[] = [{ kind: 'cancelled', txId: target.id }]
  if (target.vouchersUsed > 0) effects.push({ kind: 'vouchers', uid: tx.tag.uid, delta: target.vouchersUsed })
  return { status: 'accepted', postings, balanceAfter, effects, extras: { vouchers: wristband.vouchers + target.vouchersUsed } }
}

function decideTopUp(inputs: DecisionInputs): Decision {
  const { tx, kiosk, wristband } = inputs
  const card = tx.type === 'topup_card'
  if (!(card ? kiosk.profile.topupCard : kiosk.profile.topupCash)) return reject('topup_not_allowed')
  if (tx.lines.length !== 0 || tx.amount <= 0) return reject('invalid_transaction')
  // The terminal took this payment once: a second transaction naming it (any kiosk, any seq) books nothing.
  if (card && inputs.cardPaymentBooked(cardPaymentRef(tx.payment!))) return reject('duplicate_payment')
  if (wristband === undefined) return reject('unknown_tag')
  if (wristband.blocked) return reject('tag_blocked')
  const source = card ? { account: accountIds.clearing(CARD_TERMINAL_CLEARING) } : cashAccount(inputs)
  if ('reason' in source) return reject(source.reason)
  return {
    status: 'accepted',
    postings: [
      { account: source.account, amount: -tx.amount },
      { account: accountIds.customer(tx.tag.uid), amount: tx.amount },
    ],
    balanceAfter: wristband.balance + tx.amount,
    effects: [],
  }
}

function decideCashOut(inputs: DecisionInputs): Decision {
  const { tx, kiosk, wristband } = inputs
  if (!kiosk.profile.cashout) return reject('cashout_not_allowed')
  if (tx.lines.length !== 0 || tx.amount <= 0) return reject('invalid_transaction')
  if (wristband === undefined) return reject('unknown_tag')
  if (wristband.blocked) return reject('tag_blocked')
  if (wristband.inPayoutRun === true) return reject('in_payout_run')
  if (wristband.balance < tx.amount) return reject('insufficient_balance', wristband.balance)
  const drawer = cashAccount(inputs)
  if ('reason' in drawer) return reject(drawer.reason)
  return {
    status: 'accepted',
    postings: [
      { account: accountIds.customer(tx.tag.uid), amount: -tx.amount },
      { account: drawer.account, amount: tx.amount },
    ],
    balanceAfter: wristband.balance - tx.amount,
    effects: [],
  }
}

/** A staff wristband logs people in: it never becomes a guest's wristband as well. */
const isStaffBand = (inputs: DecisionInputs, uid: string): boolean => inputs.staffRoles?.(uid) !== undefined

function decideTicket(inputs: DecisionInputs): Decision {
  const { tx, kiosk, wristband } = inputs
  if (!kiosk.profile.ticketSale) return reject('ticket_not_allowed')
  if (tx.lines.length === 0 || tx.lines.some((l) => l.qty < 1)) return reject('ticket_not_allowed')
  if (wristband !== undefined || isStaffBand(inputs, tx.tag.uid)) return reject('tag_already_registered')
  const fresh: WristbandFacts = { blocked: false, balance: 0, vouchers: 0, variant: null }
  const lines = priceLines(inputs, fresh, true)
  if (typeof lines === 'string') return reject(lines)
  const topup = tx.topup ?? 0
  const ticketsTotal = linesTotal(tx.lines)
  if (ticketsTotal + topup !== tx.amount) return reject('amount_mismatch')
  const drawer = cashAccount(inputs)
  if ('reason' in drawer) return reject(drawer.reason)
  // The first ticket decides the wristband's variant (a cart sells one ticket; more would be for the same guest).
  const variant = inputs.product(kiosk.booth, tx.lines[0]!.product)?.ticketVariant ?? null
  const postings = merge([
    { account: drawer.account, amount: -tx.amount },
    { account: accountIds.revenue(kiosk.booth), amount: ticketsTotal },
    { account: accountIds.customer(tx.tag.uid), amount: topup },
  ])
  return {
    status: 'accepted',
    postings,
    balanceAfter: topup,
    lines,
    effects: [{ kind: 'register_wristband', uid: tx.tag.uid, variant }],
    extras: { newPin: true, vouchers: 0 },
  }
}

function decideTagSwitch(inputs: DecisionInputs): Decision {
  const { tx, kiosk, wristband } = inputs
  if (!kiosk.profile.tagSwitch) return reject('tag_switch_not_allowed')
  if (tx.lines.length !== 0 || tx.amount !== 0) return reject('invalid_transaction')
  if (inputs.pinRefused === true) return reject('pin_attempts_exceeded')
  const old = inputs.wristbandByPin()
  if (old === undefined) return reject('wrong_pin')
  if (wristband !== undefined || old.uid === tx.tag.uid || isStaffBand(inputs, tx.tag.uid)) return reject('tag_already_registered')
  // Moving the balance away would leave the run's payout uncovered.
  if (old.facts.inPayoutRun === true) return reject('in_payout_run')
  const balance = old.facts.balance
  return {
    status: 'accepted',
    // Both postings even for an empty wristband: the move is on record either way.
    postings: [
      { account: accountIds.customer(old.uid), amount: -balance },
      { account: accountIds.customer(tx.tag.uid), amount: balance },
    ],
    balanceAfter: balance,
    effects: [
      { kind: 'register_wristband', uid: tx.tag.uid, variant: old.facts.variant, pinFrom: old.uid },
      { kind: 'replace_wristband', oldUid: old.uid, newUid: tx.tag.uid },
      ...(old.facts.vouchers > 0
        ? [
            { kind: 'vouchers' as const, uid: old.uid, delta: -old.facts.vouchers },
            { kind: 'vouchers' as const, uid: tx.tag.uid, delta: old.facts.vouchers },
          ]
        : []),
    ],
    extras: { vouchers: old.facts.vouchers },
  }
}

function decideShift(inputs: DecisionInputs): Decision {
  const { tx, kiosk } = inputs
  if (tx.lines.length !== 0 || tx.register === undefined) return reject('invalid_transaction')
  // A till that keeps no register has none to open.
  if (!kiosk.profile.cashRegister) return reject('unknown_register')
  if (!inputs.registerExists(tx.register)) return reject('unknown_register')
  const drawer = accountIds.register(tx.register)
  const open = inputs.openShift()
  if (tx.type === 'shift_open') {
    if (open !== undefined || inputs.registerBusy(tx.register)) return reject('shift_already_open')
    return {
      status: 'accepted',
      postings: [
        { account: drawer, amount: -tx.amount },
        { account: accountIds.vault(), amount: tx.amount },
      ],
      effects: [{ kind: 'open_shift', register: tx.register, float: tx.amount }],
    }
  }
  if (open === undefined || open.register !== tx.register) return reject('no_open_shift')
  // The drawer holds cash as a negative balance (the contra side of what guests got on their wristbands).
  const expected = -inputs.accountBalance(drawer)
  const counted = tx.amount
  const difference = counted - expected
  return {
    status: 'accepted',
    // The drawer ends at zero: the counted cash goes to the vault, the difference to the imbalance account.
    postings: merge([
      { account: drawer, amount: expected },
      { account: accountIds.vault(), amount: -counted },
      { account: accountIds.imbalance(), amount: difference },
    ]),
    effects: [{ kind: 'close_shift', shiftId: open.id, counted, expected, difference }],
    extras: { expected, difference },
  }
}

export function decide(inputs: DecisionInputs): Decision {
  const { tx } = inputs
  const badTime = timeRefusal(inputs)
  if (badTime !== undefined) return badTime
  if (misplacedField(tx)) return reject('invalid_transaction')
  // A card top-up recovered after a kiosk restart may arrive with nobody logged in: the card was charged, so it is booked.
  const unattendedCardTopUp = tx.type === 'topup_card' && tx.staff === undefined
  if (inputs.staffRoles !== undefined && !unattendedCardTopUp) {
    const roles = tx.staff === undefined ? undefined : inputs.staffRoles(tx.staff)
    if (roles === undefined) return reject('staff_required')
    if (!roleAllows(roles, tx.type)) return reject('staff_not_allowed')
  }
  switch (tx.type) {
    case 'sale':
    case 'return':
      return decideCart(inputs)
    case 'cancel':
      return decideCancel(inputs)
    case 'topup_cash':
    case 'topup_card':
      return decideTopUp(inputs)
    case 'cashout':
      return decideCashOut(inputs)
    case 'ticket':
      return decideTicket(inputs)
    case 'tag_switch':
      return decideTagSwitch(inputs)
    case 'shift_open':
    case 'shift_close':
      return decideShift(inputs)
    default: {
      // The envelope schema admits only the types above; a new type must get rules here first.
      const unknownType: never = tx.type
      void unknownType
      return reject('invalid_transaction')
    }
  }
}
