// Test-only: a PaymentTerminal that tests script by hand (what pay() answers,
// what recoverLast() tells), and that remembers its last transaction the way
// a real terminal's journal does.
import { EventEmitter } from 'node:events'
import type { CardPaymentResult, EndOfDayResult, PaymentTerminal, ReversalResult, TerminalStatus } from '../terminal/terminal.js'

export type PayScript = (amountCents: number, terminal: FakeTerminal) => CardPaymentResult | Promise<CardPaymentResult>

export class FakeTerminal extends EventEmitter implements PaymentTerminal {
  readonly kind = 'memory' as const
  connected = false
  /** What status() says of a payment in progress (tests set it; setBusy() also tells 'status' listeners). */
  busy = false
  readonly terminalId: string
  readonly payCalls: number[] = []
  recoverCalls = 0
  abortCalls = 0
  /** The terminal's last transaction, as its journal would tell it. */
  last: CardPaymentResult | null = null
  /** What pay() does; by default it approves. */
  onPay: PayScript = (amount) => this.approve(amount)
  /** When set, recoverLast() answers this instead of `last` (an Error is thrown). */
  recoverAnswer: CardPaymentResult | null | Error | undefined
  private trace = 0

  constructor(terminalId = '52500038') {
    super()
    this.terminalId = terminalId
  }

  async open(): Promise<void> {
    this.connected = true
    this.emit('status', this.status())
  }

  async close(): Promise<void> {
    this.connected = false
    this.emit('status', this.status())
  }

  async pay(amountCents: number): Promise<CardPaymentResult> {
    this.payCalls.push(amountCents)
    return this.onPay(amountCents, this)
  }

  async recoverLast(): Promise<CardPaymentResult | null> {
    this.recoverCalls += 1
    if (this.recoverAnswer instanceof Error) throw this.recoverAnswer
    return this.recoverAnswer !== undefined ? this.recoverAnswer : this.last
  }

  /** Every reverse() call. */
  readonly reverseCalls: { receiptNumber: string; amountCents: number }[] = []
  /** What reverse() answers; by default the terminal reverses it. */
  onReverse: (receiptNumber: string, amountCents: number) => ReversalResult | Promise<ReversalResult> = (receiptNumber, amountCents) => ({ status: 'reversed', receiptNumber, amountCents, resultCode: 0 })
  /** What endOfDay() answers. */
  endOfDayAnswer: EndOfDayResult = { ok: true, totals: { totalCents: 0, count: 0, cardTypes: [] } }

  async reverse(receiptNumber: string, amountCents: number): Promise<ReversalResult> {
    this.reverseCalls.push({ receiptNumber, amountCents })
    return this.onReverse(receiptNumber, amountCents)
  }

  async endOfDay(): Promise<EndOfDayResult> {
    return this.endOfDayAnswer
  }

  setBusy(busy: boolean): void {
    this.busy = busy
    this.emit('status', this.status())
  }

  async abort(): Promise<void> {
    this.abortCalls += 1
  }

  status(): TerminalStatus {
    return { kind: 'memory', connected: this.connected, busy: this.busy, terminalId: this.terminalId, counters: { payments: this.payCalls.length } }
  }

  /** A new approved transaction in the journal (next trace and receipt number). */
  approve(amountCents: number, extra: Partial<CardPaymentResult> = {}): CardPaymentResult {
    this.trace += 1
    this.last = {
      status: 'approved',
      amountCents,
      resultCode: 0,
      traceNumber: String(this.trace).padStart(6, '0'),
      receiptNumber: String(this.trace).padStart(4, '0'),
      terminalId: this.terminalId,
      maskedPan: '************0119',
      cardType: 'girocard',
      ...extra,
    }
    return this.last
  }

  /** A declined (or aborted) transaction in the journal. */
  refuse(amountCents: number, status: 'declined' | 'aborted' = 'declined'): CardPaymentResult {
    this.trace += 1
    this.last = { status, amountCents, resultCode: status === 'declined' ? 0x05 : 0x6c, traceNumber: String(this.trace).padStart(6, '0'), terminalId: this.terminalId }
    return this.last
  }
}
