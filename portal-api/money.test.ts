import t from 'tap'
import fc from 'fast-check'
import { MAX_EDGE_CENTS, amountFromCents, centsFromAmount } from './money.js'

t.test('every cent amount survives the edge both ways', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_EDGE_CENTS }), (cents) => {
      const amount = amountFromCents(cents)
      // Through JSON too, as a client would send it back.
      const back = centsFromAmount(JSON.parse(JSON.stringify(amount)) as number)
      return back.ok && back.cents === cents && /^\d+(\.\d{1,2})?$/.test(String(amount))
    }),
    { numRuns: 20_000 },
  )
  t.pass('property held')
})

t.test('floating-point edge cases convert exactly', async (t) => {
  // x * 100 of these is not an integer in binary floating point.
  for (const [amount, cents] of [[19.99, 1999], [0.3, 30], [1.1, 110], [4.35, 435], [1.15, 115], [0.07, 7], [100000, 10_000_000], [0, 0], [-0, 0]] as const)
    t.same(centsFromAmount(amount), { ok: true, cents }, String(amount))
})

t.test('more than two decimals, negatives, non-finite and huge amounts are refused', async (t) => {
  for (const amount of [0.1 + 0.2, 1.005, 0.001, 10.123, -0.01, -5, Number.NaN, Infinity, -Infinity, 100000.01, 1e300, Number.MIN_VALUE])
    t.equal(centsFromAmount(amount).ok, false, String(amount))
  t.throws(() => amountFromCents(1.5), RangeError)
  t.throws(() => amountFromCents(Number.MAX_SAFE_INTEGER + 2), RangeError)
})
