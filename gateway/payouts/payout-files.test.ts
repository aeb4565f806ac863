// An exported run written as the bank's files: both pain.001 versions valid
// against their ISO 20022 schemas, one transfer per payout with its end-to-end
// id and amount, the CSV with the same payments; a run not exported is refused.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { validateXML } from 'xmllint-wasm'
import { accountIds } from '../ledger/index.js'
import { UID, makeWorld, silentLogger } from '../ledger/testing/test-helpers.js'
import { createPayoutRuns } from './payout-runs.js'
import { payeeProblem, renderPayoutFiles } from './payout-files.js'

const XSD_DIR = join(import.meta.dirname, '..', 'bank', 'testing')
const DEBTOR = { holder: 'Test Fest e.V.', iban: 'DE02120300000000202051', bic: 'BYLADEM1001' }

t.test('an exported run becomes valid pain.001.001.09 and .03 files and a CSV', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  w.ledger.ensureAccount('clearing', 'sumup')
  for (const [uid, cents, name] of [[UID.alice, 2550, 'Jörg Müller'], [UID.bob, 1000, 'Bob Example']] as const) {
    w.ledger.bookExternal({ ref: `setup:${uid}`, kind: 'topup_online', postings: [{ account: accountIds.clearing('sumup'), amount: -cents }, { account: accountIds.customer(uid), amount: cents }] })
    w.db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, 'DE89370400440532013000', ?, 'g@example.org', 1)`).run(uid, name)
  }
  const runs = createPayoutRuns({ db: w.db, ledger: w.ledger, clock: w.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })
  const created = runs.create({ operator: 'anna' })
  t.throws(() => renderPayoutFiles(created, { debtor: DEBTOR, eventName: 'Test Fest' }), /only an exported run/)
  runs.approve(created.id, 'ben')
  const { run } = runs.export(created.id, 'ben')
  const files = renderPayoutFiles(run, { debtor: DEBTOR, eventName: 'Test Fest' })
  t.same(Object.keys(files).sort(), ['payout-run-1.csv', 'payout-run-1.pain.001.001.03.xml', 'payout-run-1.pain.001.001.09.xml'])
  for (const version of ['pain.001.001.09', 'pain.001.001.03']) {
    const xml = files[`payout-run-1.${version}.xml`]!
    const result = await validateXML({ xml: [{ fileName: 'run.xml', contents: xml }], schema: [{ fileName: `${version}.xsd`, contents: readFileSync(join(XSD_DIR, `${version}.xsd`), 'utf8') }] })
    t.same(result.errors, [], `${version} is valid against its schema`)
    for (const item of run.items) t.match(xml, `<EndToEndId>${item.endToEndId}</EndToEndId>`, `${version} names ${item.endToEndId}`)
    t.match(xml, '<CtrlSum>35.50</CtrlSum>')
    t.match(xml, 'Joerg Mueller', 'names transliterated to the SEPA set')
  }
  const csv = files['payout-run-1.csv']!.split('\r\n')
  t.equal(csv.length, 4, 'header, two payouts, final line end')
  t.match(csv[1], `${run.items[0]!.endToEndId},Joerg Mueller,DE89370400440532013000,,25.50,EUR`)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('payeeProblem: what the renderer would refuse in a guest\'s payout data, asked before a run is made', async (t) => {
  t.equal(payeeProblem({ accountName: 'Jörg Müller-Łukasz', iban: 'de89 3704 0044 0532 0130 00' }), null, 'transliterated names and IBANs in print form pass')
  t.equal(payeeProblem({ accountName: 'Guest', iban: 'DE89370400440532013001' }), 'the IBAN is not valid')
  t.match(payeeProblem({ accountName: '李雷', iban: 'DE89370400440532013000' }), /character SEPA does not allow \(U\+674E\)/)
  t.match(payeeProblem({ accountName: 'a&b', iban: 'DE89370400440532013000' }), /U\+0026/)
  t.match(payeeProblem({ accountName: '   ', iban: 'DE89370400440532013000' }), /is empty/)
  t.match(payeeProblem({ accountName: 'ß'.repeat(36), iban: 'DE89370400440532013000' }), /longer than 70/)
})
