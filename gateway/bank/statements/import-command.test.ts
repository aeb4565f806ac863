// `wristpay-gateway bank import`: the statement file becomes a job of the bank
// import jobs API (here the gateway's routes through app.inject), the result is
// printed per transaction, and the same statement imported twice books nothing
// the second time (on SQLite and on PostgreSQL).
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UID } from '../../ledger/testing/test-helpers.js'
import { API_TOKEN, bankWorld, ORGANIZER, type BankWorld } from '../testing/bank-world.js'
import { worldEngines } from '../../testing/world-engines.js'
import { jobTransactionsOf, parseBankArgs, parseCsvColumns, runBankCommand, type ApiTransport } from './import-command.js'
import { camt053, creditEntry, OWN_IBAN } from './testing/camt053-builder.js'
import type { ParsedStatement } from './types.js'

function injectTransport(w: BankWorld): (baseUrl: string, token: string) => ApiTransport {
  return (_baseUrl, token) =>
    async ({ method, path, body }) => {
      const res = await w.http.app.inject({
        method,
        url: path,
        headers: { authorization: `Token ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      })
      return { status: res.statusCode, json: res.json() }
    }
}

async function run(w: BankWorld, args: string[], env: NodeJS.ProcessEnv = { WRISTPAY_GATEWAY_ADMIN_TOKEN: API_TOKEN }) {
  let stdout = ''
  let stderr = ''
  const code = await runBankCommand(args, env, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), transport: injectTransport(w) })
  return { code, stdout, stderr }
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bank-import-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The three made-up transfers of every sample, with a real wristband's reference: a top-up, one without a reference, a returned payout. */
function statements(w: BankWorld): { camt: string; mt940: string; csv: string } {
  const reference = w.codes.referenceOf(UID.alice).compact
  const returned = `<Ntry><Amt Ccy="EUR">12.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-07-06</Dt></BookgDt>
    <NtryDtls><TxDtls><Refs><EndToEndId>WPPAYOUT-R1-0003</EndToEndId></Refs>
    <RltdPties><Cdtr><Nm>Bob Gast</Nm></Cdtr></RltdPties><RmtInf><Ustrd>Auszahlung Festivalguthaben</Ustrd></RmtInf><RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf></TxDtls></NtryDtls></Ntry>`
  const camt = camt053([creditEntry({ amount: '25.00', remittance: `Aufladung ${reference}` }), creditEntry({ amount: '40.00', name: 'Ben Muster', remittance: '' }), returned])
  const mt940 = [
    ':20:STMT1',
    `:25:${OWN_IBAN}`,
    ':28C:1/1',
    ':60F:C260704EUR0,00',
    ':61:2607050705C25,00NTRFNONREF',
    `:86:/CNTP/DE79100100100012345678/COBADEFFXXX/Anna Beispiel//REMI/USTD//Aufladung ${reference}/`,
    ':61:2607050705C40,00NTRFNONREF',
    ':86:/CNTP/DE12500105170648489890/INGDDEFFXXX/Ben Muster//',
    ':61:2607060706C12,50NRTINONREF',
    ':86:/RTRN/AC04/EREF/WPPAYOUT-R1-0003/CNTP///Bob Gast//REMI/USTD//Auszahlung Festivalguthaben/',
    ':62F:C260706EUR77,50',
    '-',
  ].join('\r\n')
  const csv = [
    'Datum;Betrag;Name;Zweck;E2E',
    `05.07.2026;25,00;Anna Beispiel;Aufladung ${reference};`,
    '05.07.2026;40,00;Ben Muster;;',
    '06.07.2026;12,50;Bob Gast;Auszahlung Festivalguthaben;WPPAYOUT-R1-0003',
  ].join('\n')
  return { camt, mt940, csv }
}

/** A payout of 12.50 to Bob, booked before as the payout module books it, so its return can come back. */
function bookPayoutToBob(w: BankWorld): void {
  const ledger = w.world.ledger
  ledger.bookExternal({ ref: 'prep:bob', kind: 'prepayment', postings: [{ account: ledger.ensureAccount('clearing', 'test'), amount: -1250 }, { account: `customer:${UID.bob}`, amount: 1250 }] })
  ledger.bookExternal({ ref: 'payout:bob', kind: 'payout', postings: [{ account: `customer:${UID.bob}`, amount: -1250 }, { account: ledger.ensureAccount('payout', 'sepa'), amount: 1250 }] })
  w.payouts.payouts.set('WPPAYOUT-R1-0003', { uid: UID.bob, amountCents: 1250 })
}

const CSV_ARGS = ['--csv-columns', 'date=Datum,amount=Betrag,payer=Name,reference=Zweck,endToEndId=E2E', '--csv-decimal-comma', '--csv-date-format', 'DD.MM.YYYY']

for (const engine of await worldEngines(t)) {
    for (const format of ['camt053', 'mt940', 'csv'] as const) {
    t.test(`${engine.name}: ${format}: a job through the API, printed per transaction; imported twice, the second books nothing`, async (t) => {
      const w = await bankWorld(t, { database: engine.database(t) })
      bookPayoutToBob(w)
      const dir = tempDir(t)
      const texts = statements(w)
      const file = join(dir, `statement.${format}`)
      writeFileSync(file, format === 'camt053' ? texts.camt : format === 'mt940' ? texts.mt940 : texts.csv)
      const aliceBefore = w.balance(UID.alice)
      const bobBefore = w.balance(UID.bob)
      // Detected from the content, except CSV, which needs its mapping.
      const args = ['import', file, '--organizer', ORGANIZER, ...(format === 'csv' ? CSV_ARGS : [])]

      const first = await run(w, args)
      t.equal(first.stderr, '')
      t.equal(first.code, 0)
      const lines = first.stdout.trimEnd().split('\n')
      t.match(lines[0], new RegExp(`^${format} statement.*: 3 entries, bank import job \\d+ completed$`))
      t.match(lines[1], /^#0 valid +25\.00 EUR 2026-07-05 "Anna Beispiel" "Aufladung RF\w+" -> RF\w+$/)
      t.match(lines[2], /^#1 nomatch +40\.00 EUR 2026-07-05 "Ben Muster" ""$/)
      t.match(lines[3], /^#2 valid +12\.50 EUR 2026-07-06 "Bob Gast" "Auszahlung Festivalguthaben" e2e=WPPAYOUT-R1-0003 /)
      if (format !== 'csv') t.match(lines[3], /return=AC04/)
      t.equal(w.balance(UID.alice), aliceBefore + 2500, 'the top-up is booked')
      t.equal(w.balance(UID.bob), bobBefore + 1250, 'the returned payout is back on the guest')

      const second = await run(w, args)
      t.equal(second.code, 0)
      t.same(
        second.stdout
          .trimEnd()
          .split('\n')
          .slice(1)
          .map((line) => line.split(/ +/)[1]),
        ['already', 'already', 'already'],
      )
      t.equal(w.balance(UID.alice), aliceBefore + 2500, 'nothing booked twice')
      t.equal(w.balance(UID.bob), bobBefore + 1250)
    })
  }
}

t.test('an entry the parser cannot read goes into the job as invalid, in its place', async (t) => {
  const w = await bankWorld(t)
  const dir = tempDir(t)
  const file = join(dir, 'hostile.xml')
  writeFileSync(file, camt053([creditEntry({ amount: '1e3' }), creditEntry({ amount: '-0.00' }), creditEntry({ amount: '12,34' }), creditEntry({ amount: '5.00', remittance: 'nothing' })]))
  const result = await run(w, ['import', file, '--organizer', ORGANIZER, '--format', 'camt053'])
  t.equal(result.code, 0)
  const lines = result.stdout.trimEnd().split('\n').slice(1)
  t.same(
    lines.map((line) => line.split(/ +/)[1]),
    ['invalid', 'invalid', 'invalid', 'nomatch'],
  )
  t.match(lines[0], /"unreadable camt053 entry: amount \\"1e3\\" is not a decimal amount/)
  t.equal(w.account('clearing:bank'), 0)
})

t.test('refused before a job exists: a 50 MB file by its size, XXE, another format, a missing file, bad arguments, no token', async (t) => {
  const w = await bankWorld(t)
  const dir = tempDir(t)
  const big = join(dir, 'big.xml')
  writeFileSync(big, '')
  truncateSync(big, 50 * 1024 * 1024)
  const tooBig = await run(w, ['import', big, '--organizer', ORGANIZER])
  t.equal(tooBig.code, 2)
  t.match(tooBig.stderr, /big\.xml: statement file is 52428800 bytes, over the limit of 20971520 bytes \(20 MiB\)/)

  const xxe = join(dir, 'xxe.xml')
  writeFileSync(xxe, camt053([creditEntry({ name: '&xxe;' })], { prolog: '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n' }))
  const hostile = await run(w, ['import', xxe, '--organizer', ORGANIZER])
  t.equal(hostile.code, 2)
  t.match(hostile.stderr, /refused: it declares a DOCTYPE/)
  t.notMatch(hostile.stderr + hostile.stdout, /root:/)

  const wrong = await run(w, ['import', xxe, '--organizer', ORGANIZER, '--format', 'mt940'])
  t.match(wrong, { code: 2, stderr: /not an MT940 statement/ })
  t.match(await run(w, ['import', join(dir, 'missing.sta'), '--organizer', ORGANIZER]), { code: 2, stderr: /missing\.sta: ENOENT/ })
  t.match(await run(w, ['import', xxe, '--organizer', ORGANIZER], {}), { code: 2, stderr: /no admin token/ })
  t.match(await run(w, ['import', xxe, '--organizer', 'another-org']), { code: 2 })
  t.match(await run(w, ['export']), { code: 2, stderr: /unknown bank command "export"/ })
  t.match(await run(w, ['import']), { code: 2, stderr: /exactly one FILE/ })
  const listed = await w.http.app.inject({ method: 'GET', url: `/api/v1/organizers/${ORGANIZER}/bankimportjobs/`, headers: { authorization: `Token ${API_TOKEN}` } })
  t.equal(listed.json().count, 0, 'no job was created by any of them')
})

t.test('the gateway refuses the job (another organizer): exit 1 with its answer', async (t) => {
  const w = await bankWorld(t)
  const dir = tempDir(t)
  const file = join(dir, 'ok.xml')
  writeFileSync(file, camt053([creditEntry()]))
  const result = await run(w, ['import', file, '--organizer', 'another-org'])
  t.equal(result.code, 1)
  t.match(result.stderr, /the gateway refused the job \(403\)/)
})

t.test('arguments: formats, CSV mapping by names and positions, refusals', async (t) => {
  t.match(parseBankArgs(['import', 'f.xml']), { file: 'f.xml', parse: {}, waitMs: 120_000 })
  t.match(parseBankArgs(['import', 'f.sta', '--format', 'mt940', '--wait-seconds', '5', '--url', 'http://gw:8080']), { parse: { format: 'mt940' }, waitMs: 5000, url: 'http://gw:8080' })
  t.same(parseCsvColumns('date=Buchungstag, amount=4,payer=Name,reference=Zweck,iban=IBAN'), { date: 'Buchungstag', amount: 4, payer: 'Name', reference: 'Zweck', iban: 'IBAN' })
  t.same(parseBankArgs(['import', 'f.csv', '--csv-columns', 'date=1,amount=2,payer=3,reference=4', '--csv-delimiter', ';', '--csv-no-header', '--csv-currency', 'CHF']).parse, {
    csv: { columns: { date: 1, amount: 2, payer: 3, reference: 4 }, delimiter: ';', currency: 'CHF', headerRow: false },
  })
  t.throws(() => parseBankArgs(['import', 'f.csv', '--format', 'csv']), /needs --csv-columns/)
  t.throws(() => parseBankArgs(['import', 'f', '--format', 'pdf']), /--format must be one of camt053, mt940, csv/)
  t.throws(() => parseBankArgs(['import', 'f', '--csv-columns', 'date=1,amount=2,payer=3', '--csv-date-format', 'MM/DD/YYYY']), /--csv-date-format/)
  t.throws(() => parseCsvColumns('date=1,amount=2,payer=3'), /reference is not mapped/)
  t.throws(() => parseCsvColumns('date=1,amount=2,payer=3,reference=4,colour=5'), /unknown field "colour"/)
  t.throws(() => parseCsvColumns('date=1,date=2'), /date is mapped twice/)
  t.throws(() => parseCsvColumns('date'), /is not field=column/)
  t.throws(() => parseBankArgs(['import', 'f', '--wait-seconds', '0']), /--wait-seconds/)
})

t.test('jobTransactionsOf keeps file order: problems take their index, transactions fill the rest', async (t) => {
  const parsed: ParsedStatement = {
    format: 'csv',
    transactions: [
      { date: '2026-07-05', amount: '1.00', currency: 'EUR', payer: 'A', reference: 'a' },
      { date: '2026-07-05', amount: '-2.00', currency: 'EUR', payer: 'B', reference: 'b', iban: 'DE12500105170648489890', endToEndId: 'E2' },
    ],
    problems: [
      { index: 1, message: 'bad' },
      { index: -1, message: 'balances' },
    ],
  }
  t.same(jobTransactionsOf(parsed), [
    { payer: 'A', reference: 'a', amount: '1.00', date: '2026-07-05', iban: '', bic: '', external_id: null, currency: 'EUR' },
    { payer: '', reference: 'unreadable csv entry: bad', amount: '', date: '', iban: '', bic: '', external_id: null, currency: '' },
    { payer: 'B', reference: 'b', amount: '-2.00', date: '2026-07-05', iban: 'DE12500105170648489890', bic: '', external_id: 'E2', currency: 'EUR' },
  ])
})
