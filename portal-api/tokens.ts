// The one bearer-token module of the gateway's HTTP APIs: HS256 JWTs (jose)
// with a subject, a random `jti`, an issuer, an audience and an expiry. It
// lives here because both sides may import it: the gateway (users API) and the
// portal. The portal's tokens name a server-side session by their `jti`, so a
// token can be revoked (logout) before it expires: the signature proves we
// issued it; the session row proves it is still wanted.
import { randomUUID } from 'node:crypto'
import { SignJWT, jwtVerify, errors, type JWTPayload, type JWTVerifyOptions } from 'jose'
import type { Clock } from '../device-protocol/index.js'
import { createVerifiedTokenCache } from './verified-tokens.js'

export const TOKEN_ISSUER = 'wristpay-gateway'
export const TOKEN_AUDIENCE = 'wristpay-portal'
/** HS256 wants a key at least as long as the hash. */
export const MIN_SECRET_BYTES = 32

export interface IssuedToken {
  token: string
  jti: string
  issuedAtMs: number
  expiresAtMs: number
}

export interface BearerClaims {
  subject: string
  jti: string
}

export type BearerVerifyResult = { ok: true; claims: BearerClaims } | { ok: false; reason: 'expired' | 'invalid' }

export interface BearerTokens {
  issue(subject: string): Promise<IssuedToken>
  /** Refuses (never throws for) any token that is malformed, forged, expired, for another issuer or audience, or lacks sub, jti or exp. */
  verify(token: string): Promise<BearerVerifyResult>
}

export interface BearerTokenOptions {
  /** The HS256 key, at least MIN_SECRET_BYTES; a string is taken as its UTF-8 bytes. */
  secret: string | Uint8Array
  clock: Clock
  ttlS: number
  issuer: string
  audience: string
  /** How the key is called in the error of a too short one (the caller's option name). */
  secretName: string
  /**
   * Remember successful verifications by the exact token string (bounded, LRU), so a token used
   * again skips jose's HMAC on the thread pool; expiry is still checked against the clock at each use.
   * Absent: every use is verified by jose.
   */
  verifiedCache?: { maxEntries?: number; maxAgeMs?: number }
  /** jose's jwtVerify; tests pass a counting wrapper. */
  verifyJwt?: (token: string, key: Uint8Array, options: JWTVerifyOptions) => Promise<{ payload: JWTPayload }>
}

export function createBearerTokens({ secret, clock, ttlS, issuer, audience, secretName, verifiedCache, verifyJwt = jwtVerify }: BearerTokenOptions): BearerTokens {
  // A copy: a caller zeroing or reusing its buffer must not change our key.
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : new Uint8Array(secret)
  if (key.byteLength < MIN_SECRET_BYTES) throw new Error(`${secretName} must have at least ${MIN_SECRET_BYTES} bytes`)
  if (!Number.isInteger(ttlS) || ttlS < 1) throw new Error('token ttl must be a positive whole number of seconds')
  const verified = verifiedCache === undefined ? undefined : createVerifiedTokenCache<BearerClaims>({ clock, ...verifiedCache })

  return {
    async issue(subject) {
      const jti = randomUUID()
      const nowS = Math.floor(clock.now() / 1000)
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(subject)
        .setJti(jti)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + ttlS)
        .sign(key)
      return { token, jti, issuedAtMs: nowS * 1000, expiresAtMs: (nowS + ttlS) * 1000 }
    },
    async verify(token) {
      const cached = verified?.lookup(token)
      if (cached?.kind === 'valid') return { ok: true, claims: cached.claims }
      if (cached?.kind === 'expired') return { ok: false, reason: 'expired' }
      try {
        const { payload } = await verifyJwt(token, key, {
          algorithms: ['HS256'],
          issuer,
          audience,
          requiredClaims: ['sub', 'jti', 'exp'],
          currentDate: new Date(clock.now()),
        })
        if (typeof payload.sub !== 'string' || payload.sub.length === 0 || typeof payload.jti !== 'string') return { ok: false, reason: 'invalid' }
        const claims = { subject: payload.sub, jti: payload.jti }
        // A token with a not-before time is never remembered: only expiry is checked again on a hit.
        if (payload.nbf === undefined && typeof payload.exp === 'number') verified?.remember(token, claims, payload.exp * 1000)
        return { ok: true, claims }
      } catch (err) {
        // Only jose's refusals are an invalid token; anything else is a bug and must surface.
        if (!(err instanceof errors.JOSEError)) throw err
        return { ok: false, reason: err instanceof errors.JWTExpired ? 'expired' : 'invalid' }
      }
    },
  }
}

// The portal's tokens: the wristband uid as subject.

export interface TokenClaims {
  uid: string
  jti: string
}

export type VerifyResult = { ok: true; claims: TokenClaims } | { ok: false; reason: 'expired' | 'invalid' }

export interface PortalTokens {
  issue(uid: string): Promise<IssuedToken>
  verify(token: string): Promise<VerifyResult>
}

/**
 * Guests poll the portal every few seconds with the same token: verifications are remembered (see
 * verified-tokens.ts); the plugin still checks the session (logout) and the wristband (blocked) per request.
 */
export function createPortalTokens({
  secret,
  clock,
  ttlS,
  verifiedCache = {},
  verifyJwt,
}: {
  secret: Uint8Array
  clock: Clock
  ttlS: number
  verifiedCache?: BearerTokenOptions['verifiedCache']
  verifyJwt?: BearerTokenOptions['verifyJwt']
}): PortalTokens {
  const tokens = createBearerTokens({
    secret,
    clock,
    ttlS,
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
    secretName: 'portal token secret',
    verifiedCache,
    ...(verifyJwt === undefined ? {} : { verifyJwt }),
  })
  return {
    issue: (uid) => tokens.issue(uid),
    async verify(token) {
      const verified = await tokens.verify(token)
      return verified.ok ? { ok: true, claims: { uid: verified.claims.subject, jti: verified.claims.jti } } : verified
    },
  }
}
