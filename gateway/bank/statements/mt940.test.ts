import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseMt940 } from './mt940.js'

const SAMPLE = readFileSync(new URL('./testing/statement.mt940', import.meta.url), 'utf8')

/** A statement with the given :61:/:86: lines between an opening and a closing balance. */
function mt940(lines: string[], balances: { opening?: string; closing?: string } = {}): string {
  return [':20:TEST', ':25:DE89370400440532013000', ':28C:1/1', `:60F:${balances.opening ?? 'C260704EUR0,00'}`, ...lines, `:62F:${balances.closing ?? 'C260706EUR0,00'}`, '-'].join('\n')
}

t.test('the sample statement: a top-up with a reference, a transfer without one, a returned payout', async (t) => {
  t.same(parseMt940(SAMPLE), {
    format: 'mt940',
    account: 'DE89370400440532013000',
    transactions: [
      { date: '2026-07-05', amount: '25.00', currency: 'EUR', payer: 'Anna Beispiel', iban: 'DE79100100100012345678', reference: 'Aufladung WP-TOPUP-K7Q2M4' },
      { date: '2026-07-05', amount: '40.00', currency: 'EUR', payer: 'Ben Muster', iban: 'DE12500105170648489890', reference: '' },
      {
        date: '2026-07-06',
        amount: '12.50',
        currency: 'EUR',
        payer: 'Carla Probe',
        iban: 'DE64120300000001234567',
        reference: 'Auszahlung Festivalguthaben',
        endToEndId: 'WPPAYOUT-R1-0003',
        returnReason: 'AC04',
      },
    ],
    problems: [],
  })
})

t.test('a statement parsed twice gives the same output', async (t) => {
  t.equal(JSON.stringify(parseMt940(SAMPLE)), JSON.stringify(parseMt940(SAMPLE)))
})

t.test('German ?-subfields: purpose with EREF+ and SVWZ+, IBAN, name over two subfields', async (t) => {
  const parsed = parseMt940(
    mt940(
      [
        ':61:2607050705C25,00NTRFNONREF',
        ':86:166?00SEPA-UEBERWEISUNG?109310?20EREF+E2E-ANNA-1?21SVWZ+Aufladung WP-TOPUP-K7?22Q2M4?30COBADEFFXXX',
        '?31DE79100100100012345678?32Anna Beispiel-Lange?33name',
      ],
      { closing: 'C260706EUR25,00' },
    ),
  )
  t.same(parsed.transactions, [
    { date: '2026-07-05', amount: '25.00', currency: 'EUR', payer: 'Anna Beispiel-Langename', iban: 'DE79100100100012345678', reference: 'Aufladung WP-TOPUP-K7Q2M4', endToEndId: 'E2E-ANNA-1' },
  ])
  t.same(parsed.problems, [])
})

t.test('German ?-subfields of a returned transfer: RTRN+ gives the return reason, the remittance stops before it', async (t) => {
  const parsed = parseMt940(
    mt940(
      [
        ':61:2608150815C19,99NRTIWP-PO-000001',
        ':86:159?00SEPA-RUECKUEBERWEISUNG?20EREF+WP-PO-000001',
        '?21SVWZ+Festival balance refu?22nd WP-PO-000001?23RTRN+AC04',
        "?30BYLADEM1001?31DE02120300000000202051?32Ada O'Lovelace",
      ],
      { closing: 'C260815EUR19,99' },
    ),
  )
  t.same(parsed.transactions, [
    {
      date: '2026-08-15',
      amount: '19.99',
      currency: 'EUR',
      payer: "Ada O'Lovelace",
      iban: 'DE02120300000000202051',
      reference: 'Festival balance refund WP-PO-000001',
      endToEndId: 'WP-PO-000001',
      returnReason: 'AC04',
    },
  ])
})

t.test('free-text details stay whole as the reference; without details the line reference is used unless NONREF', async (t) => {
  const parsed = parseMt940(
    mt940(['::ignored', ':61:2607050705C1,50NTRFMYREF-77', ':61:2607050705C2,50NTRFNONREF', ':86:Danke fuer WP-TOPUP-ZZZZ99', 'und Gruss'], { closing: 'C260706EUR4,00' }),
  )
  t.same(
    parsed.transactions.map((transaction) => [transaction.amount, transaction.reference, transaction.payer]),
    [
      ['1.50', 'MYREF-77', ''],
      ['2.50', 'Danke fuer WP-TOPUP-ZZZZ99 und Gruss', ''],
    ],
  )
})

t.test('MT940 amount rules: 12,34 and 12, are amounts; 1e3, -0,00, 12.34, 0,00 and an impossible date are problems of their line', async (t) => {
  const parsed = parseMt940(
    mt940([
      ':61:2607050705C12,34NTRFNONREF',
      ':61:2607050705C1e3NTRFNONREF',
      ':86:/REMI/USTD//skipped with its line/',
      ':61:2607050705-0,00NTRFNONREF',
      ':61:2607050705C12.34NTRFNONREF',
      ':61:2607050705C0,00NTRFNONREF',
      ':61:2613400705C1,00NTRFNONREF',
      ':61:2607050705D12,NTRFNONREF',
      ':61:2607050705RD3,00NTRFNONREF',
      ':61:2607050705C1E3NTRFNONREF',
    ]),
  )
  t.same(
    parsed.transactions.map((transaction) => transaction.amount),
    ['12.34', '-12.00', '3.00'],
    'RD reverses a debit: money in',
  )
  t.same(
    parsed.problems.map((problem) => problem.index),
    [1, 2, 3, 4, 5, 8],
  )
  t.match(parsed.problems[0]!.message, /line 6: Cannot parse tag 61/, 'mt940js refuses the line')
  t.match(parsed.problems[1]!.message, /Cannot parse tag 61/)
  t.match(parsed.problems[5]!.message, /amount "1" is not an MT940 amount/, '1E3 reads as amount 1 and type E3NT: refused for its missing comma')
  t.match(parsed.problems[3]!.message, /amount is zero/)
  t.match(parsed.problems[4]!.message, /not a calendar date/)
  t.notOk(parsed.problems.some((problem) => problem.index === -1), 'no balance complaint on top of the line problems')
})

t.test('garbage lines and unknown tags are problems; the other lines still count', async (t) => {
  const parsed = parseMt940(
    mt940([':61:this is not a statement line', 'more garbage', ':99:unknown tag', ':61:2607050705C5,00NTRFNONREF', ':86:/REMI/USTD//WP-TOPUP-AB12CD/'], { closing: 'C260706EUR5,00' }),
  )
  t.same(parsed.transactions, [{ date: '2026-07-05', amount: '5.00', currency: 'EUR', payer: '', reference: 'WP-TOPUP-AB12CD' }])
  t.same(
    parsed.problems.map((problem) => problem.index),
    [0, -1],
  )
  t.match(parsed.problems[1]!.message, /Unknown tag 99/)
})

t.test('balances that do not add up are a problem of the statement (index -1)', async (t) => {
  const parsed = parseMt940(mt940([':61:2607050705C5,00NTRFNONREF'], { opening: 'C260704EUR10,00', closing: 'C260706EUR14,00' }))
  t.equal(parsed.transactions.length, 1)
  t.same(parsed.problems, [{ index: -1, message: 'statement 1: opening balance 10.00 plus its lines 5.00 is not the closing balance 14.00' }])
})

t.test('a file that is no MT940 statement is refused as a whole', async (t) => {
  t.throws(() => parseMt940('date;amount\n2026-07-05;1.00\n'), { name: 'StatementFormatError', message: /not an MT940 statement/ })
  t.throws(() => parseMt940(''), { name: 'StatementFormatError' })
})

t.test('German ?34 gives the return reason of a returned transfer, as camt.053 RtrInf/Rsn does', async (t) => {
  // Made-up lines in the German banks' layout: GVC 159 (a returned transfer), EREF+ and SVWZ+ in the purpose, the reason in ?34.
  const returned = (reason: string, purpose = '?20EREF+WP-PO-000007?21SVWZ+Festival balance refu?22nd WP-PO-000007') => [
    ':61:2608150815C19,99NRTINONREF',
    `:86:159?00SEPA-RUECKUEBERWEISUNG${purpose}`,
    `?30BYLADEM1001?31DE02120300000000202051?32Ada Beispiel${reason}`,
  ]
  const parse = (lines: string[], closing: string) => parseMt940(mt940(lines, { closing }))

  const iso = parse([...returned('?34AC04'), ...returned('?34MD07')], 'C260815EUR39,98')
  t.same(iso.problems, [])
  t.same(
    iso.transactions.map((tx) => [tx.endToEndId, tx.reference, tx.payer, tx.returnReason]),
    [
      ['WP-PO-000007', 'Festival balance refund WP-PO-000007', 'Ada Beispiel', 'AC04'],
      ['WP-PO-000007', 'Festival balance refund WP-PO-000007', 'Ada Beispiel', 'MD07'],
    ],
    'an ISO code in ?34 is the return reason; EREF+ and SVWZ+ read as before',
  )
  t.equal(
    parse(returned('?34MS03', '?20EREF+WP-PO-000007?21SVWZ+refund?22RTRN+AC01'), 'C260815EUR19,99').transactions[0]!.returnReason,
    'AC01',
    'RTRN+ in the purpose comes first',
  )
  // The banks' numeric codes (912, 997, ...) also qualify ordinary bookings: no return reason is guessed from them.
  for (const value of ['?34912', '?34997', '?34000', '?34ac04', '?34AC04X', '?34', '?34 12', '']) {
    const [tx] = parse(returned(value), 'C260815EUR19,99').transactions
    t.equal(tx!.returnReason, undefined, `no return reason from ${JSON.stringify(value)}`)
    t.equal(tx!.endToEndId, 'WP-PO-000007')
  }
  // An ordinary top-up whose ?34 qualifies the booking (997) is no return.
  const topup = parse([':61:2607050705C25,00NTRFNONREF', ':86:166?00SEPA-UEBERWEISUNG?20SVWZ+WP-TOPUP-K7Q2M4?32Anna Beispiel?34997'], 'C260706EUR25,00')
  t.same(topup.transactions, [{ date: '2026-07-05', amount: '25.00', currency: 'EUR', payer: 'Anna Beispiel', reference: 'WP-TOPUP-K7Q2M4' }])
})
