import t, { type Test } from 'tap'
import { connect as netConnect, type Socket } from 'node:net'
import mqtt, { MqttClient, type IClientOptions } from 'mqtt'
import { pino } from 'pino'
import { topics, type Clock } from '../device-protocol/index.js'
import {
  clientIdRefusal,
  createBroker,
  createFrameSizeGuard,
  DEFAULT_BROKER_LIMITS,
  filterWithin,
  mayPublish,
  maySubscribe,
  type Broker,
  type BrokerLimits,
  type Principal,
} from './broker.js'
import { waitFor } from './testing/wait.js'

const logger = pino({ level: 'silent' })

const ACCOUNTS: Record<string, { password: string; principal: Principal }> = {
  k1: { password: 'token-k1', principal: { role: 'kiosk', kioskId: 'k1' } },
  k2: { password: 'token-k2', principal: { role: 'kiosk', kioskId: 'k2' } },
  'operator:ops': { password: 'ops-token-123', principal: { role: 'operator', name: 'ops' } },
}

function authenticate(username: string | undefined, password: string | undefined): Principal | null {
  const account = username === undefined ? undefined : ACCOUNTS[username]
  return account && account.password === password ? account.principal : null
}

interface Harness {
  broker: Broker
  port: number
  received: Array<{ kioskId: string; payload: string }>
}

async function startBroker(
  t: Test,
  extra: { maxPacketBytes?: number; authenticate?: typeof authenticate; limits?: Partial<BrokerLimits>; clock?: Clock } = {},
): Promise<Harness> {
  const received: Harness['received'] = []
  const broker = await createBroker({
    authenticate: extra.authenticate ?? authenticate,
    logger,
    maxPacketBytes: extra.maxPacketBytes,
    limits: extra.limits,
    clock: extra.clock,
    onKioskTx: (kioskId, payload) => received.push({ kioskId, payload: payload.toString('utf8') }),
  })
  const { port } = await broker.listen('127.0.0.1', 0)
  t.teardown(() => broker.close())
  return { broker, port, received }
}

async function connectClient(t: Test, port: number, options: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  t.teardown(() => client.endAsync(true))
  return client
}

/** Resolves with the connack error of a refused connection. */
async function refusedConnect(port: number, options: IClientOptions): Promise<Error & { code?: number }> {
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
    await client.endAsync(true)
  } catch (err) {
    return err as Error & { code?: number }
  }
  throw new Error('connection was accepted')
}

/**
 * Connects from a chosen loopback source address (Linux routes all of 127/8 to lo), so that a test
 * can play several network peers. Resolves with the client, or rejects with the CONNACK error.
 */
function connectFrom(port: number, localAddress: string, options: IClientOptions): Promise<MqttClient> {
  const client = new MqttClient(() => netConnect({ port, host: '127.0.0.1', localAddress }), {
    protocol: 'mqtt',
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  })
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', (err) => {
      client.end(true)
      reject(err)
    })
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

/** Opens a TCP connection that never sends CONNECT. */
function idleSocket(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1', localAddress })
    socket.on('error', () => {}) // the broker may close it at any time
    // The broker may evict it at once; either way the attempt is over for the caller.
    socket.once('connect', () => resolve(socket))
    socket.once('close', () => resolve(socket))
  })
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

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve()
    client.once('close', () => resolve())
  })
}

function nextMessage(client: MqttClient): Promise<{ topic: string; payload: string; retain: boolean }> {
  return new Promise((resolve) => {
    client.once('message', (topic, payload, packet) => resolve({ topic, payload: payload.toString('utf8'), retain: packet.retain }))
  })
}

t.test('filterWithin: equal or narrower filters only', async (t) => {
  t.ok(filterWithin('wristpay/v1/events/#', 'wristpay/v1/events/#'))
  t.ok(filterWithin('wristpay/v1/events/booked', 'wristpay/v1/events/#'))
  t.ok(filterWithin('wristpay/v1/events/+', 'wristpay/v1/events/#'))
  t.ok(filterWithin('wristpay/v1/kiosk/k1/state', 'wristpay/v1/kiosk/+/state'))
  t.ok(filterWithin('wristpay/v1/kiosk/+/state', 'wristpay/v1/kiosk/+/state'))
  t.notOk(filterWithin('wristpay/v1/kiosk/#', 'wristpay/v1/kiosk/+/state'))
  t.notOk(filterWithin('wristpay/v1/kiosk/+/tx', 'wristpay/v1/kiosk/+/state'))
  t.notOk(filterWithin('wristpay/v1/kiosk/+/state/x', 'wristpay/v1/kiosk/+/state'))
  t.notOk(filterWithin('wristpay/v1/kiosk/+', 'wristpay/v1/kiosk/+/state'))
  t.notOk(filterWithin('#', 'wristpay/v1/events/#'))
  t.notOk(filterWithin('wristpay/+/events/booked', 'wristpay/v1/events/#'))
  t.notOk(filterWithin('$share/g/wristpay/v1/events/#', 'wristpay/v1/events/#'))
})

t.test('ACL table of DESIGN.md', async (t) => {
  const k1: Principal = { role: 'kiosk', kioskId: 'k1' }
  const op: Principal = { role: 'operator', name: 'ops' }
  t.ok(mayPublish(k1, topics.kioskTx('k1')))
  t.ok(mayPublish(k1, topics.kioskState('k1')))
  t.ok(mayPublish(k1, topics.kioskQuery('k1')), 'a kiosk asks about wristbands on its own query topic')
  t.notOk(mayPublish(k1, topics.kioskQuery('k2')), 'but not on another kiosk\'s')
  t.notOk(mayPublish(k1, topics.kioskTx('k2')))
  t.notOk(mayPublish(k1, topics.kioskReply('k1')), 'a kiosk cannot forge its own replies')
  t.notOk(mayPublish(k1, topics.kioskConfig('k1')))
  t.notOk(mayPublish(k1, topics.gatewayState))
  t.notOk(mayPublish(k1, topics.event('booked')))
  t.notOk(mayPublish(k1, '$SYS/x/heartbeat'))
  t.ok(maySubscribe(k1, topics.kioskReply('k1')))
  t.ok(maySubscribe(k1, topics.kioskConfig('k1')))
  t.notOk(maySubscribe(k1, topics.kioskReply('k2')))
  t.notOk(maySubscribe(k1, 'wristpay/v1/kiosk/+/reply'))
  t.notOk(maySubscribe(k1, 'wristpay/v1/kiosk/k1/#'))
  t.notOk(maySubscribe(k1, topics.kioskTx('k1')))
  t.notOk(mayPublish(op, topics.event('booked')))
  t.notOk(mayPublish(op, topics.kioskTx('k1')))
  t.ok(maySubscribe(op, topics.allKioskState))
  t.ok(maySubscribe(op, topics.kioskState('k1')))
  t.ok(maySubscribe(op, topics.gatewayState))
  t.ok(maySubscribe(op, topics.allEvents))
  t.ok(maySubscribe(op, topics.event('alert')))
  t.notOk(maySubscribe(op, topics.allKioskTx))
  t.notOk(maySubscribe(op, 'wristpay/v1/kiosk/+/reply'))
  t.notOk(maySubscribe(op, '#'))
  t.notOk(maySubscribe(op, '$SYS/#'))
})

t.test('frame size guard', async (t) => {
  // A PINGREQ (c0 00), then a PUBLISH with remaining length 200 split over chunks.
  const guard = createFrameSizeGuard(300)
  t.equal(guard.push(Buffer.from([0xc0, 0x00, 0x30])), null)
  t.equal(guard.push(Buffer.from([0xc8])), null, 'first length byte with continuation bit')
  t.equal(guard.push(Buffer.concat([Buffer.from([0x01]), Buffer.alloc(150)])), null)
  t.equal(guard.push(Buffer.alloc(50)), null, 'the body ends exactly here')
  t.equal(guard.push(Buffer.from([0xc0, 0x00])), null, 'next packet parsed from its header')

  const big = createFrameSizeGuard(300)
  t.match(big.push(Buffer.from([0x30, 0xad, 0x02])), /301 bytes exceeds 300/)
  t.match(big.push(Buffer.from([0xc0, 0x00])), /exceeds/, 'stays failed')

  const malformed = createFrameSizeGuard(300)
  t.match(malformed.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), /malformed/)
})

t.test('anonymous and wrong credentials are refused', async (t) => {
  const h = await startBroker(t)
  const anonymous = await refusedConnect(h.port, { clientId: 'anon' })
  t.equal(anonymous.code, 5, 'not authorized')
  const wrong = await refusedConnect(h.port, { clientId: 'x', username: 'k1', password: 'token-k2' })
  t.equal(wrong.code, 4, 'bad username or password')
  const noPassword = await refusedConnect(h.port, { clientId: 'y', username: 'k1' })
  t.equal(noPassword.code, 4)
  const unknown = await refusedConnect(h.port, { clientId: 'z', username: 'k9', password: 'token-k1' })
  t.equal(unknown.code, 4)
  t.equal(h.broker.counters().authFailures, 4)
})

t.test('an authenticate callback that throws refuses the client, broker stays up', async (t) => {
  const h = await startBroker(t, {
    authenticate: () => {
      throw new Error('db gone')
    },
  })
  const err = await refusedConnect(h.port, { username: 'k1', password: 'token-k1' })
  t.equal(err.code, 3, 'server unavailable')
  t.equal(h.broker.counters().authFailures, 1)
})

t.test('a kiosk authenticate result must match the username', async (t) => {
  const h = await startBroker(t, { authenticate: () => ({ role: 'kiosk', kioskId: 'k2' }) })
  const err = await refusedConnect(h.port, { username: 'k1', password: 'whatever' })
  t.equal(err.code, 4)
})

t.test('a kiosk tx on its own topic reaches the handler; retain is stripped', async (t) => {
  const h = await startBroker(t)
  const k1 = await connectClient(t, h.port, { clientId: 'anything-goes', username: 'k1', password: 'token-k1' })
  await k1.publishAsync(topics.kioskTx('k1'), '{"hello":1}', { qos: 1, retain: true })
  await k1.publishAsync(topics.kioskState('k1'), JSON.stringify({ kiosk: 'k1', status: 'online', at: 1 }), { qos: 1, retain: true })
  await waitFor(() => h.received.length === 1, 'the tx')
  t.same(h.received, [{ kioskId: 'k1', payload: '{"hello":1}' }])
  const op = await connectClient(t, h.port, { username: 'operator:ops', password: 'ops-token-123' })
  const message = nextMessage(op)
  t.same(await subscribeGranted(op, [topics.allKioskState, topics.kioskTx('k1')]), [1, 128])
  const state = await message
  t.equal(state.topic, topics.kioskState('k1'))
  t.equal(state.retain, true, 'state stays retained')
  t.equal(h.broker.counters().invalidKioskStates, 0)
  t.equal(h.broker.counters().kioskTxReceived, 1)
  t.equal(h.broker.counters().messagesFromClients, 2, 'the tx and the state')
  const before = h.broker.counters().messagesFromGateway
  await h.broker.publish(topics.gatewayState, '{}', { qos: 1 })
  t.equal(h.broker.counters().messagesFromGateway, before + 1, 'an in-process publish counts as the gateway\'s')
  t.equal(h.broker.counters().messagesFromClients, 2)
})

t.test('a kiosk publishing under another kiosk is denied and disconnected; nothing reaches ingest', async (t) => {
  const h = await startBroker(t)
  const k1 = await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })
  const gone = closed(k1)
  k1.publish(topics.kioskTx('k2'), '{"forged":true}', { qos: 1 })
  await gone
  t.same(h.received, [])
  t.equal(h.broker.counters().deniedPublishes, 1)
  // Replies are not a kiosk's to send either.
  const k2 = await connectClient(t, h.port, { username: 'k2', password: 'token-k2' })
  const gone2 = closed(k2)
  k2.publish(topics.kioskReply('k2'), '{}', { qos: 0 })
  await gone2
  t.equal(h.broker.counters().deniedPublishes, 2)
})

t.test('a kiosk may subscribe only to its own reply and config', async (t) => {
  const h = await startBroker(t)
  await h.broker.publish(topics.kioskConfig('k1'), '{"version":1}', { qos: 1, retain: true })
  const k1 = await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })
  t.same(await subscribeGranted(k1, [topics.kioskReply('k2'), 'wristpay/v1/kiosk/+/reply', '#']), [128, 128, 128])
  t.equal(h.broker.counters().deniedSubscribes, 3)
  t.ok(k1.connected, 'a denied subscription does not end the session')

  const config = nextMessage(k1)
  t.same(await subscribeGranted(k1, topics.kioskConfig('k1')), [1])
  t.same(await config, { topic: topics.kioskConfig('k1'), payload: '{"version":1}', retain: true }, 'retained config on subscribe')

  await k1.subscribeAsync(topics.kioskReply('k1'), { qos: 1 })
  const reply = nextMessage(k1)
  await h.broker.publish(topics.kioskReply('k2'), '{"for":"k2"}', { qos: 1 })
  await h.broker.publish(topics.kioskReply('k1'), '{"for":"k1"}', { qos: 1 })
  t.equal((await reply).payload, '{"for":"k1"}', 'only its own reply arrives')
})

t.test('an operator reads state and events but cannot publish', async (t) => {
  const h = await startBroker(t)
  const op = await connectClient(t, h.port, { username: 'operator:ops', password: 'ops-token-123' })
  const granted = await subscribeGranted(op, [topics.allEvents, topics.allKioskState, topics.gatewayState, topics.allKioskTx, 'wristpay/v1/kiosk/+/reply', '#'])
  t.same(granted, [1, 1, 1, 128, 128, 128])
  const event = nextMessage(op)
  await h.broker.publish(topics.event('booked'), '{"id":"x"}', { qos: 1 })
  t.same(await event, { topic: topics.event('booked'), payload: '{"id":"x"}', retain: false })

  const gone = closed(op)
  op.publish(topics.event('booked'), '{"fake":true}', { qos: 1 })
  await gone
  t.equal(h.broker.counters().deniedPublishes, 1)
})

t.test('an oversized packet closes the connection before it is buffered', async (t) => {
  const h = await startBroker(t, { maxPacketBytes: 4096 })
  const k1 = await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })
  const gone = closed(k1)
  k1.publish(topics.kioskTx('k1'), Buffer.alloc(100_000, 0x41), { qos: 1 })
  await gone
  t.same(h.received, [])
  t.equal(h.broker.counters().oversizedPackets, 1)
})

t.test('a raw socket announcing a huge CONNECT is cut off', async (t) => {
  const h = await startBroker(t)
  const socket = netConnect(h.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {})
  // CONNECT with a remaining length of 200 MB (0x80 0x80 0x80 0x60 would be 201,326,592).
  socket.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x60, 0x00, 0x04]))
  await ended
  t.equal(h.broker.counters().oversizedPackets, 1)
})

t.test('garbage bytes instead of MQTT do not bring the broker down', async (t) => {
  const h = await startBroker(t)
  const socket = netConnect(h.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  await ended
  const k1 = await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })
  t.ok(k1.connected, 'the broker still serves')
})

t.test('one kiosk id connected twice: the newer session wins', async (t) => {
  const h = await startBroker(t)
  const older = await connectClient(t, h.port, { clientId: 'pi-a', username: 'k1', password: 'token-k1' })
  const olderGone = closed(older)
  const newer = await connectClient(t, h.port, { clientId: 'pi-b', username: 'k1', password: 'token-k1' })
  await olderGone
  t.ok(newer.connected)
  t.equal(h.broker.counters().sessionTakeovers, 1)
  await newer.publishAsync(topics.kioskTx('k1'), '{"n":1}', { qos: 1 })
  await waitFor(() => h.received.length === 1, 'the tx')
  t.same(h.received, [{ kioskId: 'k1', payload: '{"n":1}' }])
})

t.test('an invalid kiosk state is counted, not fatal', async (t) => {
  const h = await startBroker(t)
  const k1 = await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })
  await k1.publishAsync(topics.kioskState('k1'), 'not json', { qos: 1 })
  await k1.publishAsync(topics.kioskState('k1'), JSON.stringify({ kiosk: 'k2', status: 'online', at: 1 }), { qos: 1 })
  await waitFor(() => h.broker.counters().invalidKioskStates === 2, 'both states')
  t.equal(h.broker.counters().invalidKioskStates, 2)
  t.ok(k1.connected)
})

t.test('close is idempotent and disconnects clients', async (t) => {
  const h = await startBroker(t)
  const k1 = await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })
  const gone = closed(k1)
  await h.broker.close()
  await h.broker.close()
  await gone
  t.notOk(k1.connected)
})

// ---------------------------------------------------------------------------
// Client ids (issue 9, point 1)

t.test('client ids: each account owns its own, persistent sessions only there', async (t) => {
  const k1: Principal = { role: 'kiosk', kioskId: 'k1' }
  const bar: Principal = { role: 'kiosk', kioskId: 'bar' }
  const op: Principal = { role: 'operator', name: 'ops' }
  t.equal(clientIdRefusal(k1, 'kiosk-k1', false), null, 'the kiosk daemon\'s id')
  t.equal(clientIdRefusal(k1, 'kiosk-k1/bench', false), null, 'a suffix after /')
  t.equal(clientIdRefusal(op, 'operator-ops', false), null)
  t.equal(clientIdRefusal(k1, 'mqttjs_1a2b3c4d', true), null, 'a random id for a clean session')
  t.equal(clientIdRefusal(k1, 'kiosk-k2', true), 'foreign_namespace', 'another kiosk\'s id, even clean')
  t.equal(clientIdRefusal(op, 'kiosk-k1', false), 'foreign_namespace')
  t.equal(clientIdRefusal(k1, 'operator-ops', true), 'foreign_namespace')
  t.equal(clientIdRefusal(k1, 'gateway', true), 'foreign_namespace')
  t.equal(clientIdRefusal(bar, 'kiosk-bar-1', true), 'foreign_namespace', 'kiosk bar does not own kiosk bar-1\'s id')
  t.equal(clientIdRefusal(k1, 'kiosk-k1x', true), 'foreign_namespace')
  t.equal(clientIdRefusal(k1, 'pi-a', false), 'persistent_outside_namespace', 'nobody owns a persistent session outside the namespaces')
})

t.test('another kiosk and an operator cannot take over a kiosk\'s client id; the victim keeps its replies', async (t) => {
  const h = await startBroker(t)
  const watcher = await connectClient(t, h.port, { clientId: 'operator-ops/watch', username: 'operator:ops', password: 'ops-token-123' })
  const alerts: Array<{ kind: string; message: string; kiosk?: string }> = []
  watcher.on('message', (topic, payload) => {
    if (topic === topics.event('alert')) alerts.push(JSON.parse(payload.toString('utf8')))
  })
  await watcher.subscribeAsync(topics.event('alert'), { qos: 1 })

  const victim = await connectClient(t, h.port, { clientId: 'kiosk-k1', clean: false, username: 'k1', password: 'token-k1' })
  let victimClosed = false
  victim.on('close', () => (victimClosed = true))
  await victim.subscribeAsync(topics.kioskReply('k1'), { qos: 1 })

  const fromKiosk = await refusedConnect(h.port, { clientId: 'kiosk-k1', clean: false, username: 'k2', password: 'token-k2' })
  t.equal(fromKiosk.code, 2, 'another kiosk: identifier rejected')
  const fromOperator = await refusedConnect(h.port, { clientId: 'kiosk-k1', clean: false, username: 'operator:ops', password: 'ops-token-123' })
  t.equal(fromOperator.code, 2, 'an operator: identifier rejected')

  const reply = nextMessage(victim)
  await h.broker.publish(topics.kioskReply('k1'), '{"for":"k1","n":1}', { qos: 1 })
  t.equal((await reply).payload, '{"for":"k1","n":1}', 'the victim still receives its reply')
  t.notOk(victimClosed, 'the victim was never kicked off')

  // The victim goes away; its persistent session holds the next reply. The attacker tries again.
  await victim.endAsync()
  await h.broker.publish(topics.kioskReply('k1'), '{"for":"k1","n":2}', { qos: 1 })
  const attacker = new MqttClient(() => netConnect(h.port, '127.0.0.1'), { protocol: 'mqtt', protocolVersion: 4, clientId: 'kiosk-k1', clean: false, username: 'k2', password: 'token-k2', reconnectPeriod: 0 })
  const stolen: string[] = []
  attacker.on('message', (_topic, payload) => stolen.push(payload.toString('utf8')))
  const attackerError = await new Promise<Error & { code?: number }>((resolve) => attacker.once('error', resolve))
  attacker.end(true)
  t.equal(attackerError.code, 2)

  const back = await connectClient(t, h.port, { clientId: 'kiosk-k1', clean: false, username: 'k1', password: 'token-k1' })
  const queued = await nextMessage(back)
  t.equal(queued.payload, '{"for":"k1","n":2}', 'the queued reply waited for the victim')
  t.same(stolen, [], 'the attacker never received a reply')

  t.equal(h.broker.counters().clientIdRefusals, 3)
  await waitFor(() => alerts.length === 3, 'three alerts')
  t.same(alerts.map((a) => a.kind), ['mqtt_client_id_refused', 'mqtt_client_id_refused', 'mqtt_client_id_refused'])
  t.equal(alerts[0]!.kiosk, 'k2', 'the alert names the kiosk whose account tried it')
  t.match(alerts[1]!.message, /operator ops .*kiosk-k1/)
})

t.test('a clean session cannot kick another account\'s live connection off a free-form id', async (t) => {
  const h = await startBroker(t)
  const holder = await connectClient(t, h.port, { clientId: 'pi-a', username: 'k1', password: 'token-k1' })
  let holderClosed = false
  holder.on('close', () => (holderClosed = true))
  const err = await refusedConnect(h.port, { clientId: 'pi-a', username: 'k2', password: 'token-k2' })
  t.equal(err.code, 2)
  t.equal(h.broker.counters().clientIdRefusals, 1)
  await holder.publishAsync(topics.kioskTx('k1'), '{"still":"here"}', { qos: 1 })
  t.notOk(holderClosed)

  // Once the holder is gone the id is free again (a clean session carries nothing over).
  const gone = closed(holder)
  await holder.endAsync()
  await gone
  await waitFor(() => h.broker.counters().connectedClients === 0, 'the holder to be gone')
  const next = await connectClient(t, h.port, { clientId: 'pi-a', username: 'k2', password: 'token-k2' })
  t.ok(next.connected)
})

// ---------------------------------------------------------------------------
// Wrong credentials (issue 9, point 6)

t.test('1,000 wrong passwords from one address: only 5 are checked; a kiosk elsewhere still connects', async (t) => {
  let nowMs = 1_700_000_000_000
  let checks = 0
  const h = await startBroker(t, {
    clock: { now: () => nowMs },
    authenticate: (username, password) => {
      checks++
      return authenticate(username, password)
    },
  })
  const codes = new Map<number | undefined, number>()
  const ATTEMPTS = 1_000
  const PARALLEL = 20
  for (let i = 0; i < ATTEMPTS; i += PARALLEL) {
    const batch = Array.from({ length: PARALLEL }, (_, j) => refusedConnect(h.port, { clientId: `guess-${i + j}`, username: 'k1', password: `guess-${i + j}` }))
    for (const err of await Promise.all(batch)) codes.set(err.code, (codes.get(err.code) ?? 0) + 1)
  }
  t.equal(checks, DEFAULT_BROKER_LIMITS.loginFailuresBeforeBlock, 'the password was looked at 5 times')
  t.same([...codes.entries()].sort(), [[4, 5], [5, 995]], '5 bad passwords, then 995 refused unchecked')
  const counters = h.broker.counters()
  t.equal(counters.authFailures, ATTEMPTS)
  t.equal(counters.authThrottled, ATTEMPTS - 5)
  t.equal(counters.loginBlocks, 1)

  const elsewhere = await connectFrom(h.port, '127.0.0.2', { clientId: 'kiosk-k2', username: 'k2', password: 'token-k2' })
  t.teardown(() => elsewhere.endAsync(true))
  t.ok(elsewhere.connected, 'a kiosk from another address connects')

  const sameAddress = await refusedConnect(h.port, { username: 'k1', password: 'token-k1' })
  t.equal(sameAddress.code, 5, 'the right password from the blocked address waits too (the block is per address)')
  t.equal(checks, 6, 'only the kiosk from the other address was checked')

  nowMs += DEFAULT_BROKER_LIMITS.loginBlockBaseMs
  const afterBlock = await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })
  t.ok(afterBlock.connected, 'after the first block (1 s) the address is checked again')

  // A good login does not wipe the record: the next failure blocks again, twice as long.
  t.equal((await refusedConnect(h.port, { username: 'k1', password: 'wrong' })).code, 4)
  nowMs += DEFAULT_BROKER_LIMITS.loginBlockBaseMs
  t.equal((await refusedConnect(h.port, { username: 'k1', password: 'token-k1' })).code, 5, 'still blocked after 1 s')
  nowMs += DEFAULT_BROKER_LIMITS.loginBlockBaseMs
  t.ok((await connectClient(t, h.port, { username: 'k1', password: 'token-k1' })).connected, 'free after 2 s')
})

t.test('client id takeover attempts count as failed logins of their address', async (t) => {
  const h = await startBroker(t, { clock: { now: () => 0 } })
  for (let i = 0; i < DEFAULT_BROKER_LIMITS.loginFailuresBeforeBlock; i++) {
    t.equal((await refusedConnect(h.port, { clientId: 'kiosk-k1', username: 'k2', password: 'token-k2' })).code, 2)
  }
  t.equal((await refusedConnect(h.port, { clientId: 'kiosk-k1', username: 'k2', password: 'token-k2' })).code, 5, 'then the address is blocked')
  t.equal(h.broker.counters().clientIdRefusals, DEFAULT_BROKER_LIMITS.loginFailuresBeforeBlock, 'which also bounds the alerts')
})

// ---------------------------------------------------------------------------
// Connection exhaustion (issue 9, point 7)

t.test('a connection that never sends CONNECT is closed after connectTimeoutMs', async (t) => {
  const h = await startBroker(t, { limits: { connectTimeoutMs: 100 } })
  const socket = await idleSocket(h.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve))
  t.equal(h.broker.counters().connectTimeouts, 1)
  await waitFor(() => h.broker.counters().pendingConnections === 0, 'the broker side of the socket to close')
})

t.test('2,100 connections that never send CONNECT do not keep a kiosk out', async (t) => {
  // Defaults: 2,000 connections, 200 kept for kiosks, 32 per address. The idle connections come
  // from 70 loopback addresses (30 each, under the per-address share) and would stay for a
  // minute: only making room, not the CONNECT timer, lets the kiosk in.
  const h = await startBroker(t, { limits: { connectTimeoutMs: 60_000 } })
  const sockets: Socket[] = []
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
  })
  const IDLE = 2_100
  const ADDRESSES = 70
  for (let i = 0; i < IDLE; i += 100) {
    const batch = Array.from({ length: 100 }, (_, j) => idleSocket(h.port, `127.0.1.${((i + j) % ADDRESSES) + 1}`))
    sockets.push(...(await Promise.all(batch)))
  }
  // Accepts are taken from the listen backlog in order: the kiosk comes after all 2,100.
  const kiosk = await connectClient(t, h.port, { clientId: 'kiosk-k1', clean: false, username: 'k1', password: 'token-k1' })
  await kiosk.publishAsync(topics.kioskTx('k1'), '{"sale":1}', { qos: 1 })
  await waitFor(() => h.received.length === 1, 'the tx')
  t.same(h.received, [{ kioskId: 'k1', payload: '{"sale":1}' }], 'the kiosk connected and sells')

  const seen = () => {
    const c = h.broker.counters()
    return c.pendingConnections + c.connectionsEvicted + c.connectionsRefused
  }
  const unreserved = DEFAULT_BROKER_LIMITS.maxConnections - DEFAULT_BROKER_LIMITS.reservedKioskConnections
  t.equal(seen(), IDLE, 'the broker saw every idle connection')
  t.equal(h.broker.counters().pendingConnections, unreserved - 1, 'idle connections hold only the unreserved part (1,800), less the slot the kiosk took and left')
  t.equal(h.broker.counters().connectionsEvicted, IDLE - unreserved + 1, 'the 300 beyond it, and the kiosk, each made room by closing the oldest')
  t.equal(h.broker.counters().connectionsRefused, 0)

  // More idle connections do not touch the authenticated kiosk.
  for (let i = 0; i < 100; i++) sockets.push(await idleSocket(h.port, `127.0.2.${(i % 50) + 1}`))
  await waitFor(() => seen() === IDLE + 100, 'the broker to see the next idle connections')
  t.ok(kiosk.connected, 'the kiosk stays connected')
  await kiosk.publishAsync(topics.kioskTx('k1'), '{"sale":2}', { qos: 1 })
  await waitFor(() => h.received.length === 2, 'the second tx')
})

t.test('one address holds at most its share of waiting connections; a kiosk behind it still gets in', async (t) => {
  const h = await startBroker(t, { limits: { connectTimeoutMs: 60_000 } })
  const sockets: Socket[] = []
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
  })
  for (let i = 0; i < 40; i++) sockets.push(await idleSocket(h.port, '127.0.0.5'))
  await waitFor(() => h.broker.counters().pendingConnections + h.broker.counters().connectionsEvicted === 40, 'all 40')
  t.equal(h.broker.counters().pendingConnections, DEFAULT_BROKER_LIMITS.maxConnectionsPerAddress)
  t.equal(h.broker.counters().connectionsEvicted, 40 - DEFAULT_BROKER_LIMITS.maxConnectionsPerAddress)
  await waitFor(() => sockets.filter((s) => s.closed).length === 40 - DEFAULT_BROKER_LIMITS.maxConnectionsPerAddress, 'the evicted ones to close')
  t.ok(sockets.slice(0, 8).every((s) => s.closed), 'the 8 oldest were the ones closed')
  const kiosk = await connectFrom(h.port, '127.0.0.5', { clientId: 'kiosk-k1', username: 'k1', password: 'token-k1' })
  t.teardown(() => kiosk.endAsync(true))
  t.ok(kiosk.connected)
})

t.test('limits that cannot work are refused when the broker is made', async (t) => {
  await t.rejects(createBroker({ authenticate, logger, limits: { maxConnections: 100, reservedKioskConnections: 99 } }), /reservedKioskConnections \(99\) must leave at least 2/)
  await t.rejects(createBroker({ authenticate, logger, limits: { loginBlockBaseMs: 10_000, loginBlockMaxMs: 1_000 } }), /loginBlockBaseMs/)
  await t.rejects(createBroker({ authenticate, logger, limits: { connectTimeoutMs: Number.NaN } }), /connectTimeoutMs must be a whole number/)
  await t.rejects(createBroker({ authenticate, logger, limits: { maxConnectionsPerAddress: 1 } }), /maxConnectionsPerAddress must be at least 2/)
  // A config section passes its host and port along; they are not limits.
  const broker = await createBroker({ authenticate, logger, limits: { host: '127.0.0.1', port: 1883, connectTimeoutMs: undefined } as Partial<BrokerLimits> })
  await broker.close()
})

t.test('operators cannot fill the slots that let a kiosk in', async (t) => {
  // 10 connections, 4 kept for kiosks: operators get at most 5 (one slot short of the unreserved 6).
  const h = await startBroker(t, { limits: { maxConnections: 10, reservedKioskConnections: 4, maxConnectionsPerAddress: 100, connectTimeoutMs: 60_000 } })
  for (let i = 0; i < 5; i++) await connectClient(t, h.port, { clientId: `operator-ops/${i}`, username: 'operator:ops', password: 'ops-token-123' })
  const sixth = await refusedConnect(h.port, { clientId: 'operator-ops/5', username: 'operator:ops', password: 'ops-token-123' })
  t.equal(sixth.code, 3, 'server unavailable')
  const sockets: Socket[] = []
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
  })
  for (let i = 0; i < 10; i++) sockets.push(await idleSocket(h.port, '127.0.0.1'))
  const k1 = await connectClient(t, h.port, { clientId: 'kiosk-k1', username: 'k1', password: 'token-k1' })
  const k2 = await connectClient(t, h.port, { clientId: 'kiosk-k2', username: 'k2', password: 'token-k2' })
  t.ok(k1.connected && k2.connected, 'both kiosks got in')
  t.equal(h.broker.counters().connectionsRefused, 1, 'only the sixth operator was refused')
})

// ---------------------------------------------------------------------------
// Remote commands (README "Remote commands"): only admin operators (and the gateway) command kiosks.

const ADMIN: Principal = { role: 'operator', name: 'root', admin: true }

t.test('ACL of remote commands: admin operators send commands and read answers, kiosks only their own', async (t) => {
  const k1: Principal = { role: 'kiosk', kioskId: 'k1' }
  const readOnly: Principal = { role: 'operator', name: 'ops' }
  t.ok(mayPublish(ADMIN, topics.kioskCmd('k1')))
  t.ok(mayPublish(ADMIN, topics.kioskCmd('k2')), 'any kiosk')
  t.notOk(mayPublish(ADMIN, topics.kioskCmdAnswer('k1')), 'an admin cannot forge answers')
  t.notOk(mayPublish(ADMIN, topics.kioskTx('k1')))
  t.notOk(mayPublish(ADMIN, topics.kioskConfig('k1')))
  t.notOk(mayPublish(ADMIN, 'wristpay/v1/kiosk/k1/cmd/x'))
  t.ok(maySubscribe(ADMIN, topics.allKioskCmdAnswers))
  t.ok(maySubscribe(ADMIN, topics.kioskCmdAnswer('k1')))
  t.ok(maySubscribe(ADMIN, topics.allKioskState), 'and everything a read-only operator reads')
  t.notOk(maySubscribe(ADMIN, 'wristpay/v1/kiosk/#'))
  t.notOk(maySubscribe(ADMIN, topics.allKioskTx))

  t.notOk(mayPublish(readOnly, topics.kioskCmd('k1')), 'a read-only operator sends no command')
  t.notOk(maySubscribe(readOnly, topics.allKioskCmdAnswers), 'nor reads answers')
  t.notOk(maySubscribe(readOnly, topics.kioskCmdAnswer('k1')))
  t.notOk(mayPublish({ role: 'operator', name: 'x', admin: false }, topics.kioskCmd('k1')))

  t.ok(maySubscribe(k1, topics.kioskCmd('k1')), 'a kiosk reads its own commands')
  t.notOk(maySubscribe(k1, topics.kioskCmd('k2')))
  t.notOk(maySubscribe(k1, 'wristpay/v1/kiosk/+/cmd'))
  t.ok(mayPublish(k1, topics.kioskCmdAnswer('k1')), 'and answers them')
  t.notOk(mayPublish(k1, topics.kioskCmdAnswer('k2')))
  t.notOk(mayPublish(k1, topics.kioskCmd('k1')), 'a kiosk cannot command itself')
  t.notOk(mayPublish(k1, topics.kioskCmd('k2')), 'nor another kiosk')
  t.notOk(maySubscribe(k1, topics.kioskCmdAnswer('k1')))

  t.ok(mayPublish({ role: 'gateway' }, topics.kioskCmd('k1')))
})

t.test('over sockets: a stranger, a read-only operator and another kiosk cannot send a command; an admin can, in their own name only', async (t) => {
  const answers: Array<{ kioskId: string; payload: string }> = []
  const accounts: Record<string, { password: string; principal: Principal }> = { ...ACCOUNTS, 'operator:root': { password: 'root-token-123', principal: ADMIN } }
  const logged: Array<Record<string, unknown>> = []
  const broker = await createBroker({
    authenticate: (username, password) => {
      const account = username === undefined ? undefined : accounts[username]
      return account && account.password === password ? account.principal : null
    },
    logger: pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) }),
    onKioskCommandAnswer: (kioskId, payload) => answers.push({ kioskId, payload: payload.toString('utf8') }),
  })
  const { port } = await broker.listen('127.0.0.1', 0)
  t.teardown(() => broker.close())
  const command = (by: string) => JSON.stringify({ v: 1, id: '0190a3f1-0000-7000-8000-000000000001', kiosk: 'k1', command: 'lock', by, issuedAt: 1, expiresAt: 2 })

  const k1 = await connectClient(t, port, { username: 'k1', password: 'token-k1' })
  t.same(await subscribeGranted(k1, topics.kioskCmd('k1')), [1])
  const received: string[] = []
  k1.on('message', (topic, payload) => received.push(`${topic} ${payload.toString('utf8')}`))

  t.ok((await refusedConnect(port, { username: 'stranger', password: 'guess' })) instanceof Error, 'a stranger is not even let in')

  const ops = await connectClient(t, port, { username: 'operator:ops', password: 'ops-token-123' })
  const opsGone = closed(ops)
  ops.publish(topics.kioskCmd('k1'), command('ops'), { qos: 1 })
  await opsGone
  t.same(await subscribeGranted(await connectClient(t, port, { username: 'operator:ops', password: 'ops-token-123', clientId: 'operator-ops/2' }), topics.allKioskCmdAnswers), [128], 'a read-only operator reads no answers')

  const k2 = await connectClient(t, port, { username: 'k2', password: 'token-k2' })
  const k2Gone = closed(k2)
  k2.publish(topics.kioskCmd('k1'), command('k2'), { qos: 1 })
  await k2Gone
  t.equal(broker.counters().deniedPublishes, 2)

  const admin = await connectClient(t, port, { username: 'operator:root', password: 'root-token-123' })
  t.same(await subscribeGranted(admin, topics.allKioskCmdAnswers), [1])
  await admin.publishAsync(topics.kioskCmd('k1'), command('root'), { qos: 1, retain: true })
  await waitFor(() => received.length === 1, 'the admin command at the kiosk')
  t.same(received, [`${topics.kioskCmd('k1')} ${command('root')}`], 'only the admin\'s command reached the kiosk')
  t.ok(logged.some((l) => l.operator === 'root' && l.command === 'lock' && l.kiosk === 'k1'), 'the command is logged with who sent it')

  // The answer reaches the gateway's hook and the admin.
  const answerAtAdmin = nextMessage(admin)
  const answer = JSON.stringify({ v: 1, id: '0190a3f1-0000-7000-8000-000000000001', kiosk: 'k1', status: 'done', at: 3 })
  await k1.publishAsync(topics.kioskCmdAnswer('k1'), answer, { qos: 1 })
  t.same(await answerAtAdmin, { topic: topics.kioskCmdAnswer('k1'), payload: answer, retain: false })
  await waitFor(() => answers.length === 1, 'the answer at the hook')
  t.same(answers, [{ kioskId: 'k1', payload: answer }])

  // An admin cannot send a command in another operator's name (nor a malformed one).
  const adminGone = closed(admin)
  admin.publish(topics.kioskCmd('k1'), command('ops'), { qos: 1 })
  await adminGone
  t.equal(broker.counters().deniedPublishes, 3)
  t.equal(received.length, 1, 'nothing more reached the kiosk')

  // The command was not retained: a new session of the kiosk gets nothing.
  const k1Again = await connectClient(t, port, { username: 'k1', password: 'token-k1', clientId: 'kiosk-k1/2' })
  const late: string[] = []
  k1Again.on('message', (topic) => late.push(topic))
  await k1Again.subscribeAsync(topics.kioskCmd('k1'), { qos: 1 })
  await k1Again.subscribeAsync(topics.kioskCmd('k1'), { qos: 1 }) // a round trip after the retained message would have come
  t.same(late, [], 'no retained command')
})

t.test("a kiosk transaction's PUBACK waits for the gateway's answer to the kiosk and leaves with it", async (t) => {
  const received: string[] = []
  // A hold far longer than the test: only the answer can release the PUBACK.
  const broker = await createBroker({ authenticate, logger, ackHoldMs: 600_000, onKioskTx: (_kioskId, payload) => received.push(payload.toString('utf8')) })
  const { port } = await broker.listen('127.0.0.1', 0)
  t.teardown(() => broker.close())
  const kiosk = await connectClient(t, port, { username: 'k1', password: 'token-k1', clientId: 'kiosk-k1' })
  await kiosk.subscribeAsync(topics.kioskReply('k1'), { qos: 1 })
  const answers: string[] = []
  kiosk.on('message', (_topic, payload) => answers.push(payload.toString('utf8')))
  let acknowledged = false
  const acknowledgement = kiosk.publishAsync(topics.kioskTx('k1'), '{"tx":1}', { qos: 1 }).then(() => (acknowledged = true))
  while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  // Whatever aedes does with the PUBACK happens within a few turns of the event loop; give it many.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(acknowledged, false, 'no PUBACK before the answer')
  await broker.publish(topics.kioskReply('k1'), '{"answer":1}', { qos: 1 })
  await acknowledgement
  while (answers.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same(answers, ['{"answer":1}'])
  t.same(received, ['{"tx":1}'])
})

t.test('a kiosk transaction that gets no answer is still acknowledged; another kiosk is not held by it', async (t) => {
  const broker = await createBroker({ authenticate, logger, ackHoldMs: 20, onKioskTx: () => {} })
  const { port } = await broker.listen('127.0.0.1', 0)
  t.teardown(() => broker.close())
  const k1 = await connectClient(t, port, { username: 'k1', password: 'token-k1', clientId: 'kiosk-k1' })
  const k2 = await connectClient(t, port, { username: 'k2', password: 'token-k2', clientId: 'kiosk-k2' })
  await k2.subscribeAsync(topics.kioskReply('k2'), { qos: 1 })
  const answers: string[] = []
  k2.on('message', (_topic, payload) => answers.push(payload.toString('utf8')))
  // k1's transaction is never answered (a refusal without an id, a drop): its PUBACK goes out after the hold.
  await k1.publishAsync(topics.kioskTx('k1'), '{"tx":1}', { qos: 1 })
  await k1.publishAsync(topics.kioskTx('k1'), '{"tx":2}', { qos: 1 })
  await broker.publish(topics.kioskReply('k2'), '{"answer":"k2"}', { qos: 1 })
  while (answers.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same(answers, ['{"answer":"k2"}'])
})

t.test('a kiosk that connects again while its old connection holds a PUBACK gets its transactions acknowledged', async (t) => {
  const received: string[] = []
  const broker = await createBroker({ authenticate, logger, ackHoldMs: 600_000, onKioskTx: (_kioskId, payload) => received.push(payload.toString('utf8')) })
  const { port } = await broker.listen('127.0.0.1', 0)
  t.teardown(() => broker.close())
  const first = await connectClient(t, port, { username: 'k1', password: 'token-k1', clientId: 'kiosk-k1' })
  void first.publishAsync(topics.kioskTx('k1'), '{"tx":1}', { qos: 1 }).catch(() => {})
  while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  const second = await connectClient(t, port, { username: 'k1', password: 'token-k1', clientId: 'kiosk-k1' })
  await second.subscribeAsync(topics.kioskReply('k1'), { qos: 1 })
  const acknowledgement = second.publishAsync(topics.kioskTx('k1'), '{"tx":2}', { qos: 1 })
  while (received.length < 2) await new Promise((resolve) => setTimeout(resolve, 5))
  await broker.publish(topics.kioskReply('k1'), '{"answer":2}', { qos: 1 })
  await acknowledgement
  t.same(received, ['{"tx":1}', '{"tx":2}'])
})

t.test('mayHaveReaders: events have readers only while an operator is connected; kiosk topics always may', async (t) => {
  const { broker, port } = await startBroker(t)
  await connectClient(t, port, { username: 'k1', password: 'token-k1', clientId: 'kiosk-k1' })
  t.equal(broker.mayHaveReaders?.(topics.event('booked')), false, 'a kiosk cannot read events')
  t.equal(broker.mayHaveReaders?.(topics.kioskReply('k1')), true)
  t.equal(broker.mayHaveReaders?.(topics.kioskConfig('k2')), true, 'kiosk topics are never ruled out')
  const operator = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, username: 'operator:ops', password: 'ops-token-123', clientId: 'operator-ops' })
  t.equal(broker.mayHaveReaders?.(topics.event('booked')), true, 'an operator may subscribe to events')
  await operator.endAsync(true)
  while (broker.mayHaveReaders?.(topics.event('booked')) !== false) await new Promise((resolve) => setTimeout(resolve, 5))
  t.pass('none once the operator has left')
})
