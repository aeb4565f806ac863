// What the kiosk promises its callers (the local API, the touchscreen, the
// demo and the tests): the one contract of daemon/kiosk.ts, written down here
// so the operation modules and the composition in kiosk.ts share it.
import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock, WristbandView } from '../../device-protocol/index.js'
import type { Reader } from '../reader/reader.js'
import type { OfflineTotals, Outbox } from '../outbox.js'
import type { PaymentTerminal } from '../terminal/terminal.js'
import type { CardCounters, CardResolution, CardTopUpHooks, CardTopUpOutcome } from '../card-topup.js'
import type { MqttLink } from '../mqtt-link.js'
import type { CatalogSource, KioskLocalState, OpenShift } from '../local-config.js'
import type { SaleLine, TicketLine } from '../cart.js'
import type { StaffSession } from '../staff-session.js'
import type { ChainRecovery, ChainState } from '../chain-guard.js'
import type { StorageFault } from './core.js'

export interface Outcome {
  /**
   * accepted/rejected: the gateway's answer. pending: no answer in time (the
   * entry stays in the outbox). offline: accepted by this kiosk while the
   * gateway was unreachable, within the offline caps: hand out the goods; the
   * gateway books it when it arrives.
   */
  status: 'accepted' | 'rejected' | 'pending' | 'offline'
  id: string
  seq: number
  amount: number
  /** Guest balance after the booking, cents (accepted/rejected answers may carry it). */
  balance?: number
  reason?: string
  /** sale: cents taken from the balance after vouchers. */
  charged?: number
  vouchersUsed?: number
  /** Vouchers left on the wristband. */
  vouchers?: number
  /** ticket: the new wristband's portal PIN; show it to the guest once, never store it. */
  pin?: string
  /** shift_close: cash the register should hold, and counted minus expected. */
  expected?: number
  difference?: number
  /** An offline sale left the balance below zero: booked as a flagged debt. */
  debt?: true
}

/** What a balance check shows the cashier. */
export type BalanceInfo = WristbandView

export interface LastSaleInfo {
  id: string
  type: 'sale' | 'return'
  amount: number
  at: number
  /** Until when (kiosk clock, Unix ms) cancelLast() may undo it. */
  cancellableUntil: number
}

export interface TicketSale {
  lines: readonly TicketLine[]
  /** Cents put on the new wristband besides the tickets. */
  topup: number
}


export interface KioskCounters extends CardCounters {
  /** Sales and returns signed. */
  sales: number
  topups: number
  /** Other transactions signed: cancels, cash-outs, tickets, tag switches, shifts. */
  otherTransactions: number
  accepted: number
  rejected: number
  /** Operations that ended without an answer in time (their entries stay in the outbox). */
  pending: number
  /** Sales and returns accepted offline. */
  offlineSales: number
  lateAnswers: number
  malformedReplies: number
  unknownReplies: number
  conflictingReplies: number
  resendRequests: number
  refused: number
  tapTimeouts: number
  badTags: number
  /** Taps of wristbands on the verified blocklist. */
  blockedTaps: number
  /** Taps refused because the wristband's variant may not buy a product of the cart. */
  restrictedTaps: number
  balanceChecks: number
  /** Balance answers that were unusable (status ok without a balance, another uid). */
  badBalanceAnswers: number
  staffLogins: number
  cardTopUpsRefused: number
  outboxDepth: number
}

export type KioskLink = Pick<MqttLink, 'publishTx' | 'resendPending' | 'onReply' | 'isReady' | 'publishQuery' | 'onReadyChange' | 'setSendGate'> & Partial<Pick<MqttLink, 'counters'>>

export interface KioskOptions {
  kioskId: string
  reader: Reader
  outbox: Outbox
  link: KioskLink
  privateKey: KeyObject
  clock: Clock
  logger: Logger
  catalog: CatalogSource
  /** Where the open shift is kept across restarts (the lowdb local config); in memory when omitted. */
  localState?: KioskLocalState
  /** How long a sale waits for the gateway before it is shown as pending; also the balance query's timeout. */
  replyTimeoutMs: number
  /** How long a sale waits for a tap. */
  tapTimeoutMs: number
  /** How long the reader LED stays lit after an answer. */
  feedbackDurationMs?: number
  newId?: () => string
  /** The card terminal for card top-ups; without one they are refused with 'terminal_unavailable'. */
  terminal?: PaymentTerminal
  /** Passed to terminal.pay (the adapter's default when omitted). */
  cardPaymentTimeoutMs?: number
  /** Test seams of the card top-up (see CardTopUpHooks). */
  cardHooks?: CardTopUpHooks
  /** The message of the remote lock in force (remote-commands.ts), null when unlocked: while locked every operation is refused with 'locked'. */
  lockedMessage?: () => string | null
}

export interface Kiosk {
  /** A cart (negative qty returns deposits): tap, sign, answer; offline within the caps when the gateway is unreachable. */
  sale(lines: readonly SaleLine[]): Promise<Outcome>
  topUp(amountCents: number): Promise<Outcome>
  /** Cashier entered an amount: tap, card payment at the terminal, and on approval a signed topup_card. */
  cardTopUp(amountCents: number): Promise<CardTopUpOutcome>
  /** A supervisor settles the open card payment (see CardResolution). */
  resolveCardPayment(resolution: CardResolution): Promise<CardTopUpOutcome>
  /** Settles card payments left open by a crash, from the terminal's last transaction. Skipped while busy. */
  recoverCardPayments(): Promise<void>
  /** Tap, ask the gateway for the balance, sign a cashout of all of it; pay out only when accepted. */
  cashOut(): Promise<Outcome>
  /** Tap the new wristband; the accepted outcome carries the guest's portal PIN. */
  sellTicket(sale: TicketSale): Promise<Outcome>
  /** The guest's portal PIN (sealed to the gateway), then a tap of the new wristband. */
  switchTag(pin: string): Promise<Outcome>
  /** Undoes this kiosk's last accepted sale or return within the profile's window; no tap. */
  cancelLast(): Promise<Outcome>
  /** Tap, then the gateway's answer about the wristband. */
  checkBalance(): Promise<BalanceInfo>
  openShift(register: string, floatCents: number): Promise<Outcome>
  closeShift(countedCents: number): Promise<Outcome>
  /** Tap of a staff wristband (and its PIN for roles that need one). */
  login(pin?: string): Promise<StaffSession>
  logout(): void
  session(): StaffSession | null
  shift(): OpenShift | null
  lastSale(): LastSaleInfo | null
  /** Unanswered offline sales of this kiosk. */
  offlineTotals(): Omit<OfflineTotals, 'tagCents'>
  /** Ends a tap wait with 'aborted' (the cashier's cancel button). Returns whether one was waiting. */
  abort(): boolean
  isBusy(): boolean
  counters(): KioskCounters
  /** Called after every change of the counters, the outbox, the session or the shift. */
  onChange(listener: () => void): void
  /** Whether the outbox's chain matches what the gateway booked (chain-guard.ts). */
  chainState(): ChainState
  /** While writes to the outbox fail (disk full, I/O error, locked): since when and the latest code; undefined while they work. */
  storageFault(): StorageFault | undefined
  /**
   * An operator confirms a damaged outbox (chain_recovery_required): it goes on
   * from the gateway's head and sends what it still holds. A supervisor's
   * session is needed where the event has staff.
   */
  confirmChainRecovery(): Promise<ChainRecovery>
  /** Ends the operation in progress: a tap wait fails with 'stopped', a reply wait ends as pending. */
  stop(): void
}
