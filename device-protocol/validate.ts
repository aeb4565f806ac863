// One way to validate untrusted input at every boundary (MQTT payloads, frames
// decoded to objects, HTTP bodies): compile a TypeBox/JSON schema once, check a
// value, and return either the typed value or a short readable error.
//
// Validators are TypeBox's JSON Schema validators (typebox/schema), not its
// typebox/compile: compile's Validator adds TypeBox's value operations (codecs,
// Clean, Convert, Default ...) that nothing here uses, and loading it loads
// typebox/value, about 150 more ES modules, each kept for the process's life
// (about 2 MB of a kiosk daemon's resident memory). Check is the same
// generated code; compile's Errors is schema's second element.
import type { TSchema, Static } from 'typebox'
import { Compile } from 'typebox/schema'

export type Validated<T> = { ok: true; value: T } | { ok: false; error: string }

export interface Validator<T> {
  (value: unknown): Validated<T>
}

/** Largest JSON payload accepted on any MQTT topic; bigger ones are refused before parsing. */
export const MAX_PAYLOAD_BYTES = 64 * 1024

/** What createValidator needs of a compiled schema (TypeBox's JSON Schema Validator). */
export interface CompiledSchema {
  Check(value: unknown): boolean
  Errors(value: unknown): [valid: boolean, errors: Array<{ instancePath: string; message: string }>]
}

/**
 * A validator of `schema`, compiled on its first use rather than when the module
 * that declares it loads: every program loads device-protocol's validators, but
 * uses few of them (the kiosk daemon never the gateway's), and each compiled one
 * is generated code kept in the heap. `compile` is TypeBox's (a seam for tests).
 */
export function createValidator<S extends TSchema>(schema: S, compile: (schema: S) => CompiledSchema = (s) => Compile(s)): Validator<Static<S>> {
  let compiled: CompiledSchema | undefined
  return (value: unknown) => {
    compiled ??= compile(schema)
    if (compiled.Check(value)) return { ok: true, value: value as Static<S> }
    const first = compiled.Errors(value)[1].slice(0, 3)
    const error = first.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ') || 'invalid'
    return { ok: false, error }
  }
}

/** Parses a JSON payload (Buffer or string) and validates it; never throws. */
export function parseJson<T>(payload: Uint8Array | string, validate: Validator<T>, maxBytes = MAX_PAYLOAD_BYTES): Validated<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength
  if (size > maxBytes) return { ok: false, error: `payload of ${size} bytes exceeds ${maxBytes}` }
  let value: unknown
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'))
  } catch {
    return { ok: false, error: 'payload is not valid JSON' }
  }
  return validate(value)
}
