// The event set-up retires what it no longer lists (issue 10, point 2): a kiosk
// removed from the file cannot log in over MQTT any more (its live connection is
// closed, its config and enrolment are gone), a wristband removed from it can
// neither log in to the portal nor pay, and its balance stays in the ledger.
// Operators can do the same without editing the file (admin API). A real
// gateway (broker, ledger, HTTP) on loopback, driven as kiosks and guests do.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { createGateway, type Gateway } from './app.js'
import { MqttTestKiosk, waitFor } from './testing/mqtt-test-kiosk.js'
import { resolveConfig } from './config.js'
import { startLoopbackGateway } from '../simulators/e2e/kiosk-harness.js'

const ADMIN_TOKEN = 'admin-token-for-tests-0123'
const TOKENS = { 'bar-1': 'token-bar-1-0123456789', 'cash-1': 'token-cash-1-0123456789' } as const
type KioskName = keyof typeof TOKENS
const GUEST = { uid: '04A1B2C3D4E5F6', pin: 'APPTEST234' }
const OTHER = { uid: '04A1B2C3D4E5F7', pin: 'APPTEST567' }

function eventSetup({ cashKiosk = true, guest = true } = {}) {
  return {
    event: { name: 'Retire Fest', currency: 'EUR' },
    booths: [
      { id: 'bar', name: 'Bar' },
      { id: 'cashier', name: 'Cashier' },
    ],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: TOKENS['bar-1'], saleAllowed: true, topupAllowed: false },
      ...(cashKiosk ? [{ id: 'cash-1', booth: 'cashier', token: TOKENS['cash-1'], saleAllowed: false, topupAllowed: true }] : []),
    ],
    wristbands: [...(guest ? [GUEST] : []), OTHER],
  }
}

interface Harness {
  gateway: Gateway
  eventFile: string
  mqttUrl: string
  httpBase: string
}

async function startGateway(t: Test): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-retire-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const gateway = await startLoopbackGateway({ dir, setup: eventSetup(), logger: pino({ level: 'silent' }), config: { adminToken: ADMIN_TOKEN } })
  t.teardown(() => gateway.stop())
  return { gateway, eventFile: join(dir, 'event.json'), mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, httpBase: `http://127.0.0.1:${gateway.httpAddress!.port}` }
}

async function admin(h: Harness, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${h.httpBase}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: await res.json() }
}

async function portalLogin(h: Harness, pin: string): Promise<{ status: number; token?: string }> {
  const res = await fetch(`${h.httpBase}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin }) })
  const body = (await res.json()) as { access_token?: string }
  return { status: res.status, ...(body.access_token === undefined ? {} : { token: body.access_token }) }
}

async function portalCustomer(h: Harness, token: string): Promise<number> {
  return (await fetch(`${h.httpBase}/api/customer`, { headers: { authorization: `Bearer ${token}` } })).status
}

/** A kiosk of this file's event; its transactions are for the guest. */
class TestKiosk extends MqttTestKiosk {
  constructor(id: KioskName) {
    super(id, { adminToken: ADMIN_TOKEN, kioskToken: TOKENS[id], uid: GUEST.uid })
  }
}

/** The CONNACK refusal of a login, or 'connected' (a login takes a live session of the kiosk over). */
async function tryLogin(h: Harness, kioskId: KioskName): Promise<string> {
  try {
    const client = await mqtt.connectAsync(h.mqttUrl, { username: kioskId, password: TOKENS[kioskId], reconnectPeriod: 0, connectTimeout: 5000 })
    await client.endAsync(true)
    return 'connected'
  } catch (err) {
    return (err as Error).message
  }
}

t.test('a kiosk and a wristband removed from the event set-up are retired by a reload; the balance stays; putting them back restores them', async (t) => {
  const h = await startGateway(t)
  const bar = new TestKiosk('bar-1')
  const cash = new TestKiosk('cash-1')
  t.equal((await bar.enrollAnswer(h)).status, 200)
  t.equal((await cash.enrollAnswer(h)).status, 200)
  await bar.connect(t, h)
  await cash.connect(t, h)
  t.match(await cash.send(cash.sign('topup_cash', 2000)), { status: 'accepted', balance: 2000 })
  const session = await portalLogin(h, GUEST.pin)
  t.equal(session.status, 200, 'the guest logs in before')
  t.equal(await portalCustomer(h, session.token!), 200)

  writeFileSync(h.eventFile, JSON.stringify(eventSetup({ cashKiosk: false, guest: false })))
  const reload = await admin(h, 'POST', '/event/reload')
  t.equal(reload.status, 200)
  t.match(reload.body, { kiosksRetired: ['cash-1'], wristbandsRetired: 1, retiredBalanceCents: 2000, keyConflicts: [] })

  // The retired kiosk: its live connection is closed, it cannot log in again, it is unknown to enrolment and config.
  await waitFor(() => cash.closed, 'the retired kiosk disconnected')
  t.match(await tryLogin(h, 'cash-1'), /Bad username or password|Not authorized/i, 'its token logs in no more')
  t.equal(await tryLogin(h, 'bar-1'), 'connected', 'the kiosk still in the file logs in')
  await bar.connect(t, h) // that login took the bar's session over
  t.equal((await cash.enrollAnswer(h)).status, 404, 'no enrolment of a retired kiosk')
  t.throws(() => h.gateway.ledger.registry.kioskConfig('cash-1'), /unknown kiosk/, 'no config for it')
  t.notOk(h.gateway.ledger.registry.kioskIds().includes('cash-1'))

  // The retired wristband: no portal login, the open session ends, no payment; its money is still there.
  t.not((await portalLogin(h, GUEST.pin)).status, 200, 'its PIN logs in no more')
  t.not(await portalCustomer(h, session.token!), 200, 'an open portal session shows nothing any more')
  t.match(await bar.send(bar.sign('sale', 450, [{ product: 'beer', qty: 1, unitPrice: 450 }])), { status: 'rejected' }, 'it cannot pay')
  t.equal(h.gateway.ledger.accountBalance('customer:' + GUEST.uid), 2000, 'its balance stays in its account')
  t.equal(h.gateway.ledger.sumOfAllBalances(), 0)
  t.same(h.gateway.ledger.checkInvariants(), [])
  const retired = await admin(h, 'GET', '/retired')
  t.same(retired.body, { kiosks: [{ id: 'cash-1', reason: 'removed_from_setup' }], wristbands: [{ uid: GUEST.uid, reason: 'removed_from_setup', balance: 2000 }] })
  t.equal((await portalLogin(h, OTHER.pin)).status, 200, 'a wristband still in the file logs in')

  // A restart imports the same file: still retired.
  writeFileSync(h.eventFile, JSON.stringify(eventSetup()))
  const back = await admin(h, 'POST', '/event/reload')
  t.match(back.body, { kiosksRetired: [], wristbandsRetired: 0 })
  t.equal(await tryLogin(h, 'cash-1'), 'connected', 'back in the file: the kiosk logs in again')
  t.equal((await portalLogin(h, GUEST.pin)).status, 200, 'and the PIN logs in again')
  t.match(await bar.send(bar.sign('sale', 450, [{ product: 'beer', qty: 1, unitPrice: 450 }])), { status: 'accepted', balance: 1550 }, 'and the wristband pays')
  t.same((await admin(h, 'GET', '/retired')).body, { kiosks: [], wristbands: [] })
})

t.test('operators disable a kiosk and a wristband through the admin API; a reload keeps them disabled', async (t) => {
  const h = await startGateway(t)
  const bar = new TestKiosk('bar-1')
  t.equal((await bar.enrollAnswer(h)).status, 200)
  await bar.connect(t, h)

  t.match(await admin(h, 'PUT', '/kiosks/bar-1/disabled', { disabled: true }), { status: 200, body: { kiosk: 'bar-1', disabled: true } })
  await waitFor(() => bar.closed, 'the disabled kiosk disconnected')
  t.match(await tryLogin(h, 'bar-1'), /Bad username or password|Not authorized/i)
  t.match(await admin(h, 'PUT', '/wristbands/' + OTHER.uid + '/disabled', { disabled: true }), { status: 200, body: { uid: OTHER.uid, disabled: true } })
  t.not((await portalLogin(h, OTHER.pin)).status, 200)

  t.equal((await admin(h, 'POST', '/event/reload')).status, 200)
  t.match(await tryLogin(h, 'bar-1'), /Bad username or password|Not authorized/i, 'the file still lists it, the operator disabled it: disabled')
  t.not((await portalLogin(h, OTHER.pin)).status, 200)
  t.same((await admin(h, 'GET', '/retired')).body, {
    kiosks: [{ id: 'bar-1', reason: 'disabled_by_admin' }],
    wristbands: [{ uid: OTHER.uid, reason: 'disabled_by_admin', balance: 0 }],
  })

  t.match(await admin(h, 'PUT', '/kiosks/bar-1/disabled', { disabled: false }), { status: 200, body: { disabled: false } })
  t.equal(await tryLogin(h, 'bar-1'), 'connected')
  t.match(await admin(h, 'PUT', '/wristbands/' + OTHER.uid + '/disabled', { disabled: false }), { status: 200, body: { disabled: false } })
  t.equal((await portalLogin(h, OTHER.pin)).status, 200)

  // Hostile and unknown input changes nothing.
  t.equal((await admin(h, 'PUT', '/kiosks/nope-9/disabled', { disabled: true })).status, 404)
  t.equal((await admin(h, 'PUT', '/kiosks/bar-1/disabled', { disabled: 'yes' })).status, 400)
  t.equal((await admin(h, 'PUT', '/kiosks/..%2Fx/disabled', { disabled: true })).status, 400)
  t.equal((await admin(h, 'PUT', '/wristbands/04FFFFFFFFFFFF/disabled', { disabled: true })).status, 404)
  const noToken = await fetch(`${h.httpBase}/admin/kiosks/bar-1/disabled`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"disabled":true}' })
  t.equal(noToken.status, 401)
  t.equal(await tryLogin(h, 'bar-1'), 'connected')
})

t.test('a kiosk whose token changes in the file loses its connection; the new token logs in', async (t) => {
  const h = await startGateway(t)
  const bar = new TestKiosk('bar-1')
  await bar.connect(t, h)
  const setup = eventSetup()
  writeFileSync(h.eventFile, JSON.stringify({ ...setup, kiosks: setup.kiosks.map((k) => (k.id === 'bar-1' ? { ...k, token: 'token-bar-1-rotated-0123' } : k)) }))
  t.equal((await admin(h, 'POST', '/event/reload')).status, 200)
  await waitFor(() => bar.closed, 'the kiosk with the old token disconnected')
  t.match(await tryLogin(h, 'bar-1'), /Bad username or password|Not authorized/i, 'the old token logs in no more')
  const client = await mqtt.connectAsync(h.mqttUrl, { username: 'bar-1', password: 'token-bar-1-rotated-0123', reconnectPeriod: 0, connectTimeout: 5000 })
  await client.endAsync(true)
  t.pass('the new token logs in')
})

t.test('a gateway without an event set-up refuses to start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-retire-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = resolveConfig({ mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'data'), logLevel: 'silent' })
  t.equal(config.eventFile, undefined, 'no event file by default: the demo is not a default any more')
  await t.rejects(createGateway({ config, logger: pino({ level: 'silent' }) }), /no event set-up/)
})
