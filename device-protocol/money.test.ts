import t from 'tap'
import fc from 'fast-check'
import { MAX_EDGE_AMOUNT_CENTS, centsFromDecimal, centsFromDecimalString, decimalFromCents, decimalStringFromCents } from './money.js'

t.test('every cent amount survives the decimal edge both ways, through JSON too', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_EDGE_AMOUNT_CENTS }), (cents) => {
      const amount = decimalFromCents(cents)
      const back = centsFromDecimal(JSON.parse(JSON.stringify(amount)) as number)
      return back.ok && back.cents === cents && /^\d+(\.\d{1,2})?$/.test(String(amount))
    }),
    { numRuns: 20_000 },
  )
  t.equal(JSON.stringify({ amount: decimalFromCents(1234) }), '{"amount":12.34}')
  t.equal(JSON.stringify({ amount: decimalFromCents(10) }), '{"amount":0.1}')
})

t.test('floating-point edge cases convert exactly', async (t) => {
  // x * 100 of these is not an integer in binary floating point.
  for (const [amount, cents] of [[19.99, 1999], [0.3, 30], [1.1, 110], [4.35, 435], [1.15, 115], [0.07, 7], [1004.99, 100499], [0, 0], [-0, 0]] as const)
    t.same(centsFromDecimal(amount), { ok: true, cents }, String(amount))
  t.ok(Object.is((centsFromDecimal(-0) as { cents: number }).cents, 0), 'no negative zero')
  t.same(centsFromDecimal(-2.5, { allowNegative: true }), { ok: true, cents: -250 })
})

t.test('more than two decimals, negatives, non-numbers and huge amounts are refused, never rounded', async (t) => {
  for (const bad of [0.1 + 0.2, 1.005, 0.001, 12.345, 1e-7, -0.01, -5, Number.NaN, Infinity, -Infinity, 1e21, 1e300, Number.MIN_VALUE, '12.34', null, undefined, {}, [], true])
    t.equal(centsFromDecimal(bad).ok, false, String(bad))
  t.equal(centsFromDecimal(100.01, { maxCents: 10_000 }).ok, false, 'above the given maximum')
  t.match(centsFromDecimal(0.001), { ok: false, reason: /2 decimals/ })
  t.throws(() => decimalFromCents(1.5), RangeError)
  t.throws(() => decimalFromCents(Number.MAX_SAFE_INTEGER + 2), RangeError)
})

t.test('decimal strings become exact cents', async (t) => {
  t.equal(centsFromDecimalString('56.78'), 5678)
  t.equal(centsFromDecimalString('0.29'), 29) // 0.29 * 100 is 28.999999999999996 as a float
  t.equal(centsFromDecimalString('12.3'), 1230)
  t.equal(centsFromDecimalString('7'), 700)
  t.equal(centsFromDecimalString('0.00'), 0)
  t.equal(centsFromDecimalString('1000000.00'), MAX_EDGE_AMOUNT_CENTS)
  for (const bad of ['', ' 1.00', '1.00 ', '-1.00', '+1.00', '1.234', '1.', '.5', '1e3', '0x10', '01.00', '1,00', 'NaN', 'Infinity', '1000000.01', '99999999999', '１.00'])
    t.equal(centsFromDecimalString(bad), undefined, JSON.stringify(bad))
  t.equal(centsFromDecimalString('10.00', 999), undefined, 'above the given maximum')
})

t.test('decimal strings and cents round-trip over all amounts', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: MAX_EDGE_AMOUNT_CENTS }), (cents) => centsFromDecimalString(decimalStringFromCents(cents)) === cents))
  t.equal(decimalStringFromCents(5), '0.05')
  t.equal(decimalStringFromCents(-1234), '-12.34')
  t.throws(() => decimalStringFromCents(1.5), RangeError)
})
