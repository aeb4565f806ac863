// Who acts on a run that needs four eyes (payout runs, refund runs, refunds to
// the card). The admin token is one for all, so a route that changes such a
// run also needs the operator's own credentials in the `Wristpay-Operator:
// <name>:<token>` header (an operator account of the config, as for MQTT); the
// name recorded with each step comes from them, never from the body.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { HttpError } from '../http.js'

export const OPERATOR_HEADER = 'wristpay-operator'

/** Whether name and token are an operator account (constant time). */
export type OperatorAuth = (name: string, token: string) => boolean

/** operatorAuth over the config's operator accounts: hashes first, so the comparison is constant-time whatever the lengths. */
export function operatorAccountsAuth(operators: ReadonlyArray<{ name: string; token: string }>): OperatorAuth {
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest()
  const byName = new Map(operators.map((op) => [op.name, sha256(op.token)]))
  return (name, token) => {
    const expected = byName.get(name)
    return expected !== undefined && timingSafeEqual(sha256(token), expected)
  }
}

/** What a refusal says: without usable credentials, and with credentials of no operator account (the same text is fine). */
export interface OperatorRefusals {
  missing: string
  notAnAccount: string
}

/** The operator behind the request, from their own credentials; a 401 operator_credentials_required otherwise. */
export function operatorOfRequest(request: FastifyRequest, operatorAuth: OperatorAuth, refusals: OperatorRefusals): string {
  const header = request.headers[OPERATOR_HEADER]
  const value = typeof header === 'string' ? header : undefined
  const colon = value?.indexOf(':') ?? -1
  if (value === undefined || colon <= 0 || value.length > 400) throw new HttpError(401, 'operator_credentials_required', refusals.missing)
  const name = value.slice(0, colon)
  if (!operatorAuth(name, value.slice(colon + 1))) throw new HttpError(401, 'operator_credentials_required', refusals.notAnAccount)
  return name
}

const MAX_OPERATOR_LENGTH = 64
const PRINTABLE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/

/** The operator's name as a run records it: 1..64 printable characters; otherwise the run kind's own invalid_operator error. */
export function checkOperatorName(operator: unknown, invalid: (message: string) => Error): string {
  if (typeof operator !== 'string' || operator.length > MAX_OPERATOR_LENGTH || !PRINTABLE.test(operator))
    throw invalid(`the operator must be named by 1..${MAX_OPERATOR_LENGTH} printable characters`)
  return operator
}
