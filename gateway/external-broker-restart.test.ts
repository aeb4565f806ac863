// The gateway's connection to an external Mosquitto across a restart of the
// broker (its own private Mosquitto: the restart would disturb the other
// external-broker tests). Mosquitto 2.0.11 restores the gateway's persistent
// session from its persistence file but not the session's shared
// subscriptions; the gateway subscribes again, or it would never receive
// another transaction (found by the failover run, simulators/cluster/failover.ts).
import t from 'tap'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { topics } from '../device-protocol/index.js'
import { connectDynsecClient } from './dynsec-client.js'
import { createBrokerProvisioner } from './dynsec.js'
import { createExternalBroker } from './external-broker.js'
import { hashToken } from './registry/secrets.js'
import { mosquittoAvailable, startMosquitto } from './testing/mosquitto-server.js'

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

/** Waits (bounded) until `done()`; throws with `what` otherwise. No timing is asserted. */
async function eventually(done: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 1_500 && !done(); i++) await sleep(10)
  if (!done()) throw new Error(`gave up waiting: ${what()}`)
}

t.test('after Mosquitto restarts, the gateways of a share group receive the kiosks\' transactions again, each once', { skip: mosquittoAvailable() ? false : 'mosquitto with the dynamic security plugin is not installed' }, async (t) => {
  const logger = pino({ level: 'silent' })
  const server = await startMosquitto()
  t.teardown(() => server.remove())
  const admin = await connectDynsecClient({ url: server.url, ...server.admin, clientId: 'restart-dynsec-admin' })
  const provisioner = createBrokerProvisioner(admin)
  const account = { username: 'wristpay-gateway', password: 'gateway-password-0123456789' }
  await provisioner.provisionGateway(account)
  const token = 'token-of-k1-0123456789'
  await provisioner.provisionKiosks([{ id: 'k1', tokenHash: hashToken(token), retired: false }], new Map([['k1', token]]))
  await admin.close()

  const member = (clientId: string) => {
    const seen: string[] = []
    const broker = createExternalBroker({ logger, onKioskTx: (_kioskId, payload) => seen.push(payload.toString('utf8')), kioskTxSettled: () => Promise.resolve() }, { url: server.url, ...account, clientId })
    t.teardown(() => broker.close())
    return { broker, seen }
  }
  const a = member('restart-a')
  const b = member('restart-b')
  await a.broker.listen('ignored', 0)
  await b.broker.listen('ignored', 0)
  const kiosk = async () => {
    const k1 = await mqtt.connectAsync(server.url, { clientId: 'kiosk-k1', username: 'k1', password: token, reconnectPeriod: 0 })
    k1.on('error', () => {})
    return k1
  }
  const seenOnce = (payload: string) => [...a.seen, ...b.seen].filter((p) => p === payload).length

  const before = await kiosk()
  for (const n of [1, 2, 3, 4]) await before.publishAsync(topics.kioskTx('k1'), `before-${n}`, { qos: 1 })
  await eventually(() => [1, 2, 3, 4].every((n) => seenOnce(`before-${n}`) === 1), () => `a ${JSON.stringify(a.seen)} b ${JSON.stringify(b.seen)}`)
  await before.endAsync()

  // A clean stop: Mosquitto writes its persistence file (the gateways' sessions in it) and starts from it again.
  await server.restart()
  await eventually(() => a.broker.address() !== null && b.broker.address() !== null, () => 'the gateways did not reconnect')
  const after = await kiosk()
  t.teardown(() => after.endAsync(true))
  const sent = Array.from({ length: 10 }, (_, i) => `after-${i}`)
  // The gateways' SUBSCRIBE goes out right after their CONNACK; a kiosk's message before it reaches nobody, and the kiosk
  // would send it again from its outbox. The first one is therefore sent until one arrives, then the rest once each.
  for (let i = 0; i < 200 && seenOnce(sent[0]!) === 0; i++) {
    await after.publishAsync(topics.kioskTx('k1'), sent[0]!, { qos: 1 })
    await sleep(25)
  }
  for (const payload of sent.slice(1)) await after.publishAsync(topics.kioskTx('k1'), payload, { qos: 1 })
  await eventually(() => sent.slice(1).every((p) => seenOnce(p) > 0), () => `a ${JSON.stringify(a.seen)} b ${JSON.stringify(b.seen)}`)
  await sleep(200)
  t.same(sent.slice(1).map(seenOnce), sent.slice(1).map(() => 1), 'every transaction after the restart reached one gateway, none two')
  t.ok(a.seen.some((p) => p.startsWith('after-')) && b.seen.some((p) => p.startsWith('after-')), 'both gateways take their share again')
})
