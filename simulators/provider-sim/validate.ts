// Request-field validation with the seed's limits: every body field is named
// (unknown ones are refused, so a typo does not pass silently), typed and
// range-checked; amounts are integer cents in [0, 4294967295].
import { badRequest } from './errors.js'
import { isId, type IdPrefix } from './ids.js'

export type Fields = Record<string, unknown>

export const MAX_AMOUNT = 4294967295
export const CURRENCIES = ['eur', 'aud', 'cad', 'chf', 'dkk', 'gbp', 'nok', 'pln', 'sek', 'usd'] as const

/** The body as a plain object whose keys are all in `allowed`. */
export function bodyFields(body: unknown, allowed: readonly string[]): Fields {
  if (body === undefined || body === null) return {}
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object')
  const fields = body as Fields
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) throw badRequest(`Unknown field: ${key.slice(0, 64)}`)
  }
  return fields
}

export function required<T>(fields: Fields, name: string, read: (fields: Fields, name: string) => T | undefined): T {
  const value = read(fields, name)
  if (value === undefined) throw badRequest(`Missing field: ${name}`)
  return value
}

export function optInteger(fields: Fields, name: string, min: number, max: number): number | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value)) throw badRequest(`${name} must be an integer`)
  if (value < min || value > max) throw badRequest(`${name} must be between ${min} and ${max}`)
  return value
}

/** An amount in integer cents, as the provider's API takes it. */
export function optAmount(fields: Fields, name = 'amount'): number | undefined {
  return optInteger(fields, name, 0, MAX_AMOUNT)
}

export function optString(fields: Fields, name: string, minLength: number, maxLength: number): string | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw badRequest(`${name} must be a string`)
  if (value.length < minLength || value.length > maxLength) {
    throw badRequest(`${name} must be ${minLength === maxLength ? `${minLength}` : `${minLength} to ${maxLength}`} characters long`)
  }
  return value
}

export function optBoolean(fields: Fields, name: string): boolean | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'boolean') throw badRequest(`${name} must be true or false`)
  return value
}

export function optEnum<T extends string>(fields: Fields, name: string, values: readonly T[]): T | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    throw badRequest(`${name} must be one of ${values.join(', ')}`)
  }
  return value as T
}

export function optId(fields: Fields, name: string, prefix: IdPrefix): string | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  if (!isId(prefix, value)) throw badRequest(`${name} must be an id ${prefix}_ followed by 24 letters or digits`)
  return value
}

export function optUrl(fields: Fields, name: string): string | undefined {
  const value = optString(fields, name, 1, 65536)
  if (value === undefined) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw badRequest(`${name} must be an absolute URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest(`${name} must be an http or https URL`)
  return value
}

export function optDate(fields: Fields, name: string): string | undefined {
  const value = optString(fields, name, 10, 10)
  if (value !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(value)) throw badRequest(`${name} must be a date YYYY-MM-DD`)
  return value
}

/** A query-string integer (`start`, `limit`, `created`). */
export function queryInteger(query: Record<string, string>, name: string, min: number, max: number): number | undefined {
  const raw = query[name]
  if (raw === undefined) return undefined
  if (!/^\d{1,15}$/.test(raw)) throw badRequest(`${name} must be an integer`)
  const value = Number(raw)
  if (value < min || value > max) throw badRequest(`${name} must be between ${min} and ${max}`)
  return value
}

/** Query parameters must be among the endpoint's (plus start/limit, which every list takes). */
export function checkQuery(query: Record<string, string>, allowed: readonly string[]): void {
  for (const key of Object.keys(query)) {
    if (key !== 'start' && key !== 'limit' && !allowed.includes(key)) throw badRequest(`Unknown query parameter: ${key.slice(0, 64)}`)
  }
}
