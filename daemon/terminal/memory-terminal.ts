// An in-process PaymentTerminal for tests of the kiosk flow: each payment
// follows a scripted outcome (approve, decline, abort, unknown, or hold until
// the test releases it or abort() is called). Reversals find the approved
// payment by receipt number (once); end of day totals the approved payments
// not reversed since the last one. No I/O.
import { EventEmitter } from 'node:events'
import type { CardPaymentResult, EndOfDayResult, PaymentTerminal, ReversalResult, TerminalStatus } from './terminal.js'

export type MemoryTerminalStep =
  | { kind: 'approve' }
  | { kind: 'decline'; resultCode?: number }
  | { kind: 'abort' }
  | { kind: 'unknown'; actually?: 'approved' | 'declined' }
  /** Waits for release() (approves) or abort() (aborts). */
  | { kind: 'hold' }
  /** pay() rejects: no payment started (terminal unreachable). */
  | { kind: 'fail'; message?: string }

export interface MemoryTerminal extends PaymentTerminal {
  readonly kind: 'memory'
  /** Outcomes for the next payments, in order; approve when empty. */
  script(...steps: MemoryTerminalStep[]): void
  /** Every pay() call with its result (unknown payments show what the terminal really did). */
  readonly payments: readonly { amountCents: number; result: CardPaymentResult }[]
  /** Finishes a held payment as approved. */
  release(): void
  connected: boolean
  /** Outcomes for the next reversals, in order; when empty a reversal follows the journal (reversed once, then 0xB4 already reversed). */
  scriptReversals(...outcomes: ('reversed' | 'declined' | 'unknown')[]): void
  /** Every reverse() call with its result. */
  readonly reversals: readonly ReversalResult[]
  /** When set, the next end of day fails with this reason. */
  failEndOfDay: string | undefined
}

export function createMemoryTerminal(options: { terminalId?: string; firstTrace?: number } = {}): MemoryTerminal {
  const terminalId = options.terminalId ?? '29001234'
  let trace = options.firstTrace ?? 1
  const steps: MemoryTerminalStep[] = []
  const payments: { amountCents: number; result: CardPaymentResult }[] = []
  const counters = { payments: 0, approved: 0, declined: 0, aborted: 0, unknown: 0 }
  let busy = false
  let held: ((how: 'release' | 'abort') => void) | null = null
  /** What the terminal really did with the last payment (the kiosk may have heard 'unknown'). */
  let journalLast: CardPaymentResult | null = null
  const reversalScript: ('reversed' | 'declined' | 'unknown')[] = []
  const reversals: ReversalResult[] = []
  const reversedReceipts = new Set<string>()
  /** Approved payments since the last end of day. */
  let day: CardPaymentResult[] = []

  const terminal = new EventEmitter() as MemoryTerminal
  terminal.connected = true

  function numbered(status: CardPaymentResult['status'], amountCents: number, resultCode: number): CardPaymentResult {
    const n = trace++
    return {
      status,
      amountCents,
      resultCode,
      traceNumber: String(n).padStart(6, '0'),
      receiptNumber: String(n % 10_000).padStart(4, '0'),
      terminalId,
      ...(status === 'approved' ? { maskedPan: '************0000', cardType: 'memory' } : {}),
    }
  }

  function status(): TerminalStatus {
    return { kind: 'memory', connected: terminal.connected, busy, terminalId, counters: { ...counters } }
  }

  return Object.assign(terminal, {
    kind: 'memory' as const,
    payments,
    reversals,
    failEndOfDay: undefined,
    status,
    scriptReversals(...outcomes: ('reversed' | 'declined' | 'unknown')[]) {
      reversalScript.push(...outcomes)
    },
    async reverse(receiptNumber: string, amountCents: number): Promise<ReversalResult> {
      const original = day.find((p) => p.receiptNumber === receiptNumber)
      const scripted = reversalScript.shift()
      let result: ReversalResult
      if (scripted === 'unknown') result = { status: 'unknown', receiptNumber, amountCents, message: 'reversal outcome not heard (memory terminal script)' }
      else if (scripted === 'declined') result = { status: 'declined', receiptNumber, amountCents, resultCode: 0xb5, message: 'reversal not possible (memory terminal script)' }
      else if (!original) result = { status: 'declined', receiptNumber, amountCents, resultCode: 0xb5, message: 'no such receipt' }
      else if (reversedReceipts.has(receiptNumber)) result = { status: 'declined', receiptNumber, amountCents, resultCode: 0xb4, message: 'already reversed' }
      else {
        reversedReceipts.add(receiptNumber)
        result = { status: 'reversed', receiptNumber, amountCents: original.amountCents, resultCode: 0, traceNumber: String(trace++).padStart(6, '0') }
      }
      reversals.push(result)
      return result
    },
    async endOfDay(): Promise<EndOfDayResult> {
      if (terminal.failEndOfDay !== undefined) {
        const reason = terminal.failEndOfDay
        terminal.failEndOfDay = undefined
        return { ok: false, reason }
      }
      const counted = day.filter((p) => !reversedReceipts.has(p.receiptNumber ?? ''))
      day = []
      const totalCents = counted.reduce((a, p) => a + p.amountCents, 0)
      return { ok: true, totals: { totalCents, count: counted.length, cardTypes: counted.length > 0 ? [{ cardType: 'other', count: counted.length, amountCents: totalCents }] : [], terminalId } }
    },
    script(...more: MemoryTerminalStep[]) {
      steps.push(...more)
    },
    async open() {},
    async close() {
      held?.('abort')
    },
    async pay(amountCents: number): Promise<CardPaymentResult> {
      if (!Number.isSafeInteger(amountCents) || amountCents <= 0) throw new RangeError(`amount must be a positive integer number of cents, got ${amountCents}`)
      if (busy) throw new Error('a card payment is already in progress')
      if (!terminal.connected) throw new Error('card terminal not connected; no payment was started')
      const step = steps.shift() ?? { kind: 'approve' }
      if (step.kind === 'fail') throw new Error(step.message ?? 'card terminal not connected; no payment was started')
      busy = true
      counters.payments++
      try {
        let result: CardPaymentResult
        switch (step.kind) {
          case 'approve':
            result = numbered('approved', amountCents, 0)
            break
          case 'decline':
            result = numbered('declined', amountCents, step.resultCode ?? 0x05)
            break
          case 'abort':
            result = { status: 'aborted', amountCents, resultCode: 0x6c }
            break
          case 'hold': {
            terminal.emit('intermediate', 'insert card')
            const how = await new Promise<'release' | 'abort'>((resolve) => (held = resolve))
            held = null
            result = how === 'release' ? numbered('approved', amountCents, 0) : { status: 'aborted', amountCents, resultCode: 0x6c }
            break
          }
          case 'unknown': {
            journalLast = step.actually === 'approved' ? numbered('approved', amountCents, 0) : step.actually === 'declined' ? numbered('declined', amountCents, 0x05) : null
            const heard: CardPaymentResult = { status: 'unknown', amountCents, message: 'outcome could not be learnt (memory terminal script)' }
            counters.unknown++
            payments.push({ amountCents, result: heard })
            return heard
          }
        }
        if (result.traceNumber) journalLast = result
        if (result.status === 'approved') day.push(result)
        counters[result.status as 'approved' | 'declined' | 'aborted']++
        payments.push({ amountCents, result })
        return result
      } finally {
        busy = false
      }
    },
    async recoverLast() {
      return journalLast ? { ...journalLast } : null
    },
    async abort() {
      held?.('abort')
    },
    release() {
      held?.('release')
    },
  })
}
