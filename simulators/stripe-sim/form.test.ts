import t from 'tap'
import { expandForm, parseFormBody, parseKey, parseQueryString } from './form.js'
import { StripeSimError } from './errors.js'

const plain = (value: unknown) => JSON.parse(JSON.stringify(value))

t.test('parseKey splits bracket keys and refuses malformed ones', async (t) => {
  t.same(parseKey('amount'), ['amount'])
  t.same(parseKey('line_items[0][price_data][unit_amount]'), ['line_items', '0', 'price_data', 'unit_amount'])
  t.same(parseKey('expand[]'), ['expand', ''])
  for (const bad of ['', '[a]', 'a[b', 'a]b', 'a[b]c', 'a[[b]]']) t.equal(parseKey(bad), null, bad)
})

t.test('expandForm builds nested objects and arrays as Stripe reads them', async (t) => {
  const body = new URLSearchParams()
  body.append('amount', '500')
  body.append('metadata[reference]', 'abc')
  body.append('line_items[0][price_data][unit_amount]', '500')
  body.append('line_items[0][quantity]', '1')
  body.append('line_items[1][quantity]', '2')
  body.append('expand[0]', 'payment_intent')
  body.append('expand[1]', 'customer')
  t.same(plain(parseFormBody(body.toString())), {
    amount: '500',
    metadata: { reference: 'abc' },
    line_items: [{ price_data: { unit_amount: '500' }, quantity: '1' }, { quantity: '2' }],
    expand: ['payment_intent', 'customer'],
  })
  t.same(plain(parseFormBody('expand[]=a&expand[]=b')), { expand: ['a', 'b'] })
  t.same(plain(parseQueryString('/v1/customers?limit=3&email=a%40b.c')), { limit: '3', email: 'a@b.c' })
  t.same(plain(parseQueryString('/v1/customers')), {})
  // Non-consecutive indexes stay an object (Stripe would refuse such a list).
  t.same(plain(parseFormBody('a[1]=x')), { a: { 1: 'x' } })
})

t.test('hostile keys are refused with a Stripe 400, never pollute prototypes', async (t) => {
  const cases = [
    '__proto__[polluted]=1',
    'metadata[__proto__][polluted]=1',
    'a[constructor][prototype][polluted]=1',
    'a[b=1',
    'a=1&a=2',
    'a=1&a[b]=2',
    `${'a'.repeat(201)}=1`,
    'a[b][c][d][e][f][g]=1',
  ]
  for (const body of cases) {
    const err = (() => {
      try {
        parseFormBody(body)
        return undefined
      } catch (e) {
        return e
      }
    })()
    t.ok(err instanceof StripeSimError, body)
    t.equal((err as StripeSimError).statusCode, 400, body)
    t.equal((err as StripeSimError).body.type, 'invalid_request_error', body)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  const many = Array.from({ length: 1001 }, (_, i): [string, string] => [`k${i}`, 'v'])
  t.throws(() => expandForm(many), StripeSimError)
  t.throws(() => expandForm([['a', 'x'.repeat(20_001)]]), StripeSimError)
})
