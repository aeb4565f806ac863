// Bank statement files: gateway/bank/statements/'s parseStatement (format
// detection, CAMT.053, MT940, CSV with a column mapping) fed with the sample
// statements of simulators/bank-sim/samples damaged token by token and byte by
// byte, markup bombs and random text, as bytes or as text, with the format
// named or detected. Oracle: either a parsed statement whose transactions have
// the promised shape (YYYY-MM-DD dates, signed amounts with two decimals, a
// three-letter currency) and whose problems point into the file, or a
// StatementFormatError; nothing else is thrown.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { parseStatement, StatementFormatError, type CsvStatementOptions, type StatementFormat } from '../../../gateway/bank/statements/index.js'
import { mutatedBytes, mutatedText, nastyString } from '../mutate.js'
import { expect, type FuzzTarget, type Verdict } from '../target.js'

const SAMPLES_DIR = new URL('../../bank-sim/samples/', import.meta.url)
const SAMPLES = ['statement.camt053.xml', 'statement.mt940', 'statement.csv'].map((name) => readFileSync(new URL(name, SAMPLES_DIR), 'utf8'))
const SAMPLE_CSV: CsvStatementOptions = { columns: { date: 'date', amount: 'amount', currency: 'currency', payer: 'payer', iban: 'iban', reference: 'reference' } }

const MARKUP_BOMBS: readonly string[] = [
  `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Document><BkToCstmrStmt><Stmt><Ntry><Amt Ccy="EUR">&c;</Amt></Ntry></Stmt></BkToCstmrStmt></Document>`,
  `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Document><BkToCstmrStmt><Stmt><Ntry><AddtlNtryInf>&xxe;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>`,
  `<Document><BkToCstmrStmt>${'<Stmt>'.repeat(3000)}${'</Stmt>'.repeat(3000)}</BkToCstmrStmt></Document>`,
  `<Document><BkToCstmrStmt><Stmt>${'<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>'.repeat(2000)}</Stmt></BkToCstmrStmt></Document>`,
  `:20:X\r\n${':61:2607010701C25,00NTRFNONREF\r\n'.repeat(3000)}:62F:C260815EUR1054,99\r\n-`,
  `date;amount;payer;reference\n${'2026-07-01;1,00;"a;b";"'.repeat(500)}`,
]

export interface StatementInput {
  content: string | Uint8Array
  format?: StatementFormat
  csv?: CsvStatementOptions
}

const csvOptions: fc.Arbitrary<CsvStatementOptions> = fc.oneof(
  fc.constant(SAMPLE_CSV),
  fc.record(
    {
      columns: fc.constant(SAMPLE_CSV.columns),
      delimiter: fc.oneof(fc.constantFrom(',', ';', '\t', '|'), nastyString),
      decimalComma: fc.boolean(),
      dateFormat: fc.constantFrom('YYYY-MM-DD', 'DD.MM.YYYY'),
      currency: fc.oneof(fc.constant('EUR'), nastyString),
      headerRow: fc.boolean(),
    },
    { requiredKeys: ['columns'] },
  ) as fc.Arbitrary<CsvStatementOptions>,
  fc.record({ columns: fc.record({ date: fc.nat({ max: 8 }), amount: fc.nat({ max: 8 }), payer: fc.nat({ max: 8 }), reference: fc.nat({ max: 8 }) }), headerRow: fc.constant(false) }),
)

const content: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: mutatedText(SAMPLES) },
  { weight: 2, arbitrary: mutatedBytes(SAMPLES.map((s) => Buffer.from(s, 'utf8'))) },
  { weight: 1, arbitrary: mutatedText(MARKUP_BOMBS, 2) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 400 }), fc.uint8Array({ maxLength: 400 })) },
)

const arbitrary: fc.Arbitrary<StatementInput> = fc.record(
  { content, format: fc.constantFrom<StatementFormat>('camt053', 'mt940', 'csv'), csv: csvOptions },
  { requiredKeys: ['content', 'csv'] },
)

const DATE = /^\d{4}-\d{2}-\d{2}$/
const AMOUNT = /^-?\d+\.\d{2}$/
const CURRENCY = /^[A-Z]{3}$/

export function runBankStatement(input: StatementInput): Verdict {
  let parsed
  try {
    parsed = parseStatement(input.content, { ...(input.format === undefined ? {} : { format: input.format }), csv: input.csv })
  } catch (err) {
    expect(err instanceof StatementFormatError, `parseStatement threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} instead of a StatementFormatError`)
    return 'refused'
  }
  for (const tx of parsed.transactions) {
    expect(DATE.test(tx.date), `transaction date ${JSON.stringify(tx.date)} is not YYYY-MM-DD`)
    expect(AMOUNT.test(tx.amount), `transaction amount ${JSON.stringify(tx.amount)} is not a signed decimal with two decimals`)
    expect(CURRENCY.test(tx.currency), `transaction currency ${JSON.stringify(tx.currency)} is not a three-letter code`)
    expect(typeof tx.payer === 'string' && typeof tx.reference === 'string', 'payer and reference are strings')
  }
  const entries = parsed.transactions.length + parsed.problems.filter((p) => p.index >= 0).length
  for (const problem of parsed.problems) expect(Number.isInteger(problem.index) && problem.index >= -1 && problem.index < entries, `problem index ${problem.index} points outside the ${entries} entries`)
  return parsed.transactions.length > 0 ? 'accepted' : 'refused'
}

export const bankStatementsTarget: FuzzTarget<StatementInput> = {
  name: 'bank-statements',
  description: 'bank statement files (CAMT.053, MT940, CSV) from the samples, damaged, and markup bombs',
  ciCount: 100,
  create: () => ({ arbitrary, synchronous: true, run: runBankStatement }),
}
