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
  /** Asks the terminal to abort the payment in progress (ECR abort). */
  abort(): Promise<void>
  status(): TerminalStatus
}
