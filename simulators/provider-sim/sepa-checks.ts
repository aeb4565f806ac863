// SEPA checks: does this account holder own this IBAN? Create with an IBAN
// and a person's (or company's) name, answered with the check's id only;
// retrieve gives `status` and a name score from 0 to 1 (1: the name matches
// the account holder; null while pending). The simulator matches every name unless told to
// answer mismatch for the next checks, and answers at once unless told to
// keep the next checks pending.
import { badRequest, conflict } from './errors.js'
import { byId, type Route } from './route.js'
import type { SepaCheck, SimContext } from './state.js'
import { bodyFields, optDate, optString, required, type Fields } from './validate.js'

export interface CheckPolicy {
  mismatchNext: number
  pendingNext: number
  /** The score each pending check will show when it completes. */
  pendingScores: Map<string, number>
}

/** A mismatching name scores below this; the gateway should treat a lower score as "does not match". */
export const MISMATCH_SCORE = 0.1

/** ISO 13616 check digits: the IBAN, rearranged and read as a number, is 1 modulo 97. */
export function isValidIban(iban: string): boolean {
  const compact = iban.replace(/\s+/g, '').toUpperCase()
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$/.test(compact)) return false
  const rearranged = compact.slice(4) + compact.slice(0, 4)
  let rest = 0
  for (const ch of rearranged) {
    const digits = /\d/.test(ch) ? ch : String(ch.charCodeAt(0) - 55)
    for (const d of digits) rest = (rest * 10 + Number(d)) % 97
  }
  return rest === 1
}

function holder(fields: Fields, name: 'person' | 'company'): string | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  const inner = bodyFields(value, name === 'person' ? ['name', 'date_birth'] : ['name', 'siren', 'siret', 'vat', 'country'])
  optDate(inner, 'date_birth')
  for (const key of ['siren', 'siret', 'vat', 'country']) optString(inner, key, 1, 32)
  return required(inner, 'name', (f, n) => optString(f, n, 1, 64))
}

export function getCheck(ctx: SimContext, id: string | undefined): SepaCheck {
  return byId(ctx.state.checks, 'chck', 'sepa check', id)
}

export function completeCheck(ctx: SimContext, policy: CheckPolicy, id: string): SepaCheck {
  const check = getCheck(ctx, id)
  if (check.status !== 'pending') throw conflict('The check is complete already')
  const score = policy.pendingScores.get(check.id) ?? 1
  policy.pendingScores.delete(check.id)
  if (check.person) check.person.score_name = score
  if (check.company) check.company.score_name = score
  check.status = 'succeeded'
  ctx.emit('sepa_check.succeeded', check)
  return check
}

export function sepaCheckRoutes(policy: CheckPolicy): Route[] {
  return [
    {
      method: 'POST',
      path: '/v2/sepa_check',
      handle(ctx, { body }) {
        const fields = bodyFields(body, ['person', 'company', 'iban'])
        const iban = required(fields, 'iban', (f, n) => optString(f, n, 12, 34))
        const person = holder(fields, 'person')
        const company = holder(fields, 'company')
        if ((person === undefined) === (company === undefined)) throw badRequest('Give either person or company')
        if (!isValidIban(iban)) throw badRequest('iban is not a valid IBAN (check digits)')
        const mismatch = policy.mismatchNext > 0
        if (mismatch) policy.mismatchNext -= 1
        const pending = policy.pendingNext > 0
        if (pending) policy.pendingNext -= 1
        const id = ctx.newId('chck')
        const final = mismatch ? MISMATCH_SCORE : 1
        if (pending) policy.pendingScores.set(id, final)
        const score = pending ? null : final
        const check: SepaCheck = {
          id,
          created: ctx.nowSeconds(),
          person: person === undefined ? null : { name: person, score_name: score },
          company: company === undefined ? null : { name: company, score_name: score },
          check_type: person === undefined ? 'company' : 'person',
          status: pending ? 'pending' : 'succeeded',
        }
        ctx.state.checks.set(check.id, check)
        if (!pending) ctx.emit('sepa_check.succeeded', check)
        return { id: check.id }
      },
    },
    { method: 'GET', path: '/v2/sepa_check/:id', handle: (ctx, { params }) => getCheck(ctx, params.id) },
  ]
}
