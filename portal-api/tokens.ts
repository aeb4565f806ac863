// Bearer tokens of the portal: HS256 JWTs (jose) carrying the wristband uid
// as `sub` and a random `jti` that names a server-side session, so a token can
// be revoked (logout) before it expires. The signature proves we issued it;
// the session row proves it is still wanted.
import { randomUUID } from 'node:crypto'
import { SignJWT, jwtVerify, errors } from 'jose'
import type { Clock } from '../device-protocol/index.js'

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

export interface TokenClaims {
  uid: string
  jti: string
}

export type VerifyResult = { ok: true; claims: TokenClaims } | { ok: false; reason: 'expired' | 'invalid' }

export interface PortalTokens {
  issue(uid: string): Promise<IssuedToken>
  verify(token: string): Promise<VerifyResult>
}

export function createPortalTokens({ secret, clock, ttlS }: { secret: Uint8Array; clock: Clock; ttlS: number }): PortalTokens {
  if (secret.byteLength < MIN_SECRET_BYTES) throw new Error(`portal token secret must have at least ${MIN_SECRET_BYTES} bytes`)
  if (!Number.isInteger(ttlS) || ttlS < 1) throw new Error('token ttl must be a positive whole number of seconds')
  // A copy: a caller zeroing or reusing its buffer must not change our key.
  const key = new Uint8Array(secret)

  return {
    async issue(uid) {
      const jti = randomUUID()
      const nowS = Math.floor(clock.now() / 1000)
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(uid)
        .setJti(jti)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + ttlS)
        .sign(key)
      return { token, jti, issuedAtMs: nowS * 1000, expiresAtMs: (nowS + ttlS) * 1000 }
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          requiredClaims: ['sub', 'jti', 'exp'],
          currentDate: new Date(clock.now()),
        })
        if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string') return { ok: false, reason: 'invalid' }
        return { ok: true, claims: { uid: payload.sub, jti: payload.jti } }
      } catch (err) {
        return { ok: false, reason: err instanceof errors.JWTExpired ? 'expired' : 'invalid' }
      }
    },
  }
}
