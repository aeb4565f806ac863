import t, { type Test } from 'tap'
import pino from 'pino'
import { publicKeyFromBase64Url, verifyBlocklist } from '../device-protocol/index.js'
import { createHttpServer } from './http.js'
import { operationsAdmin, type OperationsAdminDeps } from './operations-admin.js'
import { makeOpsWorld, applyOne, STAFF, type StaffedKiosk } from './ledger/testing/operations-fixtures.js'
import { makeWorld, testSetup, UID } from './ledger/testing/test-helpers.js'
import { EventSetupError } from './event-setup.js'
import type { ImportSummary } from './registry/index.js'

const ADMIN_TOKEN = 'admin-token-0123456789'

async function start(t: Test, reloadEventSetup?: () => ImportSummary, ledger?: OperationsAdminDeps['ledger']) {
  const world = makeWorld()
  const published: string[][] = []
  const server = createHttpServer({
    logger: pino({ level: 'silent' }),
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not used')
    },
    adminPlugins: [operationsAdmin({ ledger: ledger ?? world.ledger, publishKioskConfigs: async (ids) => void published.push([...ids]), ...(reloadEventSetup ? { reloadEventSetup } : {}) })],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await server.close()
    world.close()
  })
  const call = (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) =>
    fetch(`http://127.0.0.1:${port}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  return { world, published, call }
}

t.test('blocking a wristband republishes every kiosk config with a signed blocklist naming it', async (t) => {
  const h = await start(t)
  const before = h.world.ledger.registry.kioskConfig('bar-1')
  const response = await h.call('PUT', `/wristbands/${UID.alice}/blocked`, { blocked: true })
  t.equal(response.status, 200)
  t.match(await response.json(), { uid: UID.alice, blocked: true, kiosksUpdated: 3 })
  t.same(h.published, [['bar-1', 'cash-1', 'food-1']])
  const after = h.world.ledger.registry.kioskConfig('bar-1')
  t.ok(after.version > before.version, 'config version went up')
  t.ok(after.blocklist!.uids.includes(UID.alice))
  t.ok(after.blocklist!.version > before.blocklist!.version)
  t.ok(verifyBlocklist(after.blocklist!, publicKeyFromBase64Url(after.gatewayKey!)), 'signed by the gateway key the config names')
  t.equal(h.world.ledger.wristband(UID.alice)?.blocked, true)
})

t.test('bad requests are refused and change nothing', async (t) => {
  const h = await start(t)
  t.equal((await h.call('PUT', `/wristbands/${UID.alice}/blocked`, { blocked: true }, 'wrong-token')).status, 401)
  t.equal((await h.call('PUT', `/wristbands/${UID.stranger}/blocked`, { blocked: true })).status, 404)
  t.equal((await h.call('PUT', `/wristbands/not-a-uid/blocked`, { blocked: true })).status, 400)
  t.equal((await h.call('PUT', `/wristbands/${UID.alice}/blocked`, { blocked: 'yes' })).status, 400)
  t.equal((await h.call('PUT', `/wristbands/${UID.alice}/blocked`, { blocked: true, extra: 1 })).status, 400)
  t.equal((await h.call('GET', `/shifts/not-an-id`)).status, 400)
  t.equal((await h.call('GET', `/shifts/01936f0e-7c00-7000-8000-000000000001`)).status, 404)
  t.equal(h.world.ledger.wristband(UID.alice)?.blocked, false)
  t.same(h.published, [])
})

t.test('the gateway keys are served for kiosk installs, and they are the ones the configs name', async (t) => {
  const h = await start(t)
  const response = await h.call('GET', '/gateway-keys')
  t.equal(response.status, 200)
  const keys = (await response.json()) as { signingPublicKey: string; pinSealPublicKey: string }
  const config = h.world.ledger.registry.kioskConfig('bar-1')
  t.equal(keys.signingPublicKey, config.gatewayKey)
  t.equal(keys.pinSealPublicKey, config.pinSealKey)
  t.equal((await h.call('GET', '/gateway-keys', undefined, 'wrong-token')).status, 401)
})

t.test('reloading the event set-up imports it and republishes the configs that changed', async (t) => {
  let next: () => ImportSummary = () => {
    throw new Error('unset')
  }
  const h = await start(t, () => next())
  const changed = testSetup()
  changed.products[0]!.price = 500
  next = () => h.world.ledger.registry.importEventSetup(changed)
  const response = await h.call('POST', '/event/reload')
  t.equal(response.status, 200)
  t.match(await response.json(), { products: 4, kiosksUpdated: 1 })
  t.same(h.published, [['bar-1']], 'only the bar sells beer')
  t.match(h.world.ledger.registry.kioskConfig('bar-1').products, [{ id: 'beer', price: 500 }])

  next = () => {
    throw new EventSetupError('event.json: invalid event set-up: /products/0/price is negative')
  }
  const bad = await h.call('POST', '/event/reload')
  t.equal(bad.status, 400)
  t.match(await bad.json(), { type: 'invalid_event_setup', message: /products\/0\/price/ })
  t.same(h.published, [['bar-1']], 'nothing published for a bad file')
  t.equal((await h.call('POST', '/event/reload', undefined, 'wrong-token')).status, 401)
})

t.test('without an event file there is nothing to reload', async (t) => {
  const h = await start(t)
  t.equal((await h.call('POST', '/event/reload')).status, 404)
})

t.test('shift and debt lists are served (empty before any shift)', async (t) => {
  const h = await start(t)
  const shifts = await h.call('GET', '/shifts')
  t.equal(shifts.status, 200)
  t.same(await shifts.json(), [])
  const debts = await h.call('GET', '/debts')
  t.same(await debts.json(), [])
})

t.test("GET /shifts shows the card terminal's totals of a close, that they are missing and why, and a difference to the card top-ups booked", async (t) => {
  const ops = makeOpsWorld()
  t.teardown(ops.close)
  const h = await start(t, undefined, ops.ledger)
  const cash: StaffedKiosk = ops.kiosks.cash
  const book = (e: Parameters<typeof applyOne>[1]) => t.match(applyOne(ops.ledger, e), { status: 'accepted' })
  const shift = (counted: number, over: object) => {
    const opened = cash.next({ type: 'shift_open', uid: STAFF.topup, amount: 0 }, { register: 'drawer-1' })
    book(opened)
    book(cash.next({ type: 'shift_close', uid: STAFF.topup, amount: counted }, { register: 'drawer-1', ...over }))
    return opened.tx.id
  }
  const totals = { status: 'ok' as const, terminalId: '52000123', totalCents: 2_500, count: 1, cardTypes: [{ cardType: 'visa', count: 1, amountCents: 2_500 }] }
  const withTotals = shift(0, { terminalTotals: totals })
  const missing = shift(0, { terminalTotals: { status: 'missing', reason: 'terminal busy' } })
  const res = await h.call('GET', '/shifts')
  t.equal(res.status, 200)
  const reports = (await res.json()) as Array<{ id: string }>
  t.match(reports.find((r) => r.id === withTotals), { cardTopups: { count: 0, cents: 0 }, terminalTotals: totals, cardDifference: 2_500, counted: 0, difference: 0 })
  t.match(reports.find((r) => r.id === missing), { terminalTotals: { status: 'missing', reason: 'terminal busy' }, cardDifference: null })
  const one = await h.call('GET', `/shifts/${withTotals}`)
  t.match(await one.json(), { terminalTotals: { status: 'ok', totalCents: 2_500, cardTypes: [{ cardType: 'visa', count: 1, amountCents: 2_500 }] }, cardDifference: 2_500 })
})
