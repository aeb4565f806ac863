// The bank import jobs API on a real gateway answers for the slugs the config
// names (bank.organizerSlug, bank.eventSlug) instead of the ones derived from
// the event's name, and `wristpay-gateway bank import` sends to them; without
// them the derived slug is served as before.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { createGateway } from '../app.js'
import { resolveConfig, type ConfigLayer } from '../config.js'
import { runBankCommand } from './statements/import-command.js'
import { slugOfEventName } from '../apis.js'

const ADMIN_TOKEN = 'admin-token-for-tests-0123'

async function gatewayWith(t: Test, bank: ConfigLayer['bank']) {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bank-slugs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const eventFile = join(dir, 'event.json')
  writeFileSync(
    eventFile,
    JSON.stringify({
      event: { name: 'Test Fest', currency: 'EUR' },
      booths: [{ id: 'bar', name: 'Bar' }],
      products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
      kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
      wristbands: [],
    }),
  )
  // One file for the gateway and the command, as an organiser would have it.
  const layer: ConfigLayer = { dataDir: join(dir, 'data'), eventFile, adminToken: ADMIN_TOKEN, logLevel: 'silent', ...(bank === undefined ? {} : { bank }) }
  const configFile = join(dir, 'gateway.json')
  writeFileSync(configFile, JSON.stringify(layer))
  const gateway = await createGateway({ config: resolveConfig(layer, { mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } }), logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const base = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const api = async (method: string, organizer: string, body?: unknown) => {
    const response = await fetch(`${base}/api/v1/organizers/${organizer}/bankimportjobs/`, {
      method,
      headers: { authorization: `Token ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }
  const statement = join(dir, 'statement.csv')
  writeFileSync(statement, 'date,amount,payer,reference\n2026-08-01,10.00,Some Payer,no reference we know\n')
  const importStatement = async (...extra: string[]) => {
    let stdout = ''
    let stderr = ''
    const args = ['import', statement, '--format', 'csv', '--csv-columns', 'date=date,amount=amount,payer=payer,reference=reference', '--config', configFile, '--url', base, ...extra]
    const code = await runBankCommand(args, {}, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
    return { code, stdout, stderr }
  }
  return { api, importStatement, gateway }
}

const transaction = { amount: '10.00', date: '2026-08-01', payer: 'Some Payer', reference: 'nothing' }

t.test('configured slugs are served; the derived one is then 403, and the command sends to the configured ones', async (t) => {
  const g = await gatewayWith(t, { organizerSlug: 'festival-org', eventSlug: 'summer-2026' })
  t.match(await g.api('GET', 'festival-org'), { status: 200, body: { count: 0, results: [] } })
  t.match(await g.api('GET', 'test-fest'), { status: 403, body: { type: 'forbidden' } }, 'the slug of the event name is no longer served')
  t.match(await g.api('POST', 'test-fest', { event: 'summer-2026', transactions: [transaction] }), { status: 403 })
  t.match(await g.api('POST', 'festival-org', { event: 'test-fest', transactions: [transaction] }), { status: 400, body: { type: 'invalid_request' } }, 'nor is the derived event slug')
  t.match(await g.api('POST', 'festival-org', { event: 'summer-2026', transactions: [transaction] }), { status: 201, body: { event: 'summer-2026' } })

  const imported = await g.importStatement()
  t.equal(imported.code, 0, imported.stderr)
  t.match(imported.stdout, /bank import job 2 completed/)
  t.match(await g.api('GET', 'festival-org'), { status: 200, body: { count: 2, results: [{ event: 'summer-2026' }, { event: 'summer-2026' }] } })
  t.same(g.gateway.ledger.checkInvariants(), [])
})

t.test('without configured slugs the event name gives both, as before', async (t) => {
  const g = await gatewayWith(t, undefined)
  t.match(await g.api('GET', 'test-fest'), { status: 200 })
  t.match(await g.api('GET', 'festival-org'), { status: 403 })
  t.match(await g.api('POST', 'test-fest', { event: 'test-fest', transactions: [transaction] }), { status: 201 })
  const imported = await g.importStatement()
  t.equal(imported.code, 0, imported.stderr)
  t.match(await g.api('GET', 'test-fest'), { body: { count: 2, results: [{ event: 'test-fest' }, { event: 'test-fest' }] } })
})

t.test('only the organizer configured: the event slug stays the derived one', async (t) => {
  const g = await gatewayWith(t, { organizerSlug: 'festival-org' })
  t.match(await g.api('POST', 'festival-org', { event: 'test-fest', transactions: [transaction] }), { status: 201 })
  const imported = await g.importStatement()
  t.equal(imported.code, 0, imported.stderr)
  t.match(await g.api('GET', 'festival-org'), { body: { count: 2, results: [{ event: 'test-fest' }, { event: 'test-fest' }] } })
})

t.test('the derived slug spells accented letters without their accent', async (t) => {
  t.equal(slugOfEventName('Über Fest 2026'), 'uber-fest-2026')
  t.equal(slugOfEventName('  Fête de la Musique!  '), 'fete-de-la-musique')
  t.equal(slugOfEventName('Summer Beats'), 'summer-beats')
  t.equal(slugOfEventName('***'), 'event', 'nothing left: a fixed slug')
})
