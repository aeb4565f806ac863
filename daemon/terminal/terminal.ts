// The one interface every card-terminal adapter implements (ZVT over serial
// now). The kiosk flow talks only to this.
import type { EventEmitter } from 'node:events'

export type TerminalKind = 'zvt' | 'memory'

export interface CardPaymentResult {
  /**
   * approved/declined/aborted are the terminal's final word. 'unknown' means the
   * outcome could not be learnt even after recovery (status enquiry): the kiosk
   * must keep the payment open and never treat it as declined.
   */
  status: 'approved' | 'declined' | 'aborted' | 'unknown'
  amountCents: number
  /** The terminal's result code (ZVT: 0x00 = success, e.g. 0x05 = declined, 0x6C = aborted). */
  resultCode?: number
  traceNumber?: string
  receiptNumber?: string
  terminalId?: string
  /** Masked PAN only (e.g. ************1234); never the full card number. */
  maskedPan?: string
  cardType?: string
  /** From the terminal's TLV container (ZVT 1F12): 'chip', 'contactless', 'magnetic_stripe'. */
  cardTechnology?: string
  /** How the cardholder was verified (ZVT 1F10): 'online_pin', 'signature', 'none', ... */
  cardholderVerification?: string
  /** The card application's AID, upper-case hex (ZVT 43). */
  aid?: string
  /** The terminal's long-format trace number (ZVT 1F2B), digits. */
  longReceiptNumber?: string
  /** With result code FF: the terminal's extended error code and text (ZVT 1F16, 1F17), cleaned and bounded. */
  errorDetail?: string
  message?: string
}

/**
 * A reversal (ZVT 06 30) of an approved payment, named by its receipt number.
 * 'reversed': the terminal booked the reversal, the card gets the money back.
 * 'declined': the terminal refused it (already reversed, no such receipt, past
 * its day): the money is not back. 'unknown': no final answer was heard.
 */
export interface ReversalResult {
  status: 'reversed' | 'declined' | 'unknown'
  receiptNumber: string
  amountCents: number
  resultCode?: number
  /** The reversal's own trace number, when the terminal told it. */
  traceNumber?: string
  message?: string
}

/** One card type's share of the terminal's totals. */
export interface TerminalCardTotal {
  cardType: string
  count: number
  amountCents: number
}

/** What the terminal booked since its last end of day, as it reported it (ZVT 06 50). */
export interface TerminalTotals {
  totalCents: number
  count: number
  cardTypes: TerminalCardTotal[]
  /** Receipt numbers of the first and last transaction counted, when told. */
  receiptFrom?: string
  receiptTo?: string
  terminalId?: string
  traceNumber?: string
}

export type EndOfDayResult = { ok: true; totals: TerminalTotals } | { ok: false; reason: string; resultCode?: number }

export interface TerminalStatus {
  kind: TerminalKind
  connected: boolean
  busy: boolean
  terminalId?: string
  /** Monotonic counters: frames, nak, retransmits, crcErrors, timeouts, reconnects, ... */
  counters: Record<string, number>
}

/**
 * Events: 'status' (TerminalStatus), 'intermediate' (text shown to the guest,
 * e.g. "insert card"), 'terminalError' (Error; never fatal).
 */
export interface PaymentTerminal extends EventEmitter {
  readonly kind: TerminalKind
  open(): Promise<void>
  close(): Promise<void>
  /** Takes a card payment. Resolves with the outcome; recovers a lost connection by status enquiry before it answers 'unknown'. */
  pay(amountCents: number, options?: { timeoutMs?: number }): Promise<CardPaymentResult>
  /** After a restart or a lost answer: the outcome of the terminal's last transaction, or null if there is none to learn. */
  recoverLast(): Promise<CardPaymentResult | null>
  /**
   * Reverses an approved payment of this terminal by its receipt number (the
   * amount is what the kiosk expects back; the terminal reverses what it booked).
   * Never throws for a refusal: the result says what the terminal answered.
   */
  reverse(receiptNumber: string, amountCents: number): Promise<ReversalResult>
  /** Closes the terminal's day and returns its totals; a failure is a result, not an exception. */
  endOfDay(): Promise<EndOfDayResult>
  /** Asks the terminal to abort the payment in progress (ECR abort). */
  abort(): Promise<void>
  status(): TerminalStatus
}
