// Answers kiosks' questions about a wristband (a balance check on a tap, the
// balance before a cash-out) and about their own chain (where the ledger's
// record of the kiosk's transactions ends, asked after every kiosk start) on
// their reply topic. Read-only: a question never changes the ledger. A kiosk may ask only so often: a stuck loop on one till
// must not load the gateway.
import type { Logger } from 'pino'
import { parseJson, publicKeyToBase64Url, validateKioskQuery, type BalanceAnswer, type ChainAnswer, type ChainQuery, type Clock, type ReplyMessage } from '../device-protocol/index.js'
import type { Ledger } from './ledger/index.js'
import type { Registry } from './registry/index.js'

export interface KioskQueriesDeps {
  ledger: Pick<Ledger, 'balanceView' | 'kioskCursor'> & { registry: Pick<Registry, 'kioskPublicKey'> }
  clock: Clock
  logger: Logger
  publishReply(kioskId: string, message: ReplyMessage): void | Promise<unknown>
  /** Raises an operator alert (`events/alert`): a kiosk whose outbox is behind the ledger. */
  alert?(kind: string, message: string, kioskId: string): void
  /** Questions per kiosk per second at most (default 20); more are dropped and counted. */
  maxPerSecond?: number
}

export interface KioskQueryCounters {
  answered: number
  malformed: number
  rateLimited: number
  failed: number
  /** Chain questions whose kiosk is behind or beside the ledger (a damaged outbox). */
  chainsBehind: number
}

export interface KioskQueries {
  /** Never throws. */
  handle(kioskId: string, payload: Uint8Array | string): void
  counters(): KioskQueryCounters
}

export function createKioskQueries(deps: KioskQueriesDeps): KioskQueries {
  const { ledger, clock, logger } = deps
  const maxPerSecond = deps.maxPerSecond ?? 20
  const counters: KioskQueryCounters = { answered: 0, malformed: 0, rateLimited: 0, failed: 0, chainsBehind: 0 }
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
      const parsed = parseJson(payload, validateKioskQuery)
      if (!parsed.ok) {
        counters.malformed++
        logger.warn({ kiosk: kioskId, reason: parsed.error.slice(0, 200) }, 'malformed kiosk query')
        return
      }
      if (!allowed(kioskId)) {
        counters.rateLimited++
        return
      }
      if (parsed.value.kind === 'chain') {
        answerChain(kioskId, parsed.value)
        return
      }
      const { requestId, uid } = parsed.value
      const view = ledger.balanceView(uid)
      const answer: BalanceAnswer =
        view === undefined
          ? { kind: 'balance', requestId, uid, status: 'unknown_tag' }
          : { kind: 'balance', requestId, uid, status: 'ok', balance: view.balance, vouchers: view.vouchers, blocked: view.blocked, debt: view.debt, recent: view.recent }
      if (view?.variant != null) answer.variant = view.variant
      send(kioskId, answer)
    } catch (err) {
      counters.failed++
      logger.error({ err, kiosk: kioskId }, 'kiosk query failed')
    }
  }

  function send(kioskId: string, answer: ReplyMessage): void {
    counters.answered++
    const sent = deps.publishReply(kioskId, answer)
    if (sent instanceof Promise) sent.catch((err: unknown) => logger.error({ err, kiosk: kioskId }, 'query answer not published'))
  }

  function answerChain(kioskId: string, query: ChainQuery): void {
    // The broker lets only an authenticated kiosk publish on its own query topic: the kiosk is known,
    // but its public key may not be enrolled yet (it logs in with its token alone).
    const cursor = ledger.kioskCursor(kioskId)
    if (cursor === undefined) {
      counters.failed++
      logger.warn({ kiosk: kioskId }, 'chain question of a kiosk the ledger does not know')
      return
    }
    // Which key the gateway checks: a kiosk not enrolled (or enrolled with another key) learns it before it signs
    // anything, instead of from refusals that do not move the ledger's cursor while its own seqs go on.
    const key = ledger.registry.kioskPublicKey(kioskId)
    const answer: ChainAnswer = { kind: 'chain', requestId: query.requestId, nextSeq: cursor.nextSeq, lastHash: cursor.lastHash, enrolledKey: key === undefined ? null : publicKeyToBase64Url(key) }
    // Behind, or the same seq on another hash: the kiosk lost or rewrote what the ledger holds. It
    // refuses to sell until an operator confirms there; the gateway tells operators too.
    if (query.nextSeq < cursor.nextSeq || (query.nextSeq === cursor.nextSeq && query.prev !== cursor.lastHash)) {
      counters.chainsBehind++
      const what = query.nextSeq < cursor.nextSeq ? `is behind the ledger: it would sign seq ${query.nextSeq}, the ledger expects ${cursor.nextSeq}` : `names another last hash than the ledger at seq ${query.nextSeq}`
      logger.error({ kiosk: kioskId, kioskNextSeq: query.nextSeq, ledgerNextSeq: cursor.nextSeq }, 'kiosk outbox is behind the ledger')
      deps.alert?.('kiosk_chain_behind', `kiosk ${kioskId} ${what}; its outbox was lost or rolled back, and it waits for an operator`, kioskId)
    }
    send(kioskId, answer)
  }

  return { handle, counters: () => ({ ...counters }) }
}
