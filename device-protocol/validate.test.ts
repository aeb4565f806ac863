import t from 'tap'
import Type from 'typebox'
import { Compile } from 'typebox/schema'
import { createValidator, parseJson, MAX_PAYLOAD_BYTES } from './validate.js'
import { validateReply, validateKioskConfig } from './messages.js'

const validatePoint = createValidator(Type.Object({ x: Type.Integer() }, { additionalProperties: false }))

t.test('a validator compiles its schema on its first use, once', async (t) => {
  const compiled: unknown[] = []
  const validate = createValidator(Type.Object({ x: Type.Integer() }), (schema) => {
    compiled.push(schema)
    return Compile(schema)
  })
  t.equal(compiled.length, 0, 'not compiled when created (a program loads many validators and uses few)')
  t.same(validate({ x: 1 }), { ok: true, value: { x: 1 } })
  t.equal(validate({ x: 'one' }).ok, false)
  t.equal(compiled.length, 1)
})

t.test('parseJson returns the typed value for a valid payload', async (t) => {
  t.same(parseJson(Buffer.from('{"x":3}'), validatePoint), { ok: true, value: { x: 3 } })
})

t.test('parseJson refuses bad payloads with a clear error and never throws', async (t) => {
  const cases: Array<[string, string | Buffer, RegExp]> = [
    ['not JSON', '{"x":', /not valid JSON/],
    ['binary garbage', Buffer.from([0xff, 0x00, 0xfe]), /not valid JSON/],
    ['wrong type', '{"x":"3"}', /\/x/],
    ['extra key', '{"x":3,"y":4}', /additional/],
    ['oversize', `{"x":3,"pad":"${'a'.repeat(MAX_PAYLOAD_BYTES)}"}`, /exceeds/],
    ['deep nesting', '['.repeat(5000) + ']'.repeat(5000), /must be object|invalid/],
  ]
  for (const [name, payload, error] of cases) {
    const result = parseJson(payload, validatePoint)
    t.equal(result.ok, false, name)
    if (!result.ok) t.match(result.error, error, name)
  }
})

t.test('reply and config schemas accept their messages and refuse others', async (t) => {
  t.ok(validateReply({ kind: 'result', id: '01936f0e-7c00-7000-8000-000000000001', seq: 1, status: 'accepted', balance: 100 }).ok)
  t.ok(validateReply({ kind: 'resend', fromSeq: 4 }).ok)
  t.notOk(validateReply({ kind: 'result', id: 'x', seq: 1, status: 'accepted' }).ok)
  t.notOk(validateReply({ kind: 'result', id: '01936f0e-7c00-7000-8000-000000000001', seq: 1, status: 'maybe' }).ok)
  t.notOk(validateReply({ kind: 'resend', fromSeq: 0 }).ok)
  t.ok(validateKioskConfig({ kiosk: 'bar-1', booth: 'bar', version: 1, products: [{ id: 'beer', name: 'Beer', price: 450 }], topupAllowed: false, saleAllowed: true }).ok)
  t.notOk(validateKioskConfig({ kiosk: 'bar-1', booth: 'bar', version: 1, products: [{ id: 'beer', name: 'Beer', price: 4.5 }], topupAllowed: false, saleAllowed: true }).ok)
})
