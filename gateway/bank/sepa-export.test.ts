// The SEPA credit transfer export: both pain.001 versions validate against
// their XSDs (gateway/bank/testing/, see pain.001-xsd-sources.md), amounts and the control
// sum are exact, names are transliterated or refused, and bad input is refused
// with the field it is about.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { validateXML } from 'xmllint-wasm'
import { XMLParser } from 'fast-xml-parser'
import { parse as parseCsv } from 'csv-parse/sync'
import { bankStatementFromPain } from '../../simulators/bank-sim/camt053.js'
import {
  checkPayoutFile,
  csvField,
  MAX_PAYMENT_CENTS,
  PAIN_VERSIONS,
  renderPain001,
  renderPayoutCsv,
  SepaExportError,
  spreadsheetSafe,
  toSepaText,
  type PainVersion,
  type PayoutFile,
  type PayoutPayment,
} from './sepa-export.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const xsd = (version: PainVersion) => readFileSync(join(HERE, 'testing', `${version}.xsd`), 'utf8')

const payment = (overrides: Partial<PayoutPayment> = {}): PayoutPayment => ({
  endToEndId: 'WP-PO1-0001',
  name: 'Ada Lovelace',
  iban: 'DE02120300000000202051',
  amountCents: 1999,
  remittance: 'Festival refund WP-PO1-0001',
  ...overrides,
})

const run = (overrides: Partial<PayoutFile> = {}): PayoutFile => ({
  messageId: 'WP-PAYOUT-RUN-1',
  createdAt: Date.UTC(2026, 7, 10, 12, 30, 5),
  initiatingParty: 'Festival Example GmbH',
  debtor: { name: 'Festival Example GmbH', iban: 'DE89 3704 0044 0532 0130 00', bic: 'COBADEFFXXX' },
  executionDate: '2026-08-12',
  payments: [
    payment(),
    payment({ endToEndId: 'WP-PO1-0002', name: 'Jürgen Groß', iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPP', amountCents: 1, remittance: 'Refund' }),
    payment({ endToEndId: "WP-PO1-0003 (x'+?)", name: "Zoë O'Brien-Ångström", iban: 'NL91ABNA0417164300', amountCents: 123456, remittance: 'Refund: 1,234.56' }),
  ],
  ...overrides,
})

const parse = (xml: string) =>
  new XMLParser({ ignoreAttributes: false, parseTagValue: false, processEntities: true, isArray: (name) => name === 'CdtTrfTxInf' }).parse(xml)

function refuses(t: Test, make: () => unknown, field: string, message?: RegExp) {
  try {
    make()
    t.fail(`expected a refusal of ${field}`)
  } catch (err) {
    t.type(err, SepaExportError)
    t.equal((err as SepaExportError).field, field)
    if (message) t.match((err as Error).message, message)
  }
}

for (const version of PAIN_VERSIONS) {
  t.test(`${version} validates against its XSD and says what the run says`, async (t) => {
    const xml = renderPain001(run(), version)
    const result = await validateXML({ xml: [{ fileName: 'payout.xml', contents: xml }], schema: [{ fileName: `${version}.xsd`, contents: xsd(version) }] })
    t.same(result.errors, [], 'no schema errors')
    t.equal(result.valid, true)

    const doc = parse(xml).Document
    t.equal(doc['@_xmlns'], `urn:iso:std:iso:20022:tech:xsd:${version}`)
    const { GrpHdr, PmtInf } = doc.CstmrCdtTrfInitn
    t.equal(GrpHdr.MsgId, 'WP-PAYOUT-RUN-1')
    t.equal(GrpHdr.CreDtTm, '2026-08-10T12:30:05', 'creation time in UTC whatever the zone of the machine')
    t.equal(GrpHdr.NbOfTxs, '3')
    t.equal(GrpHdr.CtrlSum, '1254.56')
    t.equal(PmtInf.PmtInfId, 'WP-PAYOUT-RUN-1')
    t.equal(PmtInf.BtchBookg, 'false', 'every payout its own line on the statement')
    t.equal(version === 'pain.001.001.09' ? PmtInf.ReqdExctnDt.Dt : PmtInf.ReqdExctnDt, '2026-08-12')
    t.equal(PmtInf.DbtrAcct.Id.IBAN, 'DE89370400440532013000', 'IBAN in electronic form')
    const txs = PmtInf.CdtTrfTxInf
    t.same(
      txs.map((tx: any) => [tx.PmtId.InstrId, tx.PmtId.EndToEndId, tx.Amt.InstdAmt['#text'], tx.Amt.InstdAmt['@_Ccy'], tx.Cdtr.Nm, tx.CdtrAcct.Id.IBAN, tx.RmtInf.Ustrd]),
      [
        ['WP-PO1-0001', 'WP-PO1-0001', '19.99', 'EUR', 'Ada Lovelace', 'DE02120300000000202051', 'Festival refund WP-PO1-0001'],
        ['WP-PO1-0002', 'WP-PO1-0002', '0.01', 'EUR', 'Juergen Gross', 'FR1420041010050500013M02606', 'Refund'],
        ["WP-PO1-0003 (x'+?)", "WP-PO1-0003 (x'+?)", '1234.56', 'EUR', "Zoe O'Brien-Angstroem", 'NL91ABNA0417164300', 'Refund: 1,234.56'],
      ],
    )
  })

  t.test(`${version}: a file the schema refuses is reported (the validation is real)`, async (t) => {
    const broken = renderPain001(run(), version).replace('<NbOfTxs>3</NbOfTxs>', '<NbOfTxs>three</NbOfTxs>')
    const result = await validateXML({ xml: [{ fileName: 'payout.xml', contents: broken }], schema: [{ fileName: `${version}.xsd`, contents: xsd(version) }] })
    t.equal(result.valid, false)
  })
}

t.test('a run without a debtor BIC still validates (DbtrAgt NOTPROVIDED)', async (t) => {
  const file = run({ debtor: { name: 'Festival', iban: 'DE89370400440532013000' } })
  for (const version of PAIN_VERSIONS) {
    const result = await validateXML({ xml: [{ fileName: 'p.xml', contents: renderPain001(file, version) }], schema: [{ fileName: 'p.xsd', contents: xsd(version) }] })
    t.same(result.errors, [], version)
  }
})

t.test('the control sum is the exact sum of the cents, where adding floats would drift', async (t) => {
  // 5000 payouts near the SEPA maximum: adding them as euros in floating
  // point (what the library does itself) gives ...727.67; the exact sum is ...727.66.
  const payments = Array.from({ length: 5000 }, (_, i) => payment({ endToEndId: `WP-${i}`, amountCents: MAX_PAYMENT_CENTS - (i % 97) * 101 }))
  const exactCents = payments.reduce((sum, p) => sum + p.amountCents, 0)
  const floatSum = payments.reduce((sum, p) => sum + p.amountCents / 100, 0)
  t.not(floatSum.toFixed(2), '4999999758727.66', 'the float sum does drift here')
  t.equal(exactCents, 499999975872766)
  const doc = parse(renderPain001(run({ payments }), 'pain.001.001.09')).Document.CstmrCdtTrfInitn
  t.equal(doc.GrpHdr.CtrlSum, '4999999758727.66')
  t.equal(doc.PmtInf.CtrlSum, '4999999758727.66')
})

t.test('amounts print exactly from cents, 0.1 + 0.2 style sums included', async (t) => {
  const doc = parse(renderPain001(run({ payments: [payment({ amountCents: 10 }), payment({ endToEndId: 'E2', amountCents: 20 }), payment({ endToEndId: 'E3', amountCents: 99_999_999_999 })] }), 'pain.001.001.03')).Document
    .CstmrCdtTrfInitn
  t.same(doc.PmtInf.CdtTrfTxInf.map((tx: any) => tx.Amt.InstdAmt['#text']), ['0.10', '0.20', '999999999.99'])
  t.equal(doc.GrpHdr.CtrlSum, '1000000000.29')
})

t.test('names: transliterated where SEPA has a spelling, refused where not', async (t) => {
  t.equal(toSepaText('Jürgen Groß', 'name', 70), 'Juergen Gross')
  t.equal(toSepaText('Zoë Ångström', 'name', 70), 'Zoe Angstroem')
  t.equal(toSepaText('Łukasz Żółć', 'name', 70), 'Lukasz Zolc')
  t.equal(toSepaText('Søren Æbelø', 'name', 70), 'Soren AEbelo')
  t.equal(toSepaText('François  Müller ', 'name', 70), 'Francois Mueller', 'spaces collapsed and trimmed')
  t.equal(toSepaText('Jose\u0301', 'name', 70), 'Jose', 'a decomposed accent too')
  for (const hostile of ['Иван Петров', '王小明', 'Bob & Alice', 'Bob <script>', 'say "hi"', 'Ann\nDrop', 'tab\there', 'a_b', 'x=1', 'mail@x', '🎉 party', 'nul\u0000']) {
    refuses(t, () => toSepaText(hostile, 'payments[0].name', 70), 'payments[0].name', /SEPA does not allow \(U\+[0-9A-F]{4,}\)/)
  }
  refuses(t, () => toSepaText('   ', 'name', 70), 'name', /empty/)
  refuses(t, () => toSepaText('ä'.repeat(36), 'name', 70), 'name', /longer than 70/)
  refuses(t, () => toSepaText(42, 'name', 70), 'name', /not a text/)
})

t.test('bad runs are refused with the field they are about', async (t) => {
  const cases: Array<[string, Partial<PayoutFile>, RegExp?]> = [
    ['payments', { payments: [] }, /no payment/],
    ['payments', { payments: undefined as never }],
    ['messageId', { messageId: '' }],
    ['messageId', { messageId: 'X'.repeat(36) }, /35/],
    ['messageId', { messageId: 'RUN_1' }, /SEPA set/],
    ['messageId', { messageId: '/RUN' }],
    ['messageId', { messageId: 'RUN//1' }],
    ['createdAt', { createdAt: Number.NaN }],
    ['createdAt', { createdAt: new Date('nonsense') }],
    ['createdAt', { createdAt: '2026-01-01' as never }],
    ['executionDate', { executionDate: '2026-02-30' }, /calendar/],
    ['executionDate', { executionDate: '12.08.2026' }],
    ['executionDate', { executionDate: '2026-8-12' }],
    ['debtor.iban', { debtor: { name: 'F', iban: 'DE89370400440532013001' } }, /IBAN/],
    ['debtor.bic', { debtor: { name: 'F', iban: 'DE89370400440532013000', bic: 'BNPAFRPP' } }, /another country/],
    ['debtor.bic', { debtor: { name: 'F', iban: 'DE89370400440532013000', bic: 'NOTABIC' } }],
    ['debtor', { debtor: null as never }],
    ['initiatingParty', { initiatingParty: 'Ω Events' }],
  ]
  for (const [field, overrides, message] of cases) refuses(t, () => renderPain001(run(overrides), 'pain.001.001.09'), field, message)

  const paymentCases: Array<[string, Partial<PayoutPayment>, RegExp?]> = [
    ['payments[0].iban', { iban: 'DE02120300000000202052' }, /IBAN/],
    ['payments[0].iban', { iban: 'not an iban' }],
    ['payments[0].iban', { iban: 12 as never }],
    ['payments[0].bic', { bic: 'COBADEFF' + 'X' }],
    ['payments[0].amountCents', { amountCents: 0 }, /above zero/],
    ['payments[0].amountCents', { amountCents: -100 }, /above zero/],
    ['payments[0].amountCents', { amountCents: 19.99 }, /integer/],
    ['payments[0].amountCents', { amountCents: Number.NaN }, /integer/],
    ['payments[0].amountCents', { amountCents: Infinity }, /integer/],
    ['payments[0].amountCents', { amountCents: '1999' as never }, /integer/],
    ['payments[0].amountCents', { amountCents: MAX_PAYMENT_CENTS + 1 }, /SEPA maximum/],
    ['payments[0].endToEndId', { endToEndId: 'E'.repeat(36) }, /35/],
    ['payments[0].endToEndId', { endToEndId: 'WP_0001' }, /SEPA set/],
    ['payments[0].endToEndId', { endToEndId: 'WP-Ü' }, /SEPA set/],
    ['payments[0].endToEndId', { endToEndId: ' WP-1' }, /space/],
    ['payments[0].endToEndId', { endToEndId: '' }],
    ['payments[0].name', { name: 'Ann\r\nDrop' }],
    ['payments[0].remittance', { remittance: '' }, /empty/],
    ['payments[0].remittance', { remittance: 'r'.repeat(141) }, /140/],
  ]
  for (const [field, overrides, message] of paymentCases) refuses(t, () => renderPain001(run({ payments: [payment(overrides)] }), 'pain.001.001.03'), field, message)

  refuses(t, () => renderPain001(run({ payments: [payment(), payment()] }), 'pain.001.001.09'), 'payments[1].endToEndId', /twice/)
  refuses(t, () => renderPain001(run({ payments: [payment(), null as never] }), 'pain.001.001.09'), 'payments[1]')
  refuses(t, () => renderPain001(run(), 'pain.001.001.02' as never), 'version')
  refuses(t, () => renderPayoutCsv(run({ payments: [] })), 'payments')
  refuses(t, () => checkPayoutFile(null as never), 'file')
})

t.test('a territory BIC with the mother country IBAN is accepted (Åland with a Finnish IBAN)', async (t) => {
  const file = checkPayoutFile(run({ payments: [payment({ iban: 'FI2112345600000785', bic: 'AABAFI22' }), payment({ endToEndId: 'E2', iban: 'FI2112345600000785', bic: 'AABAAX22' })] }))
  t.same(file.payments.map((p) => p.bic), ['AABAFI22', 'AABAAX22'])
})

t.test('the CSV: a header, one line per payment, decimal amounts, CRLF', async (t) => {
  const csv = renderPayoutCsv(run())
  t.equal(
    csv,
    'message_id,execution_date,end_to_end_id,name,iban,bic,amount,currency,remittance\r\n' +
      'WP-PAYOUT-RUN-1,2026-08-12,WP-PO1-0001,Ada Lovelace,DE02120300000000202051,,19.99,EUR,Festival refund WP-PO1-0001\r\n' +
      'WP-PAYOUT-RUN-1,2026-08-12,WP-PO1-0002,Juergen Gross,FR1420041010050500013M02606,BNPAFRPP,0.01,EUR,Refund\r\n' +
      `WP-PAYOUT-RUN-1,2026-08-12,WP-PO1-0003 (x'+?),Zoe O'Brien-Angstroem,NL91ABNA0417164300,,1234.56,EUR,"Refund: 1,234.56"\r\n`,
  )
})

t.test('CSV fields: quotes, commas, newlines and spreadsheet formulas', async (t) => {
  t.equal(csvField('plain'), 'plain')
  t.equal(csvField('a,b'), '"a,b"')
  t.equal(csvField('say "hi"'), '"say ""hi"""')
  t.equal(csvField('two\nlines'), '"two\nlines"')
  t.equal(csvField('cr\rhere'), '"cr\rhere"')
  t.equal(csvField(' padded '), '" padded "')
  t.equal(csvField(''), '')
  t.equal(spreadsheetSafe('=HYPERLINK("x")'), `'=HYPERLINK("x")`)
  t.equal(spreadsheetSafe('+49 123'), `'+49 123`)
  t.equal(spreadsheetSafe('-5'), `'-5`)
  t.equal(spreadsheetSafe('@SUM(A1)'), `'@SUM(A1)`)
  t.equal(spreadsheetSafe('Ada'), 'Ada')
  // In a run: a name SEPA allows that a spreadsheet would compute.
  const csv = renderPayoutCsv(run({ payments: [payment({ name: '-1+1', remittance: '+Refund' })] }))
  t.match(csv, /,'-1\+1,.*,'\+Refund\r\n$/)
})

t.test('the simulated bank takes both versions and returns transfers by the end-to-end ids we sent', async (t) => {
  for (const version of PAIN_VERSIONS) {
    const statement = bankStatementFromPain(renderPain001(run(), version), { returnShare: 1, seed: 3 })
    t.same(
      statement.returned.map((r) => [r.endToEndId, r.amountCents]),
      run().payments.map((p) => [p.endToEndId, p.amountCents]),
      version,
    )
    t.equal(statement.debitedCents, 125456)
    t.match(statement.xml, /<Nm>Zoe O&apos;Brien-Angstroem<\/Nm>/)
  }
})

t.test('a CSV reader gets back exactly the fields written, hostile ones included', async (t) => {
  const fields = ['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\r\nlf', ' padded ', '', '"', ',,,', "'quoted'"]
  const line = fields.map(csvField).join(',') + '\r\n'
  t.same(parseCsv(line, { relax_column_count: false }), [fields])
  const rows = parseCsv(renderPayoutCsv(run()), { columns: true }) as Array<Record<string, string>>
  t.same(
    rows.map((r) => [r['end_to_end_id'], r['name'], r['amount'], r['remittance']]),
    [
      ['WP-PO1-0001', 'Ada Lovelace', '19.99', 'Festival refund WP-PO1-0001'],
      ['WP-PO1-0002', 'Juergen Gross', '0.01', 'Refund'],
      ["WP-PO1-0003 (x'+?)", "Zoe O'Brien-Angstroem", '1234.56', 'Refund: 1,234.56'],
    ],
  )
})
