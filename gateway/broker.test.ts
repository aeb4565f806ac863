import t, { type Test } from 'tap'
import { connect as netConnect } from 'node:net'
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt'
import { pino } from 'pino'
import { topics } from '../device-protocol/index.js'
import { createBroker, createFrameSizeGuard, filterWithin, mayPublish, maySubscribe, type Broker, type Principal } from './broker.js'

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

async function startBroker(t: Test, extra: { maxPacketBytes?: number; authenticate?: typeof authenticate } = {}): Promise<Harness> {
  const received: Harness['received'] = []
  const broker = await createBroker({
    authenticate: extra.authenticate ?? authenticate,
    logger,
    maxPacketBytes: extra.maxPacketBytes,
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

/** Polls a condition a bounded number of times (handlers run asynchronously after the PUBACK). */
async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`gave up waiting for ${what}`)
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
