// Cash register shifts: opened with a float and closed with the counted cash,
// booked on the logged-in staff member's wristband. The open shift is kept in
// the local state once the gateway accepts it (late answers too). Closing a
// shift at a kiosk with a ZVT card terminal first closes the terminal's day
// (06 50) and signs its totals into the shift_close; a terminal that fails
// does not hold the close up: the shift_close says the totals are missing and why.
import type { TerminalTotals, Transaction } from '../../device-protocol/index.js'
import { MAX_AMOUNT_CENTS } from '../../device-protocol/index.js'
import type { TagInfo } from '../reader/reader.js'
import type { EndOfDayResult, PaymentTerminal } from '../terminal/terminal.js'
import type { OpenShift } from '../local-config.js'
import { validAmount, type KioskCore } from './core.js'
import type { Outcome } from './types.js'

export interface ShiftOperations {
  openShift(register: string, floatCents: number): Promise<Outcome>
  closeShift(countedCents: number): Promise<Outcome>
  shift(): OpenShift | null
}

const printable = (text: string, max: number) => text.replace(/[^\x20-\x7E]/g, '?').slice(0, max) || '?'
const MAX_TOTAL_COUNT = 1_000_000

/** The terminal's end of day as the shift_close carries it, within the bounds the gateway checks. */
export function terminalTotalsOf(day: EndOfDayResult): TerminalTotals {
  if (!day.ok) return { status: 'missing', reason: printable(day.reason, 200) }
  const { totals } = day
  const cardTypes = totals.cardTypes.slice(0, 16).map((c) => ({ cardType: c.cardType.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 32) || 'other', count: c.count, amountCents: c.amountCents }))
  const amounts = [totals.totalCents, ...cardTypes.map((c) => c.amountCents)]
  const counts = [totals.count, ...cardTypes.map((c) => c.count)]
  if (amounts.some((a) => !validAmount(a, 0)) || counts.some((n) => !Number.isInteger(n) || n < 0 || n > MAX_TOTAL_COUNT)) {
    return { status: 'missing', reason: 'the terminal reported totals beyond what a shift report holds' }
  }
  return {
    status: 'ok',
    ...(totals.terminalId !== undefined && /^[A-Za-z0-9._:-]{1,64}$/.test(totals.terminalId) ? { terminalId: totals.terminalId } : {}),
    totalCents: totals.totalCents,
    count: totals.count,
    cardTypes,
  }
}

export function createShiftOperations(core: KioskCore, options: { terminal?: PaymentTerminal | undefined } = {}): ShiftOperations {
  const { localState, logger, sessions } = core
  const { terminal } = options

  /** The ZVT terminal's end of day; never throws, never holds the shift close up. */
  async function terminalEndOfDay(): Promise<TerminalTotals | undefined> {
    if (!terminal || terminal.kind !== 'zvt') return undefined
    const day = await terminal.endOfDay().catch((err: Error): EndOfDayResult => ({ ok: false, reason: err.message }))
    const totals = terminalTotalsOf(day)
    if (totals.status === 'missing') logger.warn({ reason: totals.reason }, 'shift closed without the card terminal\'s totals')
    return totals
  }

  /** The gateway accepted a shift transaction: the open shift changes (the core reports once this is stored). */
  core.onAccepted((tx: Transaction) => {
    let next: OpenShift | undefined
    if (tx.type === 'shift_open' && tx.register !== undefined) next = { register: tx.register, openedAt: tx.at, staff: tx.staff ?? null, floatCents: tx.amount }
    else if (tx.type !== 'shift_close') return undefined
    return localState.setShift(next).catch((err: Error) => logger.error({ err: err.message }, 'storing the shift failed'))
  })

  /**
   * A shift is booked on the logged-in staff member's wristband (no new tap);
   * without a staff list the cashier taps their own wristband.
   */
  async function shiftTag(): Promise<TagInfo> {
    const session = sessions.current()
    if (session) return { uid: session.uid, type: session.tagType }
    core.requireReader()
    return core.tap()
  }

  async function openShift(register: string, floatCents: number): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'shift_open')
      if (typeof register !== 'string' || !(config.registers ?? []).some((r) => r.id === register)) core.refuse('unknown_register', `no cash register ${JSON.stringify(String(register)).slice(0, 80)} at this kiosk`)
      const open = localState.shift()
      if (open) core.refuse('shift_already_open', `a shift is open on register ${open.register} since ${new Date(open.openedAt).toISOString()}`)
      if (!validAmount(floatCents, 0)) core.refuse('invalid_amount', `the opening float must be a whole number of cents from 0 to ${MAX_AMOUNT_CENTS}`)
      core.requireOnline('opening a shift')
      core.requireOutboxRoom()
      await core.requireChain()
      const tag = await shiftTag()
      return core.sendAndAwait(core.append({ type: 'shift_open', lines: [], amount: floatCents, register, staff }, tag), floatCents)
    })
  }

  async function closeShift(countedCents: number): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'shift_close')
      const open = localState.shift()
      if (!open) core.refuse('no_open_shift', 'no shift is open at this kiosk')
      if (!validAmount(countedCents, 0)) core.refuse('invalid_amount', `the counted cash must be a whole number of cents from 0 to ${MAX_AMOUNT_CENTS}`)
      core.requireOnline('closing a shift')
      core.requireOutboxRoom()
      await core.requireChain()
      const tag = await shiftTag()
      const terminalTotals = await terminalEndOfDay()
      return core.sendAndAwait(core.append({ type: 'shift_close', lines: [], amount: countedCents, register: open.register, staff, ...(terminalTotals ? { terminalTotals } : {}) }, tag), countedCents)
    })
  }

  return { openShift, closeShift, shift: () => localState.shift() ?? null }
}
