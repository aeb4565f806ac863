// Sends the oldest unanswered transaction again when the gateway leaves it
// unanswered, instead of waiting for the next reconnect or the next sale.
//
// A transaction can reach the broker and still never reach a gateway that
// books it: with several gateways on an external broker, a gateway that died
// keeps its turn of the shared subscription and what it held until its
// session ends or it returns, and a broker may drop what a session held when
// the session expires. The gateway books by id, so a transaction sent twice is
// booked once and answered with its first answer; and once the oldest one is
// booked, the gateway asks for whatever else it lacks (a ResendRequest at the
// gap). So sending only the oldest unanswered entry again is enough to get a
// stuck chain moving, at one message per kiosk per try.
//
// The first try waits firstAfterMs after this kiosk first saw that entry at
// the head, so a sale answered in the usual milliseconds is never sent twice;
// the tries after it back off (doubling up to maxAfterMs), so a gateway that
// is down for an hour does not find thousands of copies queued at the broker.
// A new head (the old one was answered) starts over. Nothing is sent while
// the link is down (the connect sends every pending entry) or while the chain
// guard holds sending back (publishTx refuses then).
import type { Logger } from 'pino'
import type { Clock } from '../device-protocol/index.js'
import type { MqttLink } from './mqtt-link.js'
import type { Outbox } from './outbox.js'

export interface NudgeTimers {
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
}

export interface UnansweredNudgeOptions {
  outbox: Pick<Outbox, 'pending'>
  link: Pick<MqttLink, 'isReady' | 'publishTx'>
  clock: Clock
  logger: Logger
  /** How often the head is looked at. */
  checkIntervalMs?: number
  /** How long an entry waits at the head, unanswered, before it is sent again the first time. */
  firstAfterMs?: number
  /** The longest wait between tries. */
  maxAfterMs?: number
  timers?: NudgeTimers
}

export interface UnansweredNudge {
  start(): void
  stop(): void
  /** One look at the head (the timer's tick; tests call it directly). */
  check(): void
  /** How many times an entry was sent again. */
  sent(): number
}

const unrefTimers: NudgeTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
}

export function createUnansweredNudge(options: UnansweredNudgeOptions): UnansweredNudge {
  const { outbox, link, clock, logger } = options
  const checkIntervalMs = options.checkIntervalMs ?? 2_000
  const firstAfterMs = options.firstAfterMs ?? 10_000
  const maxAfterMs = options.maxAfterMs ?? 300_000
  const timers = options.timers ?? unrefTimers
  let timer: unknown
  let sentCount = 0
  /** The head being watched: its seq, when it was first seen there, when to try next and the wait after that. */
  let watched: { seq: number; since: number; nextAt: number; afterMs: number } | undefined

  function check(): void {
    const head = outbox.pending({ limit: 1 })[0]
    if (head === undefined) {
      watched = undefined
      return
    }
    const now = clock.now()
    if (watched === undefined || watched.seq !== head.seq) {
      watched = { seq: head.seq, since: now, nextAt: now + firstAfterMs, afterMs: firstAfterMs }
      return
    }
    if (now < watched.nextAt || !link.isReady()) return
    if (!link.publishTx(head.envelope)) return
    sentCount += 1
    logger.info({ seq: head.seq, id: head.id, unansweredForMs: now - watched.since }, 'oldest unanswered transaction sent again')
    watched.afterMs = Math.min(watched.afterMs * 2, maxAfterMs)
    watched.nextAt = now + watched.afterMs
  }

  return {
    start() {
      if (timer === undefined) timer = timers.setInterval(check, checkIntervalMs)
    },
    stop() {
      if (timer === undefined) return
      timers.clearInterval(timer)
      timer = undefined
    },
    check,
    sent: () => sentCount,
  }
}
