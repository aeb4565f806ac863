// The kiosk flow: ring up → tap → sign → outbox → publish → answer → feedback.
//
// It knows the reader only through the Reader interface and the gateway only
// through the link, and refuses anything it can already tell is wrong (empty
// cart, unknown product, a till profile or a staff role that does not allow it,
// outbox full, a blocked or restricted wristband) before anything is signed.
// One operation at a time: a kiosk has one reader and one guest in front of it.
// The config is read from the catalog source at each step, never kept: a new
// config from the gateway applies to the next operation.
//
// This file composes the kiosk: a small core (kiosk/core.ts: tap, sign,
// outbox, answer) and one module per kind of operation on top of it (sales
// and returns, top-ups and cash-outs, cash shifts, tickets and tag switches,
// staff). The contract callers see is kiosk/types.ts.
import { v7 as uuidv7 } from 'uuid'
import { createStaffSessions } from './staff-session.js'
import { createKioskCore, memoryState } from './kiosk/core.js'
import { createSaleOperations } from './kiosk/sale.js'
import { createTopUpOperations } from './kiosk/topups.js'
import { createShiftOperations } from './kiosk/shifts.js'
import { createTicketOperations } from './kiosk/tickets.js'
import { createStaffOperations } from './kiosk/staff.js'
import type { Kiosk, KioskOptions } from './kiosk/types.js'

export { KIOSK_ERROR_TYPES, KioskError, type KioskErrorType } from './kiosk-error.js'
export type { SaleLine, TicketLine } from './cart.js'
export type { BalanceInfo, Kiosk, KioskCounters, KioskLink, KioskOptions, LastSaleInfo, Outcome, TicketSale } from './kiosk/types.js'

export function createKiosk(options: KioskOptions): Kiosk {
  const { clock, link, outbox } = options
  const core = createKioskCore({
    kioskId: options.kioskId,
    reader: options.reader,
    outbox,
    link,
    privateKey: options.privateKey,
    clock,
    logger: options.logger,
    catalog: options.catalog,
    localState: options.localState ?? memoryState(),
    sessions: createStaffSessions(clock),
    newId: options.newId ?? (() => uuidv7()),
    replyTimeoutMs: options.replyTimeoutMs,
    tapTimeoutMs: options.tapTimeoutMs,
    feedbackDurationMs: options.feedbackDurationMs ?? 1_500,
    lockedMessage: options.lockedMessage ?? (() => null),
  })
  const sales = createSaleOperations(core)
  const { cardCounters, ...topUps } = createTopUpOperations(core, { terminal: options.terminal, cardPaymentTimeoutMs: options.cardPaymentTimeoutMs, cardHooks: options.cardHooks })
  const shifts = createShiftOperations(core, { terminal: options.terminal })
  const tickets = createTicketOperations(core)
  const staff = createStaffOperations(core)

  return {
    ...sales,
    ...topUps,
    ...shifts,
    ...tickets,
    ...staff,
    offlineTotals() {
      const { kioskCents, count } = outbox.offlineTotals()
      return { kioskCents, count }
    },
    abort: () => core.abortTap(),
    isBusy: () => core.isBusy(),
    counters: () => ({
      ...core.counters(),
      ...cardCounters(),
      malformedReplies: link.counters?.().malformedReplies ?? 0,
      outboxDepth: outbox.depth(),
    }),
    onChange: (listener) => core.onChange(listener),
    chainState: () => core.chainState(),
    storageFault: () => core.storageFault(),
    confirmChainRecovery: () => core.confirmChainRecovery(),
    stop: () => core.stop(),
  }
}
