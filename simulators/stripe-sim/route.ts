// What a resource module exports: routes over the shared account state, and
// helpers every resource needs (lists with Stripe's pagination, `expand`).
import type { Params } from './params.js'
import { optInteger, optString, optStringArray } from './params.js'
import { paramInvalid, resourceMissing } from './errors.js'
import type { SimContext, StripeObject } from './state.js'

export interface RouteRequest {
  params: Params
  pathParams: Record<string, string>
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE'
  /** fastify path pattern, e.g. `/v1/customers/:id`. */
  path: string
  handle(ctx: SimContext, request: RouteRequest): unknown
}

export interface ListObject<T> {
  object: 'list'
  data: T[]
  has_more: boolean
  url: string
}

/** Stripe lists: newest first, `limit` 1..100 (default 10), `starting_after` / `ending_before` cursors. */
export function paginate<T extends StripeObject>(items: readonly T[], params: Params, url: string): ListObject<T> {
  const limit = optInteger(params, 'limit', 1, 100) ?? 10
  const startingAfter = optString(params, 'starting_after')
  const endingBefore = optString(params, 'ending_before')
  let newestFirst = [...items].reverse()
  if (startingAfter !== undefined) {
    const index = newestFirst.findIndex((item) => item.id === startingAfter)
    if (index === -1) throw resourceMissing('object', startingAfter, 'starting_after')
    newestFirst = newestFirst.slice(index + 1)
  } else if (endingBefore !== undefined) {
    const index = newestFirst.findIndex((item) => item.id === endingBefore)
    if (index === -1) throw resourceMissing('object', endingBefore, 'ending_before')
    const before = newestFirst.slice(0, index)
    const page = before.slice(Math.max(0, before.length - limit))
    return { object: 'list', data: page, has_more: before.length > page.length, url }
  }
  return { object: 'list', data: newestFirst.slice(0, limit), has_more: newestFirst.length > limit, url }
}

/** Finds any stored object by its id prefix (for `expand`). */
export function lookupById(ctx: SimContext, id: string): StripeObject | undefined {
  const s = ctx.state
  const prefix = id.slice(0, id.indexOf('_') + 1)
  switch (prefix) {
    case 'cus_': return s.customers.get(id)
    case 'pm_': return s.paymentMethods.get(id)
    case 'pi_': return s.paymentIntents.get(id)
    case 're_': return s.refunds.get(id)
    case 'seti_': return s.setupIntents.get(id)
    case 'cs_': return s.checkoutSessions.get(id)
    case 'tml_': return s.locations.get(id)
    case 'tmr_': return s.readers.get(id)
    default: return undefined
  }
}

/** A copy of `object` with the fields named in `expand[]` replaced by the objects they name. */
export function withExpand(ctx: SimContext, object: StripeObject, params: Params): StripeObject {
  const fields = optStringArray(params, 'expand')
  if (!fields || fields.length === 0) return object
  const copy: StripeObject = structuredClone(object)
  for (const field of fields) {
    const value = copy[field]
    if (value === null) continue
    const found = typeof value === 'string' ? lookupById(ctx, value) : undefined
    if (!found) throw paramInvalid('expand', `This property cannot be expanded (${field}).`)
    copy[field] = structuredClone(found)
  }
  return copy
}
