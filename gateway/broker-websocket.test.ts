// MQTT over WebSocket: the broker's second listener must be the same broker
// with the same doors as TCP (logins, ACLs, client ids, admission), not a side
// entrance for browsers.
import t, { type Test } from 'tap'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { topics } from '../device-protocol/index.js'
import { createBroker, WEBSOCKET_PATH, type Broker, type Principal } from './broker.js'
import { waitFor } from './testing/wait.js'

const logger = pino({ level: 'silent' })

const ACCOUNTS: Record<string, { password: string; principal: Principal }> = {
  k1: { password: 'token-k1', principal: { role: 'kiosk', kioskId: 'k1' } },
  'operator:ops': { password: 'ops-token-123', principal: { role: 'operator', name: 'ops' } },
}

function authenticate(username: string | undefined, password: string | undefined): Principal | null {
  const account = username === undefined ? undefined : ACCOUNTS[username]
  return account && account.password === password ? account.principal : null
}

interface Harness {
  broker: Broker
  wsUrl: string
  received: Array<{ kioskId: string; payload: string }>
}

async function startBroker(t: Test): Promise<Harness> {
  const received: Harness['received'] = []
  const broker = await createBroker({
    authenticate,
    logger,
    onKioskTx: (kioskId, payload) => received.push({ kioskId, payload: payload.toString('utf8') }),
  })
  t.teardown(() => broker.close())
  await broker.listen('127.0.0.1', 0)
  const { port } = await broker.listenWebSocket('127.0.0.1', 0)
  return { broker, wsUrl: `ws://127.0.0.1:${port}${WEBSOCKET_PATH}`, received }
}

async function connectWs(t: Test, url: string, options: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  t.teardown(() => client.endAsync(true))
  return client
}

/** The QoS the broker granted per filter; mqtt.js turns a SUBACK with 0x80 into an error carrying the packet. */
async function subscribeGranted(client: MqttClient, filters: string | string[]): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos: 1 })
    return granted.map((g) => g.qos)
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (!packet?.granted) throw err
    return packet.granted
  }
}

/** Connects and answers how the broker took it: 'connected', or the refusal's error text. */
async function tryConnect(url: string, options: IClientOptions): Promise<string> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
    await client.endAsync(true)
    return 'connected'
  } catch (err) {
    return (err as Error).message
  }
}

t.test('an operator reads the retained gateway state over WebSocket', async (t) => {
  const h = await startBroker(t)
  await h.broker.publish(topics.gatewayState, JSON.stringify({ status: 'online', at: 1 }), { qos: 1, retain: true })
  const ops = await connectWs(t, h.wsUrl, { username: 'operator:ops', password: 'ops-token-123' })
  const seen: Array<{ topic: string; body: string }> = []
  ops.on('message', (topic, payload) => seen.push({ topic, body: payload.toString('utf8') }))
  const granted = await ops.subscribeAsync(topics.gatewayState, { qos: 1 })
  t.equal(granted[0]?.qos, 1, 'subscription granted')
  await waitFor(() => seen.length === 1, 'retained gateway state')
  t.same(seen[0], { topic: topics.gatewayState, body: JSON.stringify({ status: 'online', at: 1 }) })
  t.equal(h.broker.counters().connectedClients, 1, 'the WebSocket client is a client of the one broker')
})

t.test('a stranger is refused over WebSocket: no credentials, a wrong token, an unknown name', async (t) => {
  const h = await startBroker(t)
  t.match(await tryConnect(h.wsUrl, {}), /Not authorized/i)
  t.match(await tryConnect(h.wsUrl, { username: 'operator:ops', password: 'wrong-token' }), /Bad username or password/i)
  t.match(await tryConnect(h.wsUrl, { username: 'operator:nobody', password: 'ops-token-123' }), /Bad username or password/i)
  t.equal(h.broker.counters().authFailures, 3, 'each refusal counted as on TCP')
})

t.test('another path than /mqtt is not served', async (t) => {
  const h = await startBroker(t)
  const wrong = h.wsUrl.replace(/\/mqtt$/, '/other')
  const { WebSocket } = await import('ws')
  const socket = new WebSocket(wrong, 'mqtt')
  t.teardown(() => socket.terminate())
  const status = await new Promise<number | string>((resolve) => {
    socket.once('open', () => resolve('open'))
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 'no status'))
    socket.once('error', (err) => resolve(err.message))
  })
  t.equal(status, 400, 'the upgrade is refused')
  const plain = await fetch(h.wsUrl.replace(/^ws:/, 'http:'))
  t.equal(plain.status, 404, 'a plain HTTP request finds nothing')
})

t.test('a read-only operator over WebSocket can neither publish nor read kiosk replies or configs', async (t) => {
  const h = await startBroker(t)
  const ops = await connectWs(t, h.wsUrl, { username: 'operator:ops', password: 'ops-token-123' })
  t.same(
    await subscribeGranted(ops, [topics.kioskReply('k1'), topics.kioskConfig('k1'), 'wristpay/v1/#']),
    [128, 128, 128],
    'reply, config and the whole tree refused',
  )
  t.equal(h.broker.counters().deniedSubscribes, 3)
  const closed = new Promise<void>((resolve) => ops.once('close', () => resolve()))
  ops.publish(topics.kioskTx('k1'), '{"forged":true}', { qos: 1 })
  await closed
  t.equal(h.broker.counters().deniedPublishes, 1, 'the publish was denied and the connection closed')
  t.same(h.received, [], 'nothing reached the ledger hook')
})

t.test("a kiosk's credentials over WebSocket get the kiosk's ACL", async (t) => {
  const h = await startBroker(t)
  const kiosk = await connectWs(t, h.wsUrl, { username: 'k1', password: 'token-k1', clientId: 'kiosk-k1' })
  t.same(
    await subscribeGranted(kiosk, [topics.kioskReply('k1'), topics.gatewayState]),
    [1, 128],
    'its own reply topic only',
  )
  await kiosk.publishAsync(topics.kioskTx('k1'), '{"tx":1}', { qos: 1 })
  await waitFor(() => h.received.length === 1, 'the transaction hook')
  t.same(h.received, [{ kioskId: 'k1', payload: '{"tx":1}' }])
})

t.test('client-id rules hold over WebSocket: an operator cannot take a kiosk id', async (t) => {
  const h = await startBroker(t)
  t.match(await tryConnect(h.wsUrl, { username: 'operator:ops', password: 'ops-token-123', clientId: 'kiosk-k1' }), /Identifier rejected/i)
  t.equal(h.broker.counters().clientIdRefusals, 1)
})

t.test('connections before CONNECT over WebSocket count against the same admission as TCP', async (t) => {
  const h = await startBroker(t)
  // A raw WebSocket that never sends CONNECT is a pending connection of the broker.
  const { WebSocket } = await import('ws')
  const socket = new WebSocket(h.wsUrl, 'mqtt')
  t.teardown(() => socket.terminate())
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  await waitFor(() => h.broker.counters().pendingConnections === 1, 'the pending connection')
  t.pass('counted')
})

t.test('close() also closes the WebSocket listener and its clients', async (t) => {
  const h = await startBroker(t)
  const ops = await connectWs(t, h.wsUrl, { username: 'operator:ops', password: 'ops-token-123' })
  const closed = new Promise<void>((resolve) => ops.once('close', () => resolve()))
  await h.broker.close()
  await closed
  t.not(await tryConnect(h.wsUrl, { username: 'operator:ops', password: 'ops-token-123' }), 'connected', 'no longer listening')
})
