import t from 'tap'
import { bankChecksum, centsOfBankAmount, checkBankTransaction, isoDateOfBankDate } from './bank-transaction.js'

t.test('amounts: signed decimals with at most two places, nothing else', async (t) => {
  t.equal(centsOfBankAmount('57.00'), 5700)
  t.equal(centsOfBankAmount('0.29'), 29)
  t.equal(centsOfBankAmount('-12.5'), -1250)
  t.equal(centsOfBankAmount('1000000.00'), 100_000_000)
  for (const bad of ['1e3', '-0.00', '0', '0.00', '12,34', '1.234', '+1.00', ' 1.00', '1 000.00', '01.00', '--1', '-', '', '1000000.01', 'NaN'])
    t.equal(centsOfBankAmount(bad), undefined, JSON.stringify(bad))
})

t.test('dates as banks write them, checked on the calendar', async (t) => {
  t.equal(isoDateOfBankDate('2017-06-26'), '2017-06-26')
  t.equal(isoDateOfBankDate('26.06.2017'), '2017-06-26')
  t.equal(isoDateOfBankDate('26.06.17'), '2017-06-26')
  t.equal(isoDateOfBankDate('20170626'), '2017-06-26')
  t.equal(isoDateOfBankDate('1/2/2026'), '2026-02-01')
  for (const bad of ['2026-02-30', '31.04.2026', '2026-13-01', '1999-12-31', 'today', '', '2026-1-1', '26.06.2017 12:00'])
    t.equal(isoDateOfBankDate(bad), undefined, bad)
})

t.test('the checksum ignores case, spaces and punctuation of payer and reference, not amount or date', async (t) => {
  const base = { payer: 'John Doe', reference: 'SAMPLECONF-NAB12', amountCents: 5700, amount: '57.00', isoDate: '2017-06-26', date: '26.06.2017' }
  const sum = bankChecksum(base)
  t.match(sum, /^[0-9a-f]{40}$/)
  t.equal(bankChecksum({ ...base, payer: 'JOHN  DOE', reference: 'sampleconf-\r\nnab12' }), sum)
  t.equal(bankChecksum({ ...base, amount: '57.0', date: '2017-06-26' }), sum, 'the same amount and day however written')
  t.not(bankChecksum({ ...base, amountCents: 5701 }), sum)
  t.not(bankChecksum({ ...base, isoDate: '2017-06-27' }), sum)
})

t.test('a transaction with fields of the wrong type is invalid, with every reason', async (t) => {
  const checked = checkBankTransaction({ payer: 7, amount: 5, date: ['x'], currency: 'USD', bic: 'x'.repeat(17) }, 'EUR')
  t.equal(checked.amountCents, null)
  t.match(checked.problem, /payer must be a string.*amount must be a string.*date must be a string.*bic is longer.*currency USD/)
  t.equal(checked.bic.length, 16, 'cut before it is stored')
  t.equal(checkBankTransaction({ amount: '1.00', date: '2026-01-01', currency: 'eur' }, 'EUR').problem, null)
})
