// Disputes through the whole gateway, in-process: the gateway (its SQLite
// file, or a PostgreSQL database as its `store`: one body per engine; MQTT and
// HTTP on 127.0.0.1:0) configured with the stancer provider pointing
// at the provider simulator over real HTTP. A guest tops up on the portal,
// the provider raises a dispute and posts its webhooks to the gateway: the
// kiosk's retained config (MQTT) carries the wristband on its signed
// blocklist at once, the portal refuses the guest, the admin API lists the
// dispute, and a won dispute gives everything back.
import mqtt from 'mqtt'
import t, { type Test } from 'tap'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'
import type { EventSetup } from '../event-setup.js'
import { startStancerGateway } from './testing/stancer-gateway.js'
import { topics, type KioskConfig } from '../../device-protocol/index.js'
import { waitFor } from '../testing/wait.js'

const GUEST = '04D15B0E000001'
const PIN = 'DSPTGUEST22'
const ADMIN_TOKEN = 'admin-token-of-the-dispute-test-0123'
const KIOSK_TOKEN = 'token-of-bar-1-for-the-dispute-test-0123'

const setup: EventSetup = {
  event: { name: 'Dispute Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [{ id: 'bar-1', booth: 'bar', token: KIOSK_TOKEN, saleAllowed: true, topupAllowed: false }],
  wristbands: [{ uid: GUEST, pin: PIN }],
}

async function start(t: Test, engine: WorldEngine) {
  const world = await startStancerGateway(t, engine, { setup, dirPrefix: 'wristpay-disputes-gw-', config: { adminToken: ADMIN_TOKEN } })
  const admin = (path: string) => world.json('GET', path, undefined, { authorization: `Bearer ${ADMIN_TOKEN}` })
  return { ...world, admin }
}

testOnEngines(t, await worldEngines(t), 'a dispute on a portal top-up blocks the wristband on every kiosk at once, shows in the admin API, and a won one gives it all back', async (t, engine) => {
  const { sim, gateway, json, admin } = await start(t, engine)

  // The bar kiosk's MQTT session: its retained config is what it enforces offline.
  const kiosk = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, { username: 'bar-1', password: KIOSK_TOKEN, reconnectPeriod: 0, connectTimeout: 5000 })
  t.teardown(() => kiosk.endAsync(true))
  const configs: KioskConfig[] = []
  kiosk.on('message', (topic, payload) => {
    if (topic === topics.kioskConfig('bar-1') && payload.length > 0) configs.push(JSON.parse(payload.toString('utf8')) as KioskConfig)
  })
  await kiosk.subscribeAsync(topics.kioskConfig('bar-1'), { qos: 1 })
  await waitFor(() => configs.length > 0, 'the retained config')
  t.notOk(configs.at(-1)!.blocklist?.uids.includes(GUEST))

  // The guest tops up 30.00 on the portal and pays on the provider's page.
  const login = await json('POST', '/api/auth/login', { pin: PIN })
  t.equal(login.status, 200)
  const auth = { authorization: `Bearer ${login.body.access_token}` }
  const checkout = await json('POST', '/api/sumup/create-checkout', { amount: 30 }, auth)
  t.equal(checkout.status, 200)
  const intent = [...sim.state.paymentIntents.values()].find((i) => i.order_id === checkout.body.checkout_id)!
  sim.controls.payIntent(intent.id, 'paid')
  await sim.controls.flushWebhooks()
  t.same((await json('POST', '/api/sumup/check-checkout', { order_uuid: checkout.body.order_uuid }, auth)).body, { status: 'PAID' })
  t.equal(gateway.ledger.balanceOf(GUEST), 3_000)

  // The card holder disputes it; the provider's webhooks (twice each) reach the gateway.
  sim.controls.setWebhookMode('twice')
  const dispute = sim.controls.raiseDispute(sim.state.paymentIntents.get(intent.id)!.payment!)
  await sim.controls.flushWebhooks()
  t.ok(sim.controls.deliveries().every((d) => d.status === 200), 'every webhook acknowledged')
  t.equal(gateway.ledger.balanceOf(GUEST), 0, 'the disputed amount is booked once')
  t.equal(gateway.ledger.wristband(GUEST)?.blocked, true)
  await waitFor(() => configs.at(-1)!.blocklist?.uids.includes(GUEST) === true, "the guest on the kiosk's signed blocklist")
  t.equal((await json('POST', '/api/auth/login', { pin: PIN })).body.type, 'wristband_blocked', 'the portal refuses the guest')

  const listed = await admin('/admin/disputes')
  t.equal(listed.status, 200)
  t.match(listed.body, [{ id: dispute.id, state: 'open', uid: GUEST, amountCents: 3_000, bookedCents: 3_000, openDebtCents: 0, blocksWristband: true }])
  t.equal((await admin(`/admin/disputes/${dispute.id}`)).body.state, 'open')
  t.match(await admin(`/admin/disputes/dspt_${'x'.repeat(24)}`), { status: 404, body: { type: 'unknown_dispute' } })
  t.equal((await json('GET', '/admin/disputes')).status, 401, 'behind the admin token')

  sim.controls.setWebhookMode('once')
  sim.controls.resolveDispute(dispute.id, 'won')
  await sim.controls.flushWebhooks()
  t.equal((await admin(`/admin/disputes/${dispute.id}`)).body.state, 'won')
  t.equal(gateway.ledger.balanceOf(GUEST), 3_000, 'reversed')
  t.equal(gateway.ledger.wristband(GUEST)?.blocked, false, 'unblocked')
  await waitFor(() => configs.at(-1)!.blocklist?.uids.includes(GUEST) === false, 'off the blocklist again')
  t.same(gateway.ledger.checkInvariants(), [], 'ledger invariants hold')
  t.equal(gateway.ledger.sumOfAllBalances(), 0)
})
