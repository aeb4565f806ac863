// The SEPA check wired into the real gateway configured with payments.stancer
// and the provider simulator over HTTP: the guest's save on the portal starts
// the check in the background, the portal tells the guest to correct a
// mismatch, and the payout run the operator creates at /admin/payout-runs
// leaves them out with the reason; on the gateway's SQLite file and with a
// PostgreSQL database as its `store` (one body per engine). Without the
// stancer provider nothing is checked.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import { call, login } from '../../portal-api/testing/helpers.js'
import { createGateway } from '../app.js'
import { accountIds } from '../ledger/index.js'
import { loopbackGatewayConfig } from '../testing/loopback-config.js'

const ALICE = '04A1B2C3D4E5F6'
const BOB = '04B1B2C3D4E5F6'
const PINS: Record<string, string> = { [ALICE]: 'SEPAA23456', [BOB]: 'SEPAB23456' }
const ADMIN_TOKEN = 'admin-token-for-tests-0123'
const EVENT = {
  event: { name: 'Test Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
  wristbands: [
    { uid: ALICE, pin: PINS[ALICE] },
    { uid: BOB, pin: PINS[BOB] },
  ],
}

async function gatewayWith(t: Test, stancer: boolean, engine?: WorldEngine) {
  const sim = await startSim(t)
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-sepa-gw-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = engine?.database(t).gatewayStore(dir)
  const config = loopbackGatewayConfig(dir, EVENT, {
    adminToken: ADMIN_TOKEN,
    operators: [{ name: 'anna', token: 'anna-token-0123456789' }],
    logLevel: 'debug',
    ...(stancer ? { payments: { stancer: { secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl } } } : {}),
    ...(store === undefined ? {} : { store }),
  })
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  const gateway = await createGateway({ config, logger })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const httpBase = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const ledger = gateway.ledger
  for (const [uid, cents] of [[ALICE, 2000], [BOB, 1500]] as const) {
    ledger.bookExternal({ ref: `test:topup:${uid}`, kind: 'topup_online', postings: [{ account: ledger.ensureAccount('clearing', 'test'), amount: -cents }, { account: accountIds.customer(uid), amount: cents }] })
  }
  const base = `${httpBase}/api`
  const save = async (uid: string, name: string, iban: string) =>
    (await call(base, 'POST', '/customer_info', { token: await login(base, PINS[uid]!), body: { iban, account_name: name, email: 'guest@example.org' } })).status
  /** The check the guest sees, once it is no longer being checked (bounded: the pass runs right after the save). */
  const settledCheck = async (uid: string) => {
    const token = await login(base, PINS[uid]!)
    for (let i = 0; i < 400; i++) {
      const answer = await call(base, 'GET', '/customer/payout_check', { token })
      if (answer.status !== 200 || answer.body.state !== 'checking') return answer
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    throw new Error('the check never settled')
  }
  // A guest's check is theirs alone: no session, no answer.
  t.equal((await call(base, 'GET', '/customer/payout_check', {})).status, 401, 'the check needs a portal session')
  t.equal((await call(base, 'GET', '/customer/payout_check', { token: 'not.a.token' })).status, 401)
  const createRun = async (body: object = {}) => {
    const res = await fetch(`${httpBase}/admin/payout-runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'wristpay-operator': 'anna:anna-token-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as { items: Array<{ uid: string; sepaCheck?: string }>; skipped: unknown[] } }
  }
  return { sim, gateway, logs, save, settledCheck, createRun }
}

testOnEngines(t, await worldEngines(t), 'with the stancer provider: a mismatch is shown to the guest and left out of the payout run', async (t, engine) => {
  const g = await gatewayWith(t, true, engine)
  g.sim.controls.mismatchNextChecks(1)
  t.equal(await g.save(ALICE, 'Alice Wrongname', 'DE89370400440532013000'), 204)
  t.match(await g.settledCheck(ALICE), { status: 200, body: { state: 'needs_correction', message: /correct the account holder name or the IBAN/ } })
  t.equal(await g.save(BOB, 'Bob Rightname', 'AT611904300234573201'), 204)
  t.match(await g.settledCheck(BOB), { status: 200, body: { state: 'ok' } })

  const run = await g.createRun()
  t.equal(run.status, 201)
  t.same(run.body.items.map((i: { uid: string; sepaCheck?: string }) => [i.uid, i.sepaCheck]), [[BOB, 'matched']], 'the operator sees the check with the item')
  t.same(run.body.skipped, [{ uid: ALICE, reason: 'the SEPA check found that the account holder name does not match the IBAN; the portal asks the guest to correct it' }])
  const logText = g.logs.join('')
  t.notOk(/Wrongname|Rightname|DE89370400440532013000|AT611904300234573201/.test(logText), 'neither names nor full IBANs in the log')
  t.same(g.gateway.ledger.checkInvariants(), [])
  t.equal(g.gateway.ledger.sumOfAllBalances(), 0)
})

t.test('without the stancer provider nothing is checked and the run is as before', async (t) => {
  const g = await gatewayWith(t, false)
  t.equal(await g.save(ALICE, 'Alice Wrongname', 'DE89370400440532013000'), 204)
  t.match(await g.settledCheck(ALICE), { status: 404, body: { type: 'payout_check_unavailable' } })
  const run = await g.createRun({ requireSepaCheck: true })
  t.equal(run.status, 201)
  t.same(run.body.items.map((i: { uid: string; sepaCheck?: string }) => [i.uid, i.sepaCheck]), [[ALICE, undefined]])
  t.same(run.body.skipped, [])
  t.equal(g.sim.controls.requests().filter((r) => r.path.startsWith('/v2/sepa_check')).length, 0, 'the provider was never asked')
  t.same(g.gateway.ledger.checkInvariants(), [])
  t.equal(g.gateway.ledger.sumOfAllBalances(), 0)
})
