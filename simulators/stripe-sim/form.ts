// Stripe's wire format for parameters: `application/x-www-form-urlencoded` (and
// the query string for GET/DELETE) with bracket keys, e.g.
// `line_items[0][price_data][unit_amount]=500&expand[0]=payment_intent`.
// expandForm() turns those flat pairs into nested objects and arrays the way
// Stripe's servers (Rack/qs style) read them. Keys are hostile input: depth,
// count and length are bounded and prototype keys are refused.
import { StripeSimError } from './errors.js'

export type FormValue = string | FormObject | FormValue[]
export interface FormObject {
  [key: string]: FormValue
}

const MAX_PAIRS = 1000
const MAX_DEPTH = 6
const MAX_KEY_LENGTH = 200
const MAX_VALUE_LENGTH = 20_000
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype'])

/** Splits `a[b][0]` into ['a', 'b', '0']; null when the brackets are malformed. */
export function parseKey(key: string): string[] | null {
  const open = key.indexOf('[')
  if (open === -1) return key.length > 0 && !key.includes(']') ? [key] : null
  const head = key.slice(0, open)
  if (head.length === 0) return null
  const segments = [head]
  let rest = key.slice(open)
  while (rest.length > 0) {
    const match = /^\[([^[\]]*)\]/.exec(rest)
    if (!match) return null
    segments.push(match[1] ?? '')
    rest = rest.slice(match[0].length)
  }
  return segments
}

function invalid(message: string, param?: string): StripeSimError {
  return new StripeSimError(400, { type: 'invalid_request_error', code: 'parameter_invalid', message, param })
}

/** Nested plain objects (null prototype) from flat bracket-keyed pairs. */
export function expandForm(pairs: Iterable<[string, string]>): FormObject {
  const root: Record<string, unknown> = Object.create(null)
  let count = 0
  for (const [key, value] of pairs) {
    count += 1
    if (count > MAX_PAIRS) throw invalid(`Too many parameters (at most ${MAX_PAIRS}).`)
    if (key.length > MAX_KEY_LENGTH) throw invalid('Parameter name too long.')
    if (value.length > MAX_VALUE_LENGTH) throw invalid(`Value too long for parameter: ${key}`, key)
    const segments = parseKey(key)
    if (!segments) throw invalid(`Invalid parameter name: ${key}`, key)
    if (segments.length > MAX_DEPTH) throw invalid(`Parameter nested too deeply: ${key}`, key)
    let node: Record<string, unknown> = root
    for (let i = 0; i < segments.length; i += 1) {
      let segment = segments[i] as string
      if (FORBIDDEN_SEGMENTS.has(segment)) throw invalid(`Invalid parameter name: ${key}`, key)
      // `expand[]=a&expand[]=b`: an empty segment appends.
      if (segment === '') segment = String(Object.keys(node).length)
      const last = i === segments.length - 1
      if (last) {
        if (segment in node) throw invalid(`Parameter given twice: ${key}`, key)
        node[segment] = value
      } else {
        const next = node[segment]
        if (typeof next === 'string') throw invalid(`Invalid hash or array: ${key}`, key)
        if (next === undefined) {
          const child: Record<string, unknown> = Object.create(null)
          node[segment] = child
          node = child
        } else {
          node = next as Record<string, unknown>
        }
      }
    }
  }
  return toArrays(root) as FormObject
}

// Objects whose keys are exactly 0..n-1 become arrays (Stripe's `arr[0]` form).
function toArrays(node: unknown): unknown {
  if (typeof node === 'string') return node
  const record = node as Record<string, unknown>
  const keys = Object.keys(record)
  for (const key of keys) record[key] = toArrays(record[key])
  const isArray = keys.length > 0 && keys.every((k, i) => k === String(i))
  return isArray ? keys.map((k) => record[k]) : record
}

export function parseFormBody(body: string): FormObject {
  return expandForm(new URLSearchParams(body))
}

export function parseQueryString(url: string): FormObject {
  const q = url.indexOf('?')
  return q === -1 ? Object.create(null) : expandForm(new URLSearchParams(url.slice(q + 1)))
}
