// Bearer tokens of the users API: HS256 JWTs (jose) carrying the user id as
// `sub`, with an expiry. A token of a deleted user stops working because every
// request also looks the user up (see plugin.ts).
import { randomUUID } from 'node:crypto'
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import type { Clock } from '../../device-protocol/index.js'

const ISSUER = 'wristpay'
const AUDIENCE = 'wristpay-users-api'
const MIN_SECRET_BYTES = 32

export interface TokenIssuer {
  issue(userId: string): Promise<string>
  /** The user id, or null for any token that is malformed, forged, expired or for another audience. */
  verify(token: string): Promise<string | null>
}

export function createTokenIssuer({ secret, clock, ttlSeconds }: { secret: string | Uint8Array; clock: Clock; ttlSeconds: number }): TokenIssuer {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  if (key.byteLength < MIN_SECRET_BYTES) throw new Error(`jwtSecret must have at least ${MIN_SECRET_BYTES} bytes`)
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error('token ttlSeconds must be a positive integer')
  const nowSeconds = () => Math.floor(clock.now() / 1000)
  return {
    async issue(userId) {
      const now = nowSeconds()
      return new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(randomUUID())
        .sign(key)
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: new Date(clock.now()),
          requiredClaims: ['sub', 'exp'],
        })
        return typeof payload.sub === 'string' && payload.sub.length > 0 ? payload.sub : null
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) return null
        throw err
      }
    },
  }
}
