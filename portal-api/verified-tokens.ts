// Tokens whose signature we checked recently, so that a guest refreshing the
// portal every few seconds costs one HMAC per minute, not one per request.
// jose's HMAC runs through WebCrypto on libuv's small thread pool, where the
// gateway's Ed25519 signature checks also queue: behind a burst of sales one
// token check waited 400 ms. Only what cannot change after issue is remembered
// (signature, issuer, audience, subject, jti); expiry is compared with the
// clock at every use, and the session and wristband checks of each request
// happen after this, on hit or miss alike.
import type { Clock } from '../device-protocol/index.js'

/** Enough for every guest of a large festival polling at once; a token string is a few hundred bytes. */
export const DEFAULT_VERIFIED_TOKENS_MAX = 10_000
/** However long a token lives, its signature is checked again after this. */
export const DEFAULT_VERIFIED_TOKENS_MAX_AGE_MS = 60_000

export interface VerifiedTokenCacheOptions {
  clock: Clock
  maxEntries?: number
  maxAgeMs?: number
}

export type CachedVerification<C> = { kind: 'valid'; claims: C } | { kind: 'expired' } | { kind: 'unknown' }

export interface VerifiedTokenCache<C> {
  /** A remembered verification of exactly this token string: valid, expired by now (as jose would say), or unknown (verify it). */
  lookup(token: string): CachedVerification<C>
  /** Remembers a verification jose accepted; `expiresAtMs` is the token's exp in ms. */
  remember(token: string, claims: C, expiresAtMs: number): void
  readonly size: number
}

interface Entry<C> {
  claims: C
  expiresAtMs: number
  /** After this the signature is checked again (the token's exp or the age cap, whichever is first). */
  recheckAtMs: number
}

export function createVerifiedTokenCache<C>({ clock, maxEntries = DEFAULT_VERIFIED_TOKENS_MAX, maxAgeMs = DEFAULT_VERIFIED_TOKENS_MAX_AGE_MS }: VerifiedTokenCacheOptions): VerifiedTokenCache<C> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error('verified token cache: maxEntries must be a positive whole number')
  if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0) throw new Error('verified token cache: maxAgeMs must be positive')
  // A Map keeps insertion order: re-inserting on a hit makes its first key the least recently used.
  const entries = new Map<string, Entry<C>>()
  return {
    lookup(token) {
      const entry = entries.get(token)
      if (entry === undefined) return { kind: 'unknown' }
      const now = clock.now()
      // jose refuses when exp <= floor(now / 1000) s, that is when now >= exp in ms.
      if (now >= entry.expiresAtMs) {
        entries.delete(token)
        return { kind: 'expired' }
      }
      if (now >= entry.recheckAtMs) {
        entries.delete(token)
        return { kind: 'unknown' }
      }
      entries.delete(token)
      entries.set(token, entry)
      return { kind: 'valid', claims: entry.claims }
    },
    remember(token, claims, expiresAtMs) {
      const now = clock.now()
      if (!(expiresAtMs > now)) return
      entries.delete(token)
      entries.set(token, { claims, expiresAtMs, recheckAtMs: Math.min(expiresAtMs, now + maxAgeMs) })
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string)
    },
    get size() {
      return entries.size
    },
  }
}
