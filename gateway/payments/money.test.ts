import t from 'tap'
import { centsToDecimal, decimalToCents } from './money.js'

t.test('decimal amounts with at most two decimals become integer cents', async (t) => {
  t.equal(decimalToCents(12.34), 1234)
  t.equal(decimalToCents(0.1), 10)
  t.equal(decimalToCents(19.99), 1999)
  t.equal(decimalToCents(1004.99), 100499)
  t.equal(decimalToCents(500), 50000)
  t.equal(decimalToCents(-2.5), -250)
  t.equal(decimalToCents(-0), 0)
  t.ok(Object.is(decimalToCents(-0), 0), 'no negative zero')
})

t.test('anything else is refused, not rounded', async (t) => {
  for (const bad of [0.1 + 0.2, 1.005 * 1000, 12.345, 0.001, 1e-7, 1e21, Number.NaN, Infinity, -Infinity, '12.34', null, undefined, {}, [], true, 2e12])
    t.equal(decimalToCents(bad), undefined, `refuses ${String(bad)}`)
})

t.test('cents print as the decimal a JSON API expects', async (t) => {
  t.equal(JSON.stringify({ amount: centsToDecimal(1234) }), '{"amount":12.34}')
  t.equal(JSON.stringify({ amount: centsToDecimal(10) }), '{"amount":0.1}')
  t.equal(JSON.stringify({ amount: centsToDecimal(5000) }), '{"amount":50}')
  // Round trip over every cent value of a realistic range.
  const broken: number[] = []
  for (let cents = 0; cents <= 1_000_000; cents++) if (decimalToCents(centsToDecimal(cents)) !== cents) broken.push(cents)
  t.same(broken, [], 'every amount up to 10,000.00 survives cents -> decimal -> cents')
  t.throws(() => centsToDecimal(12.5), RangeError)
  t.throws(() => centsToDecimal(Number.MAX_SAFE_INTEGER + 2), RangeError)
})
