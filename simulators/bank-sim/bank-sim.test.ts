// The simulated bank: reads pain.001 files (both versions), writes the CAMT.053
// statement of their execution with a seeded share of returns, refuses hostile
// files (DTDs and entities are never resolved), and its CLI; the shipped sample
// statements parse with the libraries the gateway reads them with.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseCsv } from 'csv-parse/sync'
import { XMLParser } from 'fast-xml-parser'
import t from 'tap'
import { bankStatementFromPain, chooseReturns, RETURN_REASONS, StatementOptionsError, statementForOrder } from './camt053.js'
import { parseBankStatementArgs, runBankCommand } from './cli.js'
import { decodeXmlText, Pain001Error, parsePain001 } from './pain001.js'

const SAMPLES = join(dirname(fileURLToPath(import.meta.url)), 'samples')
const sample = (name: string) => readFileSync(join(SAMPLES, name), 'utf8')
const PAIN_09 = sample('payout-run.pain.001.001.09.xml')
const PAIN_03 = sample('payout-run.pain.001.001.03.xml')

const readStatement = (xml: string) =>
  new XMLParser({ ignoreAttributes: false, parseTagValue: false, processEntities: true, isArray: (name) => ['Ntry', 'Bal'].includes(name) }).parse(xml).Document.BkToCstmrStmt.Stmt

t.test('both pain.001 versions read into the same order', async (t) => {
  const order09 = parsePain001(PAIN_09)
  const order03 = parsePain001(PAIN_03)
  t.same(order09, order03)
  t.equal(order09.messageId, 'WP-PAYOUT-SAMPLE-1')
  t.same(order09.debtor, { name: 'Example Festival GmbH', iban: 'DE89370400440532013000', bic: 'COBADEFFXXX' })
  t.equal(order09.executionDate, '2026-08-12')
  t.same(
    order09.transfers.map((tx) => [tx.endToEndId, tx.amountCents, tx.currency, tx.name, tx.iban, tx.bic]),
    [
      ['WP-PO-000001', 1999, 'EUR', "Ada O'Lovelace", 'DE02120300000000202051', undefined],
      ['WP-PO-000002', 4250, 'EUR', 'Juergen Gross', 'FR1420041010050500013M02606', 'BNPAFRPP'],
      ['WP-PO-000003', 705, 'EUR', 'Grace Hopper', 'NL91ABNA0417164300', undefined],
      ['WP-PO-000004', 12000, 'EUR', 'Alan Turing', 'DE75512108001245126199', undefined],
    ],
  )
  t.equal(order09.transfers[0]!.remittance, 'Festival balance refund WP-PO-000001')
})

t.test('the statement books every transfer out and returns the chosen share, balances adding up', async (t) => {
  const statement = bankStatementFromPain(PAIN_09, { returnShare: 0.5, seed: 7 })
  t.equal(statement.returned.length, 2, 'half of four')
  t.equal(statement.debitedCents, 18954)
  const returnedCents = statement.returned.reduce((sum, r) => sum + r.amountCents, 0)
  t.equal(statement.closingBalanceCents, statement.openingBalanceCents - 18954 + returnedCents)

  const stmt = readStatement(statement.xml)
  t.equal(stmt.Acct.Id.IBAN, 'DE89370400440532013000')
  const entries = stmt.Ntry as any[]
  const debits = entries.filter((e) => e.CdtDbtInd === 'DBIT')
  const credits = entries.filter((e) => e.CdtDbtInd === 'CRDT')
  t.equal(debits.length, 4)
  t.same(
    debits.map((e) => [e.NtryDtls.TxDtls.Refs.EndToEndId, e.Amt['#text'], e.BookgDt.Dt, e.Sts]),
    [
      ['WP-PO-000001', '19.99', '2026-08-12', 'BOOK'],
      ['WP-PO-000002', '42.50', '2026-08-12', 'BOOK'],
      ['WP-PO-000003', '7.05', '2026-08-12', 'BOOK'],
      ['WP-PO-000004', '120.00', '2026-08-12', 'BOOK'],
    ],
  )
  t.equal(credits.length, 2)
  for (const [i, credit] of credits.entries()) {
    const returned = statement.returned[i]!
    t.equal(credit.NtryDtls.TxDtls.Refs.EndToEndId, returned.endToEndId, 'the original end-to-end id comes back')
    t.equal(credit.NtryDtls.TxDtls.RtrInf.Rsn.Cd, returned.reason)
    t.ok(returned.reason in RETURN_REASONS)
    t.equal(credit.BkTxCd.Domn.Fmly.SubFmlyCd, 'RRTN')
    t.equal(credit.BookgDt.Dt, '2026-08-15', 'three days later by default')
    t.equal(credit.NtryDtls.TxDtls.RltdPties.DbtrAcct.Id.IBAN, order().transfers.find((tx) => tx.endToEndId === returned.endToEndId)!.iban)
  }
  const [opening, closing] = stmt.Bal as any[]
  t.same([opening.Tp.CdOrPrtry.Cd, opening.Amt['#text']], ['OPBD', '189.54'])
  t.same([closing.Tp.CdOrPrtry.Cd, closing.Amt['#text'], closing.CdtDbtInd], ['CLBD', (returnedCents / 100).toFixed(2), 'CRDT'])
  t.match(statement.xml, /<Nm>Ada O&apos;Lovelace<\/Nm>/, 'text escaped by the builder')
})

function order() {
  return parsePain001(PAIN_09)
}

t.test('deterministic given the seed; the share is exact', async (t) => {
  t.equal(bankStatementFromPain(PAIN_09, { returnShare: 0.5, seed: 7 }).xml, bankStatementFromPain(PAIN_09, { returnShare: 0.5, seed: 7 }).xml)
  const many = Array.from({ length: 40 }, (_, i) => ({ ...order().transfers[0]!, endToEndId: `E${i}` }))
  const picks = (seed: number) => [...chooseReturns(many, 0.1, seed).keys()]
  t.equal(picks(7).length, 4)
  t.same(picks(7), picks(7))
  t.not(picks(7).join(), picks(8).join(), 'another seed, other returns')
  t.equal(chooseReturns(many, 0, 7).size, 0)
  t.equal(chooseReturns(many, 1, 7).size, 40)
  const none = bankStatementFromPain(PAIN_03)
  t.same(none.returned, [])
  t.equal(none.closingBalanceCents, 0, 'by default the account held exactly the payouts')
  const withOpening = statementForOrder(order(), { openingBalanceCents: 10_000, returnShare: 1, returnDelayDays: 0 })
  t.equal(withOpening.closingBalanceCents, 10_000)
  t.ok(withOpening.returned.every((r) => r.date === '2026-08-12'))
  const overdrawn = readStatement(statementForOrder(order(), { openingBalanceCents: 0 }).xml).Bal[1]
  t.same([overdrawn.Amt['#text'], overdrawn.CdtDbtInd], ['189.54', 'DBIT'])
})

t.test('incoming credits (a guest\'s bank top-up) are booked as received transfers with their reference, in the balances and totals', async (t) => {
  const credits = [
    { amountCents: 2500, payer: 'Maria Schmidt', iban: 'DE44500105175407324931', reference: 'RF18 5390 0754 7034' },
    { amountCents: 1000, payer: 'Tom Becker', iban: 'DE12500105170648489890', reference: 'Festival', date: '2026-08-20' },
  ]
  const statement = statementForOrder(order(), { returnShare: 0.5, seed: 7, credits })
  t.equal(statement.creditedCents, 3500)
  const returnedCents = statement.returned.reduce((sum, r) => sum + r.amountCents, 0)
  t.equal(statement.closingBalanceCents, statement.openingBalanceCents - statement.debitedCents + returnedCents + 3500)
  const stmt = readStatement(statement.xml)
  const received = (stmt.Ntry as any[]).filter((e) => e.BkTxCd.Domn.Fmly.Cd === 'RCDT')
  t.same(
    received.map((e) => [e.CdtDbtInd, e.Amt['#text'], e.BookgDt.Dt, e.NtryDtls.TxDtls.RltdPties.Dbtr.Nm, e.NtryDtls.TxDtls.RltdPties.DbtrAcct.Id.IBAN, e.NtryDtls.TxDtls.RmtInf.Ustrd, e.NtryDtls.TxDtls.Refs.EndToEndId]),
    [
      ['CRDT', '25.00', '2026-08-12', 'Maria Schmidt', 'DE44500105175407324931', 'RF18 5390 0754 7034', 'NOTPROVIDED'],
      ['CRDT', '10.00', '2026-08-20', 'Tom Becker', 'DE12500105170648489890', 'Festival', 'NOTPROVIDED'],
    ],
  )
  t.same([stmt.TxsSummry.TtlCdtNtries.NbOfNtries, stmt.TxsSummry.TtlCdtNtries.Sum], ['4', ((returnedCents + 3500) / 100).toFixed(2)])
  t.equal(stmt.Bal[1].Dt.Dt, '2026-08-20', 'the statement runs to its last entry')
  t.equal(stmt.Bal[1].Amt['#text'], (statement.closingBalanceCents / 100).toFixed(2))
  for (const bad of [[{ ...credits[0]!, amountCents: 0 }], [{ ...credits[0]!, amountCents: 1.5 }], [{ ...credits[0]!, date: '20.08.2026' }], [{ ...credits[0]!, reference: 7 }], 'x']) {
    t.throws(() => statementForOrder(order(), { credits: bad as never }), StatementOptionsError, JSON.stringify(bad))
  }
})

t.test('bad options are refused', async (t) => {
  for (const options of [{ returnShare: -0.1 }, { returnShare: 1.5 }, { returnShare: Number.NaN }, { seed: -1 }, { seed: 1.5 }, { returnDelayDays: -1 }, { returnDelayDays: 61 }, { openingBalanceCents: 1.5 }]) {
    t.throws(() => statementForOrder(order(), options), StatementOptionsError, JSON.stringify(options))
  }
})

t.test('hostile pain.001 files: DTDs and entities are refused, never resolved', async (t) => {
  const withXxe = PAIN_09.replace('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>').replace(
    '<Nm>Grace Hopper</Nm>',
    '<Nm>&xxe;</Nm>',
  )
  t.throws(() => parsePain001(withXxe), { name: 'Pain001Error', message: /DOCTYPE/ })
  const laughs = `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Document><CstmrCdtTrfInitn>&b;</CstmrCdtTrfInitn></Document>`
  t.throws(() => parsePain001(laughs), { name: 'Pain001Error', message: /DOCTYPE/ })
  // Without a DTD an undeclared entity is left as written, not looked up anywhere.
  const undeclared = parsePain001(PAIN_09.replace('<Nm>Grace Hopper</Nm>', '<Nm>&xxe;</Nm>'))
  t.equal(undeclared.transfers[2]!.name, '&xxe;')
  t.equal(decodeXmlText('O&apos;Neil &amp; Co &#65;&#x42; &xxe; &#0;'), "O'Neil & Co AB &xxe; &#0;")
})

t.test('malformed or wrong files and amounts are refused with a reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not xml at all', /well-formed|no Document/],
    ['<Document><CstmrCdtTrfInitn>', /well-formed/],
    [sample('statement.camt053.xml'), /not a pain.001/],
    [PAIN_09.replace('<InstdAmt Ccy="EUR">19.99</InstdAmt>', '<InstdAmt Ccy="EUR">1e3</InstdAmt>'), /WP-PO-000001 is not a positive amount/],
    [PAIN_09.replace('<InstdAmt Ccy="EUR">19.99</InstdAmt>', '<InstdAmt Ccy="EUR">-0.00</InstdAmt>'), /not a positive amount/],
    [PAIN_09.replace('<InstdAmt Ccy="EUR">19.99</InstdAmt>', '<InstdAmt Ccy="EUR">12,34</InstdAmt>'), /not a positive amount/],
    [PAIN_09.replace('<InstdAmt Ccy="EUR">19.99</InstdAmt>', '<InstdAmt Ccy="EUR">0.00</InstdAmt>'), /not a positive amount/],
    [PAIN_09.replace('<InstdAmt Ccy="EUR">19.99</InstdAmt>', '<InstdAmt Ccy="EUR">1.005</InstdAmt>'), /not a positive amount/],
    [PAIN_09.replace('<InstdAmt Ccy="EUR">19.99</InstdAmt>', '<InstdAmt>19.99</InstdAmt>'), /no currency/],
    [PAIN_09.replace('<EndToEndId>WP-PO-000002</EndToEndId>', '<EndToEndId>WP-PO-000001</EndToEndId>'), /twice/],
    [PAIN_09.replace('<Dt>2026-08-12</Dt>', '<Dt>someday</Dt>'), /execution date/],
    [PAIN_09.replace(/<CdtTrfTxInf>[\s\S]*<\/CdtTrfTxInf>/, ''), /no transfer/],
    [PAIN_09.replace('<MsgId>WP-PAYOUT-SAMPLE-1</MsgId>', ''), /MsgId/],
  ]
  for (const [xml, message] of cases) t.throws(() => parsePain001(xml), { name: 'Pain001Error', message }, String(message))
  t.throws(() => parsePain001(PAIN_09, { maxBytes: 1000 }), { name: 'Pain001Error', message: /over the limit/ })
  const big = PAIN_09.replace('</Document>', `<!--${'x'.repeat(21 * 1024 * 1024)}--></Document>`)
  t.throws(() => parsePain001(big), { name: 'Pain001Error', message: /over the limit/ }, 'the default limit holds a 21 MB file off')
  t.throws(() => parsePain001(42 as never), Pain001Error)
})

t.test('CLI: wristpay-sim bank statement --pain FILE --returns 0.25 --seed 7', async (t) => {
  const out: string[] = []
  const err: string[] = []
  const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s), readText: async (path: string) => (path === 'run.xml' ? PAIN_09 : Promise.reject(new Error(`ENOENT: ${path}`))) }
  t.equal(await runBankCommand(['statement', '--pain', 'run.xml', '--returns', '0.25', '--seed', '7'], io), 0)
  t.equal(out.join(''), bankStatementFromPain(PAIN_09, { returnShare: 0.25, seed: 7 }).xml)
  t.match(err.join(''), /189\.54 EUR paid out, 1 returned/)

  for (const argv of [['statement'], ['statement', '--pain', 'run.xml', '--returns', '-0.1'], ['statement', '--pain', 'run.xml', '--returns', '2'], ['statement', '--pain', 'run.xml', '--seed', 'x'], ['statement', '--pain', 'missing.xml'], ['statement', '--pain', 'run.xml', '--what', '1'], ['nonsense'], []]) {
    err.length = 0
    t.equal(await runBankCommand(argv, io), 2, argv.join(' '))
    t.ok(err.join('').length > 0, 'says why')
  }
  t.same(parseBankStatementArgs(['--pain', 'a.xml', '--returns', '0.1', '--seed', '7', '--return-days', '5', '--opening', '1234.56']), {
    painPath: 'a.xml',
    returnShare: 0.1,
    seed: 7,
    returnDelayDays: 5,
    openingBalanceCents: 123456,
  })
})

t.test('the sample statements: the same three transfers in CAMT.053, MT940 and CSV', async (t) => {
  const camt = readStatement(sample('statement.camt053.xml'))
  t.same(
    (camt.Ntry as any[]).map((e) => [e.BookgDt.Dt, e.Amt['#text'], e.CdtDbtInd, e.NtryDtls.TxDtls.RltdPties.Dbtr.Nm, e.NtryDtls.TxDtls.RmtInf?.Ustrd ?? '', e.NtryDtls.TxDtls.Refs.EndToEndId]),
    [
      ['2026-07-01', '25.00', 'CRDT', 'Maria Schmidt', 'WP-7KQ4-M2XD-9', 'NOTPROVIDED'],
      ['2026-07-02', '10.00', 'CRDT', 'Tom Becker', '', 'NOTPROVIDED'],
      ['2026-08-15', '19.99', 'CRDT', "Ada O'Lovelace", 'Festival balance refund WP-PO-000001', 'WP-PO-000001'],
    ],
  )
  t.equal(camt.Ntry[2].NtryDtls.TxDtls.RtrInf.Rsn.Cd, 'AC04')

  const mt940js = createRequire(import.meta.url)('mt940js')
  const [statement] = new mt940js.Parser().parse(sample('statement.mt940'))
  t.equal(statement.accountIdentification, 'DE89370400440532013000')
  t.same([statement.openingBalance, statement.closingBalance], [1000, 1054.99])
  t.same(
    statement.transactions.map((tx: any) => [tx.amount, tx.reference, tx.structuredDetails['21'] ?? '', tx.structuredDetails['31'], tx.structuredDetails['32']]),
    [
      [25, 'NONREF', 'SVWZ+WP-7KQ4-M2XD-9', 'DE44500105175407324931', 'Maria Schmidt'],
      [10, 'NONREF', '', 'DE12500105170648489890', 'Tom Becker'],
      [19.99, 'WP-PO-000001', 'SVWZ+Festival balance refu', 'DE02120300000000202051', "Ada O'Lovelace"],
    ],
  )
  t.equal(statement.transactions[2].structuredDetails['23'], 'RTRN+AC04')

  t.same(parseCsv(sample('statement.csv'), { columns: true }), [
    { date: '2026-07-01', amount: '25.00', currency: 'EUR', payer: 'Maria Schmidt', iban: 'DE44500105175407324931', reference: 'WP-7KQ4-M2XD-9' },
    { date: '2026-07-02', amount: '10.00', currency: 'EUR', payer: 'Tom Becker', iban: 'DE12500105170648489890', reference: '' },
    { date: '2026-08-15', amount: '19.99', currency: 'EUR', payer: "Ada O'Lovelace", iban: 'DE02120300000000202051', reference: 'Return AC04 of WP-PO-000001, Festival balance refund' },
  ])
})
