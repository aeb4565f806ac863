import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseCamt053 } from './camt053.js'
import { camt053, creditEntry, OWN_IBAN } from './testing/camt053-builder.js'
import { StatementFormatError } from './types.js'

const SAMPLE = readFileSync(new URL('./testing/statement.camt053.xml', import.meta.url), 'utf8')

t.test('the sample statement: a top-up with a reference, a transfer without one, a returned payout', async (t) => {
  t.same(parseCamt053(SAMPLE), {
    format: 'camt053',
    account: OWN_IBAN,
    transactions: [
      { date: '2026-07-05', amount: '25.00', currency: 'EUR', payer: 'Anna Beispiel', iban: 'DE79100100100012345678', reference: 'Festival top-up WP-TOPUP-K7Q2M4' },
      { date: '2026-07-05', amount: '40.00', currency: 'EUR', payer: 'Ben Muster & Co', iban: 'DE12500105170648489890', reference: '' },
      // The return keeps the payout's parties: the guest is the creditor, we are the debtor.
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
  t.same(parseCamt053(SAMPLE), parseCamt053(SAMPLE))
  t.equal(JSON.stringify(parseCamt053(SAMPLE)), JSON.stringify(parseCamt053(SAMPLE)))
})

t.test('an external entity is never resolved: a document with a DOCTYPE is refused before parsing', async (t) => {
  const prolog = '<!DOCTYPE Document [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
  const hostile = camt053([creditEntry({ name: '&xxe;' })], { prolog })
  let error: unknown
  try {
    parseCamt053(hostile)
  } catch (err) {
    error = err
  }
  t.type(error, StatementFormatError)
  t.match((error as Error).message, /DOCTYPE/)
  t.notMatch((error as Error).message, /root:/)
  // An internal entity (a "billion laughs" seed) is refused the same way.
  t.throws(() => parseCamt053(camt053([creditEntry({ name: '&lol;' })], { prolog: '<!DOCTYPE Document [<!ENTITY lol "lol">]>' })), /DOCTYPE/)
})

t.test('an entity reference without a declaration stays as written; XML character references are decoded', async (t) => {
  const parsed = parseCamt053(camt053([creditEntry({ name: '&xxe; M&#252;ller &lt;GmbH&gt;' })]))
  t.equal(parsed.transactions[0]!.payer, '&xxe; Müller <GmbH>')
})

t.test('amounts follow XML decimal rules: 1e3, -0.00, 12,34 and three non-zero decimals are problems, other entries still parse', async (t) => {
  const amounts = ['1e3', '-0.00', '12,34', '12.345', '0.00', '12.340', '1000000.00']
  const parsed = parseCamt053(camt053(amounts.map((amount) => creditEntry({ amount }))))
  t.same(
    parsed.transactions.map((transaction) => transaction.amount),
    ['12.34', '1000000.00'],
  )
  t.same(
    parsed.problems.map((problem) => problem.index),
    [0, 1, 2, 3, 4],
  )
  t.match(parsed.problems[0]!.message, /amount "1e3" is not a decimal amount/)
  t.match(parsed.problems[4]!.message, /amount is zero/)
})

t.test('a debit is negative and names the creditor; DBIT/CRDT only', async (t) => {
  const debit = `<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><ValDt><Dt>2026-07-07</Dt></ValDt>
    <NtryDtls><TxDtls><Refs><EndToEndId>WPPAYOUT-R1-0001</EndToEndId></Refs>
    <RltdPties><Dbtr><Nm>Festival Kasse GmbH</Nm></Dbtr><DbtrAcct><Id><IBAN>${OWN_IBAN}</IBAN></Id></DbtrAcct>
    <Cdtr><Nm>Dora Gast</Nm></Cdtr><CdtrAcct><Id><IBAN>DE12500105170648489890</IBAN></Id></CdtrAcct></RltdPties></TxDtls></NtryDtls></Ntry>`
  const parsed = parseCamt053(camt053([debit, creditEntry({ indicator: 'PLUS' })]))
  t.same(parsed.transactions, [{ date: '2026-07-07', amount: '-5.00', currency: 'EUR', payer: 'Dora Gast', iban: 'DE12500105170648489890', reference: '', endToEndId: 'WPPAYOUT-R1-0001' }])
  t.same(parsed.problems, [{ index: 1, message: 'credit/debit indicator "PLUS" is neither CRDT nor DBIT' }])
})

t.test('a return that names only the creditor (the guest) takes its name and IBAN', async (t) => {
  const entry = `<Ntry><Amt Ccy="EUR">19.99</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-08-15</Dt></BookgDt>
    <NtryDtls><TxDtls><Refs><EndToEndId>WP-PO-000001</EndToEndId></Refs>
    <RltdPties><Cdtr><Nm>Ada Guest</Nm></Cdtr><CdtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></CdtrAcct></RltdPties>
    <RtrInf><Rsn><Prtry>BANK-SAYS-NO</Prtry></Rsn></RtrInf></TxDtls></NtryDtls></Ntry>`
  t.same(parseCamt053(camt053([entry])).transactions, [
    { date: '2026-08-15', amount: '19.99', currency: 'EUR', payer: 'Ada Guest', iban: 'DE02120300000000202051', reference: '', endToEndId: 'WP-PO-000001', returnReason: 'BANK-SAYS-NO' },
  ])
})

t.test('a batch booking gives one transaction per detail with its own amount', async (t) => {
  const detail = (amount: string, name: string, ref: string) =>
    `<TxDtls><Refs><EndToEndId>${ref}</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">${amount}</Amt></TxAmt></AmtDtls>
     <RltdPties><Dbtr><Nm>${name}</Nm></Dbtr></RltdPties></TxDtls>`
  const batch = `<Ntry><Amt Ccy="EUR">30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-07-08</Dt></BookgDt>
    <NtryDtls>${detail('10.00', 'Eva', 'E1')}${detail('20.00', 'Finn', 'E2')}<TxDtls><RltdPties><Dbtr><Nm>Gus</Nm></Dbtr></RltdPties></TxDtls></NtryDtls></Ntry>`
  const parsed = parseCamt053(camt053([batch, creditEntry()]))
  t.same(
    parsed.transactions.map((transaction) => [transaction.amount, transaction.payer, transaction.endToEndId]),
    [
      ['10.00', 'Eva', 'E1'],
      ['20.00', 'Finn', 'E2'],
      ['10.00', 'Anna Beispiel', undefined],
    ],
  )
  t.same(parsed.problems, [{ index: 2, message: 'transaction detail of a batch booking has no amount of its own' }])
})

t.test('camt.053.001.08: names under Pty, date-times, amounts on the detail', async (t) => {
  const entry = `<Ntry><Amt Ccy="EUR">7.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><DtTm>2026-07-09T23:59:00+02:00</DtTm></BookgDt>
    <NtryDtls><TxDtls><Amt Ccy="EUR">7.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>
    <RltdPties><Dbtr><Pty><Nm>Hanna Neu</Nm></Pty></Dbtr></RltdPties><RmtInf><Ustrd>WP-TOPUP-AAAA11</Ustrd><Ustrd>second line</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>`
  const parsed = parseCamt053(camt053([entry], { namespace: 'urn:iso:std:iso:20022:tech:xsd:camt.053.001.08' }))
  t.same(parsed.transactions, [{ date: '2026-07-09', amount: '7.50', currency: 'EUR', payer: 'Hanna Neu', reference: 'WP-TOPUP-AAAA11 second line' }])
})

t.test('entries that cannot be booked are problems: pending, bad currency, no date, impossible date; a mangled IBAN is left out', async (t) => {
  const pending = creditEntry().replace('<Sts>BOOK</Sts>', '<Sts>PDNG</Sts>')
  const parsed = parseCamt053(camt053([pending, creditEntry({ currency: 'EURO' }), creditEntry({ date: '' }), creditEntry({ date: '2026-02-30' }), creditEntry({ iban: 'DE00 1234' })]))
  t.same(
    parsed.problems.map((problem) => problem.message),
    ['entry status "PDNG" is not booked (BOOK)', 'currency "EURO" is not an ISO 4217 code', 'entry has neither a booking nor a value date', 'date "2026-02-30" is not a calendar date'],
  )
  t.equal(parsed.transactions.length, 1)
  t.equal(parsed.transactions[0]!.iban, undefined)
})

t.test('a file that is no CAMT.053 statement is refused as a whole', async (t) => {
  t.throws(() => parseCamt053('Buchungstag;Betrag\n'), { name: 'StatementFormatError', message: /not XML/ })
  t.throws(() => parseCamt053('<Document><Other/></Document>'), { name: 'StatementFormatError', message: /no Document\/BkToCstmrStmt\/Stmt/ })
  t.throws(() => parseCamt053('<Document><BkToCstmrStmt><Stmt></BkToCstmrStmt></Document>'), { name: 'StatementFormatError', message: /not well-formed/ })
})

t.test('XML the validator passes but the parser refuses (a quote missing in the declaration) is a StatementFormatError, found by fuzzing', async (t) => {
  const broken = SAMPLE.replace('<?xml version="1.0"', '<?xml version="1.0 ')
  t.not(broken, SAMPLE, 'the sample has the declaration to break')
  t.throws(() => parseCamt053(broken), { name: 'StatementFormatError', message: /not well-formed/ })
})
