import t from 'tap'
import { checkCustomerInfo } from './customer-info.js'

const valid = { iban: 'DE89370400440532013000', accountName: 'Alice', email: 'alice@example.org', donationCents: 0 }

t.test('a valid registration is normalised', async (t) => {
  t.same(checkCustomerInfo({ ...valid, iban: ' de89 3704 0044 0532 0130 00 ', accountName: '  Alice  ', email: ' alice@example.org ' }, ['DE']), {
    ok: true,
    value: { ...valid },
  })
  t.equal(checkCustomerInfo({ ...valid, iban: 'FR1420041010050500013M02606' }, null).ok, true, 'null accepts every country')
  t.equal(checkCustomerInfo(valid, ['de']).ok, true, 'country codes compare case-insensitively')
})

t.test('each field is checked and named; the IBAN is never echoed', async (t) => {
  const cases: [Partial<typeof valid>, string, string][] = [
    [{ iban: 'DE89370400440532013001' }, 'iban', 'value_error.iban'],
    [{ iban: '' }, 'iban', 'value_error.iban'],
    [{ iban: 'FR1420041010050500013M02606' }, 'iban', 'value_error.iban_country'],
    [{ accountName: '' }, 'account_name', 'value_error.account_name'],
    [{ accountName: 'x'.repeat(71) }, 'account_name', 'value_error.account_name'],
    [{ accountName: 'a\nb' }, 'account_name', 'value_error.account_name'],
    [{ email: 'a@b' }, 'email', 'value_error.email'],
    [{ email: 'a b@example.org' }, 'email', 'value_error.email'],
    [{ email: `${'a'.repeat(250)}@example.org` }, 'email', 'value_error.email'],
    [{ donationCents: -1 }, 'donation', 'value_error.donation'],
    [{ donationCents: 1.5 }, 'donation', 'value_error.donation'],
  ]
  for (const [change, field, type] of cases) {
    const result = checkCustomerInfo({ ...valid, ...change }, ['DE', 'AT'])
    t.equal(result.ok, false, JSON.stringify(change))
    if (!result.ok) {
      t.same(result.problems.map((p) => [p.field, p.type]), [[field, type]])
      if (change.iban) t.notMatch(JSON.stringify(result), change.iban)
    }
  }
  const all = checkCustomerInfo({ iban: 'x', accountName: '', email: 'y', donationCents: -1 }, ['DE'])
  t.equal(all.ok ? 0 : all.problems.length, 4, 'all problems at once')
})
