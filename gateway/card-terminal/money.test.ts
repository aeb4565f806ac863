import t from 'tap'
import fc from 'fast-check'
import { MAX_AMOUNT_CENTS, formatAmount, parseAmountCents } from './money.js'

t.test('decimal strings become exact cents', async (t) => {
  t.equal(parseAmountCents('56.78'), 5678)
  t.equal(parseAmountCents('0.29'), 29) // 0.29 * 100 is 28.999999999999996 as a float
  t.equal(parseAmountCents('12.3'), 1230)
  t.equal(parseAmountCents('7'), 700)
  t.equal(parseAmountCents('0'), 0)
  t.equal(parseAmountCents('0.00'), 0)
  t.equal(parseAmountCents('1000000.00'), MAX_AMOUNT_CENTS)
})

t.test('anything but a plain non-negative amount with at most two decimals is refused', async (t) => {
  for (const bad of ['', ' 1.00', '1.00 ', '-1.00', '+1.00', '1.234', '1.', '.5', '1e3', '0x10', '01.00', '1,00', 'NaN', 'Infinity', '1000000.01', '99999999999', '１.00'])
    t.equal(parseAmountCents(bad), undefined, JSON.stringify(bad))
})

t.test('format and parse round-trip over all amounts', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: MAX_AMOUNT_CENTS }), (cents) => parseAmountCents(formatAmount(cents)) === cents))
  t.equal(formatAmount(5), '0.05')
  t.equal(formatAmount(-1234), '-12.34')
  t.throws(() => formatAmount(1.5))
})
