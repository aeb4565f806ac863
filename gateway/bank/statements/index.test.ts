import t from 'tap'
import { readFileSync } from 'node:fs'
import { GERMAN_MAPPING } from './testing/csv-mappings.js'
import { checkStatementSize, decodeStatement, detectStatementFormat, parseStatement, STATEMENT_MAX_BYTES, StatementFormatError, StatementTooLargeError } from './index.js'

const sample = (name: string) => readFileSync(new URL(`./testing/${name}`, import.meta.url))

t.test('the format is detected from the content', async (t) => {
  t.equal(detectStatementFormat(sample('statement.camt053.xml').toString('utf8')), 'camt053')
  t.equal(detectStatementFormat(sample('statement.mt940').toString('utf8')), 'mt940')
  t.equal(detectStatementFormat(sample('statement.csv').toString('utf8')), 'csv')
  t.throws(() => detectStatementFormat('<?xml version="1.0"?><Document><pain/></Document>'), { name: 'StatementFormatError', message: /XML but not a CAMT.053/ })
  t.equal(parseStatement(sample('statement.camt053.xml')).format, 'camt053')
  t.equal(parseStatement(sample('statement.mt940')).format, 'mt940')
  t.equal(parseStatement(sample('statement.csv'), { csv: GERMAN_MAPPING }).format, 'csv')
})

t.test('the three sample statements give the same transactions, twice alike', async (t) => {
  const strip = (parsed: ReturnType<typeof parseStatement>) => parsed.transactions.map(({ date, amount, currency, iban, endToEndId, returnReason }) => ({ date, amount, currency, iban, endToEndId, returnReason }))
  const camt = parseStatement(sample('statement.camt053.xml'))
  const mt940 = parseStatement(sample('statement.mt940'))
  const csv = parseStatement(sample('statement.csv'), { csv: GERMAN_MAPPING })
  t.same(strip(mt940), strip(camt))
  t.same(strip(csv), strip(camt))
  t.same(parseStatement(sample('statement.csv'), { csv: GERMAN_MAPPING }), csv)
})

t.test('a named format that does not fit the content is refused as a whole', async (t) => {
  t.throws(() => parseStatement(sample('statement.csv'), { format: 'camt053' }), StatementFormatError)
  t.throws(() => parseStatement(sample('statement.csv'), { format: 'mt940' }), StatementFormatError)
  t.throws(() => parseStatement(sample('statement.csv')), { name: 'StatementFormatError', message: /needs a column mapping/ })
  t.throws(() => parseStatement(sample('statement.mt940'), { format: 'csv', csv: GERMAN_MAPPING }), { message: /CSV header has no column "Buchungstag"/ })
})

t.test('a 50 MB file is refused by its size before anything is parsed, naming the limit', async (t) => {
  // Garbage that would fail parsing differently: the size refusal must come first.
  const fiftyMegabytes = Buffer.alloc(50 * 1024 * 1024, '<')
  let error: unknown
  try {
    parseStatement(fiftyMegabytes)
  } catch (err) {
    error = err
  }
  t.type(error, StatementTooLargeError)
  t.match((error as Error).message, `statement file is ${50 * 1024 * 1024} bytes, over the limit of ${STATEMENT_MAX_BYTES} bytes (20 MiB)`)
  t.throws(() => checkStatementSize(STATEMENT_MAX_BYTES + 1), StatementTooLargeError)
  t.doesNotThrow(() => checkStatementSize(STATEMENT_MAX_BYTES))
  t.throws(() => parseStatement(sample('statement.mt940'), { maxBytes: 100 }), { name: 'StatementTooLargeError', message: /over the limit of 100 bytes/ })
  t.throws(() => parseStatement('x'.repeat(101), { maxBytes: 100 }), StatementTooLargeError, 'text counts by its UTF-8 bytes too')
})

t.test('UTF-8 with a byte order mark, or Latin-1 as older bank exports are', async (t) => {
  const latin1 = Buffer.from(sample('statement.csv').toString('utf8'), 'latin1')
  t.equal(decodeStatement(latin1), sample('statement.csv').toString('utf8'))
  t.equal(parseStatement(latin1, { csv: GERMAN_MAPPING }).transactions.length, 3)
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), sample('statement.camt053.xml')])
  t.equal(parseStatement(withBom).transactions.length, 3)
})

t.test('the simulated bank sample statements (simulators/bank-sim/samples/) read alike in all three formats', async (t) => {
  const simulated = (name: string) => readFileSync(new URL(`../../../simulators/bank-sim/samples/${name}`, import.meta.url))
  const camt = parseStatement(simulated('statement.camt053.xml'))
  const mt940 = parseStatement(simulated('statement.mt940'))
  const csv = parseStatement(simulated('statement.csv'), { csv: { columns: { date: 'date', amount: 'amount', currency: 'currency', payer: 'payer', iban: 'iban', reference: 'reference' } } })
  for (const parsed of [camt, mt940, csv]) {
    t.same(parsed.problems, [], parsed.format)
    t.same(
      parsed.transactions.map(({ date, amount, currency, payer, iban }) => ({ date, amount, currency, payer, iban })),
      [
        { date: '2026-07-01', amount: '25.00', currency: 'EUR', payer: 'Maria Schmidt', iban: 'DE44500105175407324931' },
        { date: '2026-07-02', amount: '10.00', currency: 'EUR', payer: 'Tom Becker', iban: 'DE12500105170648489890' },
        { date: '2026-08-15', amount: '19.99', currency: 'EUR', payer: "Ada O'Lovelace", iban: 'DE02120300000000202051' },
      ],
      parsed.format,
    )
    t.match(parsed.transactions[0]!.reference, /WP-7KQ4-M2XD-9/)
    t.equal(parsed.transactions[1]!.reference, '')
    t.match(parsed.transactions[2]!.reference, /WP-PO-000001/)
  }
  for (const parsed of [camt, mt940]) t.match(parsed.transactions[2], { endToEndId: 'WP-PO-000001', returnReason: 'AC04' }, parsed.format)
})
