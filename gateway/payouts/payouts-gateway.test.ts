// A whole payout cycle on a real gateway (createGateway, its HTTP server and
// config): a guest registers payout data on the portal, one operator creates
// the run with the CLI, the same operator cannot approve, another does, the
// export books the payout, and the portal shows it. The admin routes are
// wired with the config's operator accounts. Once per engine: the gateway's
// own SQLite file, and a PostgreSQL database as the config's `store`.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { createGateway } from '../app.js'
import { loopbackGatewayConfig } from '../testing/loopback-config.js'
import { accountIds } from '../ledger/index.js'
import { runPayoutCommand } from './payout-command.js'
import { worldEngines } from '../testing/world-engines.js'

const ADMIN_TOKEN = 'admin-token-for-tests-0123'
const UID = '04A1B2C3D4E5F6'
const PIN = 'APPTEST234'

for (const engine of await worldEngines(t)) {
  t.test(`${engine.name}: portal, CLI, four eyes, export and the portal again on one gateway`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wristpay-payouts-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const store = engine.database(t).gatewayStore(dir)
    const event = {
      event: { name: 'Test Fest', currency: 'EUR' },
      booths: [{ id: 'bar', name: 'Bar' }],
      products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
      kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
      wristbands: [{ uid: UID, pin: PIN }],
      portal: { bankAccount: { holder: 'Test Fest e.V.', iban: 'DE02120300000000202051', bic: 'BYLADEM1001' } },
    }
    const config = loopbackGatewayConfig(dir, event, {
      adminToken: ADMIN_TOKEN,
      operators: [
        { name: 'anna', token: 'anna-token-0123456789' },
        { name: 'ben', token: 'ben-token-0123456789' },
      ],
      ...(store === undefined ? {} : { store }),
    })
    const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
    t.teardown(() => gateway.stop())
    await gateway.start()
    const base = `http://127.0.0.1:${gateway.httpAddress!.port}`
    const ledger = gateway.ledger
    ledger.bookExternal({ ref: 'test:topup', kind: 'topup_online', postings: [{ account: ledger.ensureAccount('clearing', 'test'), amount: -1800 }, { account: accountIds.customer(UID), amount: 1800 }] })

    const portal = async (method: string, path: string, token?: string, body?: unknown) => {
      const response = await fetch(`${base}/api${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      const text = await response.text()
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
    }
    const token = (await portal('POST', '/auth/login', undefined, { pin: PIN })).body.access_token as string
    t.equal((await portal('POST', '/customer_info', token, { iban: 'DE89370400440532013000', account_name: 'Guest', email: 'g@example.org', donation: 3 })).status, 204)

    const cli = async (operator: string, ...args: string[]) => {
      let stdout = ''
      let stderr = ''
      const code = await runPayoutCommand([...args, '--url', base], { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN, WRISTPAY_OPERATOR: operator }, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
      return { code, stdout, stderr }
    }
    const created = await cli('anna:anna-token-0123456789', 'create')
    t.match(created, { code: 0, stdout: /run 1: created, 1 payouts, 15\.00 EUR, donations 3\.00 EUR/ })
    t.equal((await portal('GET', '/payout_info', token)).body.in_payout_run, true)
    t.match(await cli('anna:anna-token-0123456789', 'approve', '1'), { code: 1, stderr: /approver_is_creator/ })
    t.match(await cli('ben:ben-token-0123456789', 'approve', '1'), { code: 0 })
    const exported = await cli('anna:anna-token-0123456789', 'export', '1')
    t.match(exported, { code: 0, stderr: /1 payouts booked/ })
    const files = JSON.parse(exported.stdout).files as Record<string, string>
    t.same(Object.keys(files).sort(), ['payout-run-1.csv', 'payout-run-1.pain.001.001.03.xml', 'payout-run-1.pain.001.001.09.xml'], 'the bank files come with the export')
    t.match(files['payout-run-1.pain.001.001.09.xml'], '<InstdAmt Ccy="EUR">15.00</InstdAmt>')
    t.equal(ledger.balanceOf(UID), 0)
    t.equal(ledger.accountBalance(accountIds.payout('sepa')), 1500)
    t.equal(ledger.accountBalance(accountIds.donation('event')), 300)
    t.match((await portal('GET', '/get_payout_transactions', token)).body, [{ amount: 15, target_account_name: 'Guest', target_account_type: 'sepa' }])
    t.same(ledger.checkInvariants(), [])
  })
}
