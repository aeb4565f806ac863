// Bearer tokens of the users API: the gateway's one JWT module
// (portal-api/tokens.ts) with the user id as subject and this API's issuer and
// audience. A token of a deleted user stops working because every request also
// looks the user up (see plugin.ts).
import type { Clock } from '../../device-protocol/index.js'
import { createBearerTokens } from '../../portal-api/tokens.js'

const ISSUER = 'wristpay'
const AUDIENCE = 'wristpay-users-api'

export interface TokenIssuer {
  issue(userId: string): Promise<string>
  /** The user id, or null for any token that is malformed, forged, expired or for another audience. */
  verify(token: string): Promise<string | null>
}

export function createTokenIssuer({ secret, clock, ttlSeconds }: { secret: string | Uint8Array; clock: Clock; ttlSeconds: number }): TokenIssuer {
  const tokens = createBearerTokens({ secret, clock, ttlS: ttlSeconds, issuer: ISSUER, audience: AUDIENCE, secretName: 'jwtSecret' })
  return {
    issue: async (userId) => (await tokens.issue(userId)).token,
    async verify(token) {
      const verified = await tokens.verify(token)
      return verified.ok ? verified.claims.subject : null
    },
  }
}
