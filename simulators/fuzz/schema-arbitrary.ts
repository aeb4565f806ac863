// Values from a JSON schema (the subset the gateway's route schemas use, as
// @fastify/swagger writes them into the OpenAPI document): objects with their
// properties (required ones always, optional ones sometimes), strings within
// their lengths, patterns and formats, integers and numbers within their bounds,
// arrays, enums, consts, anyOf/oneOf, nullable. A value from here passes the
// route's validation most of the time, so mutations of it reach the handler.
import fc from 'fast-check'
import type { Json } from './mutate.js'

export type Schema = { [key: string]: unknown }

const FORMATS: Record<string, fc.Arbitrary<string>> = {
  uuid: fc.uuid(),
  email: fc.emailAddress(),
  'date-time': fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  date: fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  uri: fc.webUrl(),
}

function stringArbitrary(schema: Schema): fc.Arbitrary<string> {
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0
  const maxLength = typeof schema.maxLength === 'number' ? Math.min(schema.maxLength, minLength + 64) : minLength + 24
  if (typeof schema.pattern === 'string') {
    let pattern: RegExp | undefined
    try {
      pattern = new RegExp(schema.pattern)
    } catch {
      pattern = undefined
    }
    if (pattern !== undefined) {
      const matching = fc.stringMatching(pattern)
      return matching.filter((s) => s.length >= minLength && (typeof schema.maxLength !== 'number' || s.length <= schema.maxLength))
    }
  }
  if (typeof schema.format === 'string' && FORMATS[schema.format] !== undefined) return FORMATS[schema.format]!
  return fc.string({ minLength, maxLength })
}

function numberArbitrary(schema: Schema, integer: boolean): fc.Arbitrary<number> {
  const min = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : -1_000_000
  const max = typeof schema.maximum === 'number' ? schema.maximum : typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum - 1 : 1_000_000
  const lo = Math.max(min, Number.MIN_SAFE_INTEGER)
  const hi = Math.min(max, Number.MAX_SAFE_INTEGER)
  if (integer) return fc.oneof(fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) }), fc.constantFrom(Math.ceil(lo), Math.floor(hi)))
  return fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true })
}

/** An arbitrary of values for `schema`; `$ref`s are looked up in `definitions` (components.schemas). */
export function schemaArbitrary(schema: Schema | undefined, definitions: Record<string, Schema> = {}, depth = 0): fc.Arbitrary<Json> {
  if (schema === undefined || depth > 8) return fc.constant(null)
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.split('/').pop()!
    return schemaArbitrary(definitions[name], definitions, depth + 1)
  }
  const base = ((): fc.Arbitrary<Json> => {
    if ('const' in schema) return fc.constant(schema.const as Json)
    if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as Json[]))
    const alternatives = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
    if (Array.isArray(alternatives) && alternatives.length > 0) return fc.oneof(...alternatives.map((s) => schemaArbitrary(s, definitions, depth + 1)))
    if (Array.isArray(schema.allOf) && schema.allOf.length > 0) return schemaArbitrary(schema.allOf[0] as Schema, definitions, depth + 1)
    const type = Array.isArray(schema.type) ? (schema.type[0] as string) : (schema.type as string | undefined)
    switch (type) {
      case 'string':
        return stringArbitrary(schema)
      case 'integer':
        return numberArbitrary(schema, true)
      case 'number':
        return numberArbitrary(schema, false)
      case 'boolean':
        return fc.boolean()
      case 'null':
        return fc.constant(null)
      case 'array': {
        const minLength = typeof schema.minItems === 'number' ? schema.minItems : 0
        const maxLength = Math.min(typeof schema.maxItems === 'number' ? schema.maxItems : 4, minLength + 4)
        return fc.array(schemaArbitrary(schema.items as Schema | undefined, definitions, depth + 1), { minLength, maxLength })
      }
      case 'object':
      case undefined: {
        const properties = (schema.properties ?? {}) as Record<string, Schema>
        if (Object.keys(properties).length === 0) return type === undefined ? (fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>) : fc.constant({})
        const required = new Set((schema.required ?? []) as string[])
        const record: Record<string, fc.Arbitrary<Json>> = {}
        for (const [key, value] of Object.entries(properties)) record[key] = schemaArbitrary(value, definitions, depth + 1)
        return fc.record(record, { requiredKeys: Object.keys(properties).filter((k) => required.has(k)) }) as fc.Arbitrary<Json>
      }
      default:
        return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>
    }
  })()
  return schema.nullable === true ? fc.option(base, { nil: null, freq: 8 }) : base
}
