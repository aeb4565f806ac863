// What a place that checks a guest's PIN needs from the gateway: one limiter
// of PIN guessing shared by every such place (portal login, the users API's
// wristband link, a kiosk's tag switch), so that wrong PINs spent at one place
// count at the others. The gateway implements it (gateway/pin-attempts.ts) and
// hands it in; the portal plugin never imports gateway code.

/** Who asks for a PIN check: a client address (the limiter groups IPv6 by /64) or a kiosk. */
export type PinCheckSource = { readonly address: string } | { readonly kiosk: string }

/**
 * Why a PIN was not checked: this source spent its own wrong guesses; or the
 * event's budget of wrong guesses is spent and this source has failed too
 * (sources without failures are still checked); or the event's hard maximum
 * is reached.
 */
export type PinAttemptRefusal = 'source_limit' | 'event_budget_spent' | 'event_hard_max'

export type PinAttempt =
  | {
      readonly allowed: true
      /**
       * Counted as a wrong guess from the start (a crash or a thrown error in
       * between counts against the guesser); call this once the PIN proved
       * right, or was not checked after all.
       */
      refund(): void
    }
  | { readonly allowed: false; readonly reason: PinAttemptRefusal; readonly retryAfterMs: number }

export interface PinAttemptLimiter {
  /** Before checking a PIN from `source`: refused, or allowed and counted as wrong until refunded. */
  attempt(source: PinCheckSource): PinAttempt
}

/** Whole seconds for a Retry-After header (at least 1). */
export function retryAfterSeconds(attempt: { retryAfterMs: number }): number {
  return Math.max(1, Math.ceil(attempt.retryAfterMs / 1000))
}
