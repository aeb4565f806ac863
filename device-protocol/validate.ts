// One way to validate untrusted input at every boundary (MQTT payloads, frames
// decoded to objects, HTTP bodies): compile a TypeBox/JSON schema once, check a
// value, and return either the typed value or a short readable error.
import type { TSchema, Static } from 'typebox'
import { Compile } from 'typebox/compile'

export type Validated<T> = { ok: true; value: T } | { ok: false; error: string }

export interface Validator<T> {
  (value: unknown): Validated<T>
}

/** Largest JSON payload accepted on any MQTT topic; bigger ones are refused before parsing. */
export const MAX_PAYLOAD_BYTES = 64 * 1024

export function createValidator<S extends TSchema>(schema: S): Validator<Static<S>> {
  const compiled = Compile(schema)
  return (value: unknown) => {
    if (compiled.Check(value)) return { ok: true, value: value as Static<S> }
    const first = compiled.Errors(value).slice(0, 3)
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
