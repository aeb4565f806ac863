// What a resource module exports: routes over the shared account state, and
// the provider's list shape: `{range: {...}, <things>: [...]}` with
// `start` (offset, default 0) and `limit` (1..100, default 10), oldest first
// (so that a page stays the same while new objects arrive).
import { notFound } from './errors.js'
import { isId, type IdPrefix } from './ids.js'
import type { SimContext } from './state.js'
import { queryInteger } from './validate.js'

export interface RouteRequest {
  body: unknown
  query: Record<string, string>
  params: Record<string, string>
}

export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  /** fastify path pattern, e.g. `/v2/refunds/:id`. */
  path: string
  handle(ctx: SimContext, request: RouteRequest): unknown
}

export interface ListRange {
  start: number
  end: number
  limit: number
  has_more: boolean
}

export function paginate<T>(items: readonly T[], query: Record<string, string>, key: string): Record<string, unknown> {
  const start = queryInteger(query, 'start', 0, Number.MAX_SAFE_INTEGER) ?? 0
  const limit = queryInteger(query, 'limit', 1, 100) ?? 10
  const page = items.slice(start, start + limit)
  const range: ListRange = { start, end: start + Math.max(page.length - 1, 0), limit, has_more: start + limit < items.length }
  return { range, [key]: structuredClone(page) }
}

/** `created` in a list query: objects created at or after these Unix seconds. */
export function createdSince(query: Record<string, string>): number | undefined {
  return queryInteger(query, 'created', 0, Number.MAX_SAFE_INTEGER)
}

/** An object by the id in the path: 404 for an unknown id and for one that is not an id of this kind. */
export function byId<T>(map: Map<string, T>, prefix: IdPrefix, kind: string, id: string | undefined): T {
  const found = id !== undefined && isId(prefix, id) ? map.get(id) : undefined
  if (found === undefined) throw notFound(kind, id ?? '')
  return found
}
