// Answers kiosks' questions about a wristband (a balance check on a tap, the
// balance before a cash-out) on their reply topic. Read-only: a question never
// changes the ledger. A kiosk may ask only so often: a stuck loop on one till
// must not load the gateway.
import type { Logger } from 'pino'
import { parseJson, validateBalanceQuery, type BalanceAnswer, type Clock, type ReplyMessage } from '../device-protocol/index.js'
import type { Ledger } from './ledger/index.js'

export interface KioskQueriesDeps {
  ledger: Pick<Ledger, 'balanceView'>
  clock: Clock
  logger: Logger
  publishReply(kioskId: string, message: ReplyMessage): void | Promise<unknown>
  /** Questions per kiosk per second at most (default 20); more are dropped and counted. */
  maxPerSecond?: number
}

export interface KioskQueryCounters {
  answered: number
  malformed: number
  rateLimited: number
  failed: number
}

export interface KioskQueries {
  /** Never throws. */
  handle(kioskId: string, payload: Uint8Array | string): void
  counters(): KioskQueryCounters
}

export function createKioskQueries(deps: KioskQueriesDeps): KioskQueries {
  const { ledger, clock, logger } = deps
  const maxPerSecond = deps.maxPerSecond ?? 20
  const counters: KioskQueryCounters = { answered: 0, malformed: 0, rateLimited: 0, failed: 0 }
  const windows = new Map<string, { second: number; count: number }>()

  function allowed(kioskId: string): boolean {
    const second = Math.floor(clock.now() / 1000)
    const window = windows.get(kioskId)
    if (window === undefined || window.second !== second) {
      windows.set(kioskId, { second, count: 1 })
      return true
    }
    window.count += 1
    return window.count <= maxPerSecond
  }

  function handle(kioskId: string, payload: Uint8Array | string): void {
    try {
      const parsed = parseJson(payload, validateBalanceQuery)
      if (!parsed.ok) {
        counters.malformed++
        logger.warn({ kiosk: kioskId, reason: parsed.error.slice(0, 200) }, 'malformed kiosk query')
        return
      }
      if (!allowed(kioskId)) {
        counters.rateLimited++
        return
      }
      const { requestId, uid } = parsed.value
      const view = ledger.balanceView(uid)
      const answer: BalanceAnswer =
        view === undefined
          ? { kind: 'balance', requestId, uid, status: 'unknown_tag' }
          : { kind: 'balance', requestId, uid, status: 'ok', balance: view.balance, vouchers: view.vouchers, blocked: view.blocked, debt: view.debt, recent: view.recent }
      if (view?.variant != null) answer.variant = view.variant
      counters.answered++
      const sent = deps.publishReply(kioskId, answer)
      if (sent instanceof Promise) sent.catch((err: unknown) => logger.error({ err, kiosk: kioskId }, 'query answer not published'))
    } catch (err) {
      counters.failed++
      logger.error({ err, kiosk: kioskId }, 'kiosk query failed')
    }
  }

  return { handle, counters: () => ({ ...counters }) }
}
