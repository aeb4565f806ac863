// The gateway's one limiter of PIN guessing, shared by every place that checks
// a guest's PIN: portal login, the users API's wristband link, a kiosk's tag
// switch. It counts WRONG guesses only, and never by anything taken from the
// PIN: a limit keyed by the PIN (its first characters, its wristband) lets a
// stranger spend it and lock that guest out. Instead:
//
// - per source (an IPv4 address, an IPv6 /64, a kiosk): at most
//   `perSourceWrongMax` wrong guesses per window;
// - per event: once `eventWrongBudget` wrong guesses are spent in a window,
//   only sources with fewer than `perSourceWrongMaxOnceBudgetSpent` wrong
//   guesses of their own are still checked (a guest may mistype once; a guest
//   typing the right PIN from an address that has not been guessing is never
//   refused because of others);
// - per event, hard: at most `eventWrongHardMax` wrong guesses per window,
//   whoever makes them. Reaching it takes more fresh sources in one window
//   than an attacker plausibly has (see DEFAULT_PIN_ATTEMPT_LIMITS), and it
//   keeps the event-wide bound where it was before this limiter.
//
// So an attacker with A sources gets at most
// min(eventWrongHardMax, eventWrongBudget + A × perSourceWrongMaxOnceBudgetSpent)
// PINs checked per window. Windows are fixed (they start at a source's, or the
// event's, first counted wrong guess after the previous one ended). Counters
// live in memory: a restart forgets them.
import { isIPv6 } from 'node:net'
import { Address6 } from 'ip-address'
import type { Logger } from 'pino'
import type { Clock } from '../device-protocol/index.js'
import type { PinAttempt, PinAttemptLimiter, PinAttemptRefusal, PinCheckSource } from '../portal-api/index.js'

export interface PinAttemptLimits {
  windowMs: number
  /** Wrong guesses one source may make per window. */
  perSourceWrongMax: number
  /** Wrong guesses (all sources) per window before sources that have failed are refused. */
  eventWrongBudget: number
  /** Once the budget is spent: a source is still checked while it has fewer wrong guesses than this. */
  perSourceWrongMaxOnceBudgetSpent: number
  /** Wrong guesses (all sources) per window after which no PIN is checked. */
  eventWrongHardMax: number
  /** Sources remembered at once; beyond that the oldest window is forgotten (the event counts stay). */
  maxTrackedSources: number
}

/**
 * PINs are 8 to 32 symbols of a 32-symbol alphabet (at least 2^40). The hard
 * maximum is the bound the portal had before (20 guesses per hour for each of
 * the 32,768 three-symbol prefixes = 655,360 an hour), so the event-wide bound
 * is never looser; the budget of 10,000 wrong guesses an hour is about ten
 * times what the guests of a 100,000-wristband event mistype at peak.
 */
export const DEFAULT_PIN_ATTEMPT_LIMITS: PinAttemptLimits = {
  windowMs: 60 * 60_000,
  perSourceWrongMax: 10,
  eventWrongBudget: 10_000,
  perSourceWrongMaxOnceBudgetSpent: 2,
  eventWrongHardMax: 655_360,
  maxTrackedSources: 200_000,
}

/** Wrong guesses counted in one window. */
export interface WrongGuessWindow {
  startMs: number
  wrong: number
}

export type PinAttemptDecision = { ok: true } | { ok: false; reason: PinAttemptRefusal; retryAfterMs: number }

/** Wrong guesses of a window that is still running at `nowMs`. */
function liveWrong(window: WrongGuessWindow | undefined, nowMs: number, windowMs: number): number {
  return window !== undefined && nowMs < window.startMs + windowMs ? window.wrong : 0
}

/** Whether a source may have a PIN checked now. Pure: counts in, decision out. */
export function decidePinAttempt(
  limits: PinAttemptLimits,
  nowMs: number,
  event: WrongGuessWindow | undefined,
  source: WrongGuessWindow | undefined,
): PinAttemptDecision {
  const eventWrong = liveWrong(event, nowMs, limits.windowMs)
  const sourceWrong = liveWrong(source, nowMs, limits.windowMs)
  const eventEndsInMs = event === undefined ? 0 : event.startMs + limits.windowMs - nowMs
  const sourceEndsInMs = source === undefined ? 0 : source.startMs + limits.windowMs - nowMs
  if (eventWrong >= limits.eventWrongHardMax) return { ok: false, reason: 'event_hard_max', retryAfterMs: eventEndsInMs }
  if (sourceWrong >= limits.perSourceWrongMax) return { ok: false, reason: 'source_limit', retryAfterMs: sourceEndsInMs }
  if (eventWrong >= limits.eventWrongBudget && sourceWrong >= limits.perSourceWrongMaxOnceBudgetSpent)
    // Free again when either its own failures or the event's budget are forgotten.
    return { ok: false, reason: 'event_budget_spent', retryAfterMs: Math.min(eventEndsInMs, sourceEndsInMs) }
  return { ok: true }
}

/** The key a source is counted under: IPv4 address, IPv6 /64 (an IPv4-mapped IPv6 address is its IPv4), kiosk id. */
export function pinSourceKey(source: PinCheckSource): string {
  if ('kiosk' in source) return `kiosk:${source.kiosk}`
  const ip = source.address
  if (!isIPv6(ip)) return `ip:${ip.toLowerCase().slice(0, 64)}`
  try {
    const address = new Address6(ip)
    if (address.isMapped4()) return `ip:${address.to4().correctForm()}`
    return `ip:${new Address6(`${address.correctForm()}/64`).startAddress().correctForm()}/64`
  } catch {
    // isIPv6 said yes, so unreachable; a key all the same, never a crash.
    return `ip:${ip.toLowerCase().slice(0, 64)}`
  }
}

export interface PinAttemptCounters {
  /** Attempts allowed (each was a PIN check). */
  checked: number
  /** Of those, counted as wrong (not refunded). */
  wrong: number
  refusedSourceLimit: number
  refusedBudgetSpent: number
  refusedHardMax: number
}

export interface GatewayPinAttempts extends PinAttemptLimiter {
  counters(): PinAttemptCounters
}

export interface PinAttemptsDeps {
  clock: Clock
  logger: Logger
  limits?: Partial<PinAttemptLimits>
}

export function createPinAttempts(deps: PinAttemptsDeps): GatewayPinAttempts {
  const { clock } = deps
  const log = deps.logger.child({ component: 'pin-attempts' })
  const limits: PinAttemptLimits = { ...DEFAULT_PIN_ATTEMPT_LIMITS, ...deps.limits }
  let event: WrongGuessWindow = { startMs: -Infinity, wrong: 0 }
  // Insertion order is window-start order (a new window is inserted anew), so expired entries sit at the front.
  const sources = new Map<string, WrongGuessWindow>()
  const counters: PinAttemptCounters = { checked: 0, wrong: 0, refusedSourceLimit: 0, refusedBudgetSpent: 0, refusedHardMax: 0 }
  /** What was logged for the current event window, so each transition is logged once. */
  let logged = { budget: false, hard: false, evicting: false }

  function forgetExpired(nowMs: number): void {
    for (const [key, window] of sources) {
      if (nowMs < window.startMs + limits.windowMs) break
      sources.delete(key)
    }
  }

  function attempt(source: PinCheckSource): PinAttempt {
    const nowMs = clock.now()
    const key = pinSourceKey(source)
    forgetExpired(nowMs)
    if (nowMs >= event.startMs + limits.windowMs) {
      event = { startMs: nowMs, wrong: 0 }
      logged = { budget: false, hard: false, evicting: false }
    }
    const decision = decidePinAttempt(limits, nowMs, event, sources.get(key))
    if (!decision.ok) {
      switch (decision.reason) {
        case 'source_limit':
          counters.refusedSourceLimit++
          break
        case 'event_budget_spent':
          counters.refusedBudgetSpent++
          break
        case 'event_hard_max':
          counters.refusedHardMax++
          break
        default: {
          const unreachable: never = decision.reason
          throw new Error(`unknown refusal ${String(unreachable)}`)
        }
      }
      return { allowed: false, reason: decision.reason, retryAfterMs: decision.retryAfterMs }
    }

    let own = sources.get(key)
    if (own !== undefined && nowMs >= own.startMs + limits.windowMs) {
      // Ended (left behind only if the clock stepped back): a new window, at the end of the order.
      sources.delete(key)
      own = undefined
    }
    if (own === undefined) {
      if (sources.size >= limits.maxTrackedSources) {
        // Forgetting the oldest source lets it guess again; the event counts (and so the bound) stay.
        const oldest = sources.keys().next().value
        if (oldest !== undefined) sources.delete(oldest)
        if (!logged.evicting) log.warn({ tracked: sources.size }, 'PIN guessing: too many sources to remember; forgetting the oldest')
        logged.evicting = true
      }
      own = { startMs: nowMs, wrong: 0 }
      sources.set(key, own)
    }
    const eventWindow = event
    const sourceWindow = own
    eventWindow.wrong++
    sourceWindow.wrong++
    counters.checked++
    counters.wrong++
    if (eventWindow.wrong === limits.eventWrongBudget && !logged.budget) {
      logged.budget = true
      log.warn({ wrong: eventWindow.wrong, windowMs: limits.windowMs }, 'PIN guessing: the event budget of wrong PINs is spent; only sources without failures are checked')
    }
    if (eventWindow.wrong === limits.eventWrongHardMax && !logged.hard) {
      logged.hard = true
      log.error({ wrong: eventWindow.wrong, windowMs: limits.windowMs }, 'PIN guessing: the event maximum of wrong PINs is reached; no PIN is checked until the window ends')
    }

    let refunded = false
    return {
      allowed: true,
      refund() {
        if (refunded) return
        refunded = true
        counters.wrong--
        // Only the windows this attempt was counted in: a window that has ended since is not touched.
        if (event === eventWindow) eventWindow.wrong--
        if (sources.get(key) === sourceWindow) {
          sourceWindow.wrong--
          // A source whose every attempt was right leaves nothing behind.
          if (sourceWindow.wrong === 0) sources.delete(key)
        }
      },
    }
  }

  return { attempt, counters: () => ({ ...counters }) }
}
