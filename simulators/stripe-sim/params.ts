// Reading Stripe parameters out of an expanded form, with Stripe's own error
// codes and messages for what is missing, unknown or malformed.
import type { FormObject, FormValue } from './form.js'
import { paramInvalid, paramMissing, StripeSimError } from './errors.js'

export type Params = FormObject

/** Stripe refuses parameters it does not know: a typo must not pass silently. */
export function rejectUnknown(params: Params, allowed: readonly string[], prefix = ''): void {
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) {
      const name = prefix ? `${prefix}[${key}]` : key
      throw new StripeSimError(400, {
        type: 'invalid_request_error',
        code: 'parameter_unknown',
        message: `Received unknown parameter: ${name}`,
        param: name,
      })
    }
  }
}

export function optString(params: Params, name: string, maxLength = 5000): string | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw paramInvalid(name, `Invalid string: ${name} must be a string.`)
  if (value.length > maxLength) throw paramInvalid(name, `Invalid string: ${name} is longer than ${maxLength} characters.`)
  return value
}

export function reqString(params: Params, name: string, maxLength = 5000): string {
  const value = optString(params, name, maxLength)
  if (value === undefined || value === '') throw paramMissing(name)
  return value
}

/** '' means "unset" in Stripe's form encoding (e.g. `description=` clears it). */
export function optNullableString(params: Params, name: string, maxLength = 5000): string | null | undefined {
  const value = optString(params, name, maxLength)
  return value === '' ? null : value
}

export function optInteger(params: Params, name: string, min: number, max: number): number | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^-?\d{1,15}$/.test(value)) {
    throw paramInvalid(name, `Invalid integer: ${typeof value === 'string' ? value : name}`, 'parameter_invalid_integer')
  }
  const n = Number(value)
  if (n < min) throw paramInvalid(name, `This value must be greater than or equal to ${min}.`, 'parameter_invalid_integer')
  if (n > max) throw paramInvalid(name, `This value must be less than or equal to ${max}.`, 'parameter_invalid_integer')
  return n
}

export function reqInteger(params: Params, name: string, min: number, max: number): number {
  const n = optInteger(params, name, min, max)
  if (n === undefined) throw paramMissing(name)
  return n
}

export function optBoolean(params: Params, name: string): boolean | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (value === 'true') return true
  if (value === 'false') return false
  throw paramInvalid(name, `Invalid boolean: ${typeof value === 'string' ? value : name}`)
}

export function optEnum<T extends string>(params: Params, name: string, allowed: readonly T[]): T | undefined {
  const value = optString(params, name)
  if (value === undefined) return undefined
  if (!(allowed as readonly string[]).includes(value)) {
    throw paramInvalid(name, `Invalid ${name}: must be one of ${allowed.join(', ')}`)
  }
  return value as T
}

export function optObject(params: Params, name: string): Params | undefined {
  const value = params[name]
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'object' || Array.isArray(value)) throw paramInvalid(name, `Invalid object: ${name}`)
  return value
}

export function optArray(params: Params, name: string): FormValue[] | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (!Array.isArray(value)) throw paramInvalid(name, `Invalid array: ${name}`)
  return value
}

export function optStringArray(params: Params, name: string): string[] | undefined {
  const values = optArray(params, name)
  if (values === undefined) return undefined
  return values.map((v, i) => {
    if (typeof v !== 'string') throw paramInvalid(`${name}[${i}]`, `Invalid string: ${name}[${i}]`)
    return v
  })
}

export type Metadata = Record<string, string>

/** Stripe's metadata rules: at most 50 keys, keys up to 40 and values up to 500 characters. */
export function applyMetadata(current: Metadata, params: Params, name = 'metadata'): Metadata {
  const value = params[name]
  if (value === undefined) return current
  if (value === '') return {} // `metadata=` clears every key
  if (typeof value !== 'object' || Array.isArray(value)) throw paramInvalid(name, 'Invalid object: metadata')
  const next: Metadata = { ...current }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw paramInvalid(`${name}[${key}]`, `Invalid string: ${name}[${key}]`)
    if (key.length > 40) throw paramInvalid(`${name}[${key}]`, 'Metadata keys can have up to 40 characters.')
    if (v.length > 500) throw paramInvalid(`${name}[${key}]`, 'Metadata values can have up to 500 characters.')
    if (v === '') delete next[key]
    else next[key] = v
  }
  if (Object.keys(next).length > 50) throw paramInvalid(name, 'Metadata can have up to 50 keys.')
  return next
}

export function optCurrency(params: Params, name = 'currency'): string | undefined {
  const value = optString(params, name)
  if (value === undefined) return undefined
  const lower = value.toLowerCase()
  if (!/^[a-z]{3}$/.test(lower)) throw paramInvalid(name, `Invalid currency: ${value}.`)
  return lower
}

export function reqCurrency(params: Params, name = 'currency'): string {
  const value = optCurrency(params, name)
  if (value === undefined) throw paramMissing(name)
  return value
}

// Stripe's minimum charge amounts per currency (in minor units); 50 for those not listed.
const MINIMUM_CHARGE: Record<string, number> = { usd: 50, eur: 50, gbp: 30, chf: 50, dkk: 250, sek: 300, nok: 300, pln: 200, czk: 1500, huf: 17500 }
const MAXIMUM_CHARGE = 99_999_999

export function reqChargeAmount(params: Params, name: string, currency: string): number {
  const amount = reqInteger(params, name, 1, MAXIMUM_CHARGE)
  const min = MINIMUM_CHARGE[currency] ?? 50
  if (amount < min) {
    throw new StripeSimError(400, {
      type: 'invalid_request_error',
      code: 'amount_too_small',
      message: `Amount must be at least ${min} ${currency} minor units.`,
      param: name,
    })
  }
  return amount
}
