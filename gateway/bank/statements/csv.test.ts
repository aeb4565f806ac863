import t from 'tap'
import { readFileSync } from 'node:fs'
import { csvAmount, parseCsvStatement } from './csv.js'
import { GERMAN_MAPPING } from './testing/csv-mappings.js'

const SAMPLE = readFileSync(new URL('./testing/statement.csv', import.meta.url), 'utf8')

t.test('the sample statement: a top-up with a reference, a transfer without one, a returned payout', async (t) => {
  t.same(parseCsvStatement(SAMPLE, GERMAN_MAPPING), {
    format: 'csv',
    transactions: [
      { date: '2026-07-05', amount: '25.00', currency: 'EUR', payer: 'Anna Beispiel', iban: 'DE79100100100012345678', reference: 'Aufladung WP-TOPUP-K7Q2M4' },
      { date: '2026-07-05', amount: '40.00', currency: 'EUR', payer: 'Ben Muster', iban: 'DE12500105170648489890', reference: '' },
      {
        date: '2026-07-06',
        amount: '12.50',
        currency: 'EUR',
        payer: 'Carla Probe',
        iban: 'DE64120300000001234567',
        reference: 'Retoure; Auszahlung Festivalguthaben',
        endToEndId: 'WPPAYOUT-R1-0003',
        returnReason: 'AC04',
      },
    ],
    problems: [],
  })
})

t.test('a statement parsed twice gives the same output', async (t) => {
  t.equal(JSON.stringify(parseCsvStatement(SAMPLE, GERMAN_MAPPING)), JSON.stringify(parseCsvStatement(SAMPLE, GERMAN_MAPPING)))
})

t.test('columns by position without a header, decimal point, ISO dates, a default currency, a comma delimiter, cells trimmed', async (t) => {
  const text = '2026-07-05,-5.00,Dora Gast,WP-PAYOUT,DE12500105170648489890\n 2026-07-06 , +7 ,Eva,,\n'
  const parsed = parseCsvStatement(text, { columns: { date: 1, amount: 2, payer: 3, reference: 4, iban: 5 }, headerRow: false, currency: 'CHF', delimiter: ',' })
  t.same(parsed.transactions, [
    { date: '2026-07-05', amount: '-5.00', currency: 'CHF', payer: 'Dora Gast', iban: 'DE12500105170648489890', reference: 'WP-PAYOUT' },
    { date: '2026-07-06', amount: '7.00', currency: 'CHF', payer: 'Eva', reference: '' },
  ])
})

t.test('amounts per the mapping: 1e3, -0.00 and 12,34 (decimal point) are problems; 12,34 and 1.234,56 with a decimal comma are amounts', async (t) => {
  const point = (text: string) => csvAmount(text, false)
  const comma = (text: string) => csvAmount(text, true)
  t.same(point('12.34'), { ok: true, value: 1234 })
  t.same(point('-5'), { ok: true, value: -500 })
  t.match(point('1e3'), { ok: false, reason: /amount "1e3" is not a decimal-point amount/ })
  t.match(point('-0.00'), { ok: false, reason: 'amount is zero' })
  t.match(point('12,34'), { ok: false, reason: /decimal comma option/ })
  t.match(point('12.345'), { ok: false })
  t.match(point('1,234.56'), { ok: false })
  t.same(comma('12,34'), { ok: true, value: 1234 })
  t.same(comma('-1.234,56'), { ok: true, value: -123456 })
  t.match(comma('12.34'), { ok: false, reason: /not a decimal-comma amount/ })
  t.match(comma('1e3'), { ok: false })
  t.match(comma('-0,00'), { ok: false, reason: 'amount is zero' })
})

t.test('garbage lines, short rows, bad quotes, bad dates and currencies are problems with their line; the other rows still parse', async (t) => {
  const text = [
    'Buchungstag;Betrag;Name;Zweck;Währung',
    '05.07.2026;1,00;Anna;ok 1;EUR',
    '!!! garbage !!!',
    '05.07.2026;2,00;"Ben"x;stray quote;EUR',
    '31.02.2026;3,00;Carla;bad date;EUR',
    '2026-07-05;3,00;Carla;wrong date format;EUR',
    '05.07.2026;4,00;Dora;bad currency;euro',
    '05.07.2026;1e3;Eva;exponent;EUR',
    '',
    '06.07.2026;5,00;Finn;ok 2;EUR',
  ].join('\r\n')
  const parsed = parseCsvStatement(text, { columns: { date: 'buchungstag', amount: 'Betrag', payer: 'Name', reference: 'Zweck', currency: 'Währung' }, decimalComma: true, dateFormat: 'DD.MM.YYYY' })
  t.same(
    parsed.transactions.map((transaction) => transaction.reference),
    ['ok 1', 'stray quote', 'ok 2'],
  )
  t.equal(parsed.transactions[1]!.payer, '"Ben"x', 'a stray quote stays text')
  t.same(
    parsed.problems.map((problem) => problem.index),
    [1, 3, 4, 5, 6],
  )
  t.match(parsed.problems[0]!.message, /^line 3: has 1 column, the mapping needs 5/)
  t.match(parsed.problems[1]!.message, /^line 5: date "2026-02-31" is not a calendar date/)
  t.match(parsed.problems[2]!.message, /^line 6: date "2026-07-05" is not written DD.MM.YYYY/)
  t.match(parsed.problems[3]!.message, /currency "euro"/)
  t.match(parsed.problems[4]!.message, /amount "1e3"/)
})

t.test('a quote that is never closed swallows the rest of the file: reported as a problem, the rows before it stay', async (t) => {
  const parsed = parseCsvStatement('Datum;Betrag;Name;Zweck\n2026-07-05;1.00;Anna;ok\n2026-07-05;2.00;"Ben;lost\n2026-07-05;3.00;Carla;lost too\n', {
    columns: { date: 'Datum', amount: 'Betrag', payer: 'Name', reference: 'Zweck' },
  })
  t.same(
    parsed.transactions.map((transaction) => transaction.payer),
    ['Anna'],
  )
  t.equal(parsed.problems.length, 1)
  t.match(parsed.problems[0]!.message, /Quote Not Closed/)
})

t.test('a mapping the file cannot satisfy, binary data or an empty file is refused as a whole', async (t) => {
  t.throws(() => parseCsvStatement(SAMPLE, { ...GERMAN_MAPPING, columns: { ...GERMAN_MAPPING.columns, amount: 'Amount' } }), {
    name: 'StatementFormatError',
    message: /CSV header has no column "Amount" for amount \(it has "Buchungstag", /,
  })
  t.throws(() => parseCsvStatement('a,b\n1,2\n', { columns: { date: 'a', amount: 2, payer: 0, reference: 1 } }), /position from 1, got 0/)
  t.throws(() => parseCsvStatement('1,2\n', { columns: { date: 'a', amount: 2, payer: 1, reference: 1 }, headerRow: false }), /no header row: give its position/)
  t.throws(() => parseCsvStatement('a\u0000b', GERMAN_MAPPING), /binary data/)
  t.throws(() => parseCsvStatement(' \n', GERMAN_MAPPING), /empty/)
  t.throws(() => parseCsvStatement(SAMPLE, { ...GERMAN_MAPPING, delimiter: '"' }), /delimiter/)
})
