// Test code only: the ACL cases that every broker the gateway can use must
// pass, the embedded aedes (broker-acl.test.ts) and an external Mosquitto with
// the rules the gateway provisions (external-broker.test.ts). Each case says
// what a client sees, not how a broker refuses: aedes closes a connection that
// publishes outside its topics, Mosquitto drops the message and goes on; aedes
// answers a wrong password with code 4, Mosquitto with 5.
import type { Test } from 'tap'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { topics } from '../../device-protocol/index.js'
import { waitFor } from './wait.js'

/** Kiosks of every world: k3 is the one revoked by the last case. */
export const ACL_KIOSKS = ['k1', 'k2', 'k3'] as const
export type AclKiosk = (typeof ACL_KIOSKS)[number]

/** The operator accounts of every world (config operators): one read-only, one with the admin role. */
export const ACL_OPERATORS = { reader: { name: 'acl-reader', token: 'token-of-the-reader-0123' }, admin: { name: 'acl-admin', token: 'token-of-the-admin-0123' } } as const

export interface AclWorld {
  /** Where kiosks connect. */
  url: string
  tokens: Record<AclKiosk, string>
  /** What reached the gateway from kiosks: tx and state messages, with the kiosk the broker said sent them. */
  received: Array<{ kind: 'tx' | 'state'; kioskId: string; payload: string }>
  /** The gateway publishing (replies, configs, commands). */
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void>
  /** Takes the kiosk out (retired): its credentials must stop working, its live connection must end. */
  revoke(kioskId: AclKiosk): Promise<void>
}

const clientOptions = (kioskId: string, token: string): IClientOptions => ({ clientId: `kiosk-${kioskId}`, username: kioskId, password: token, clean: true })
/** As the monitor and the console log in: username operator:{name}, a client id in the operator's own namespace with a suffix. */
const operatorOptions = (operator: { name: string; token: string }, suffix: string): IClientOptions => ({ clientId: `operator-${operator.name}/${suffix}`, username: `operator:${operator.name}`, password: operator.token, clean: true })

async function connect(t: Test, url: string, options: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4, ...options })
  client.on('error', () => {})
  t.teardown(() => client.endAsync(true))
  return client
}

/** The CONNACK code of a refused login; fails the caller if the login was accepted. */
async function refusedCode(url: string, options: IClientOptions): Promise<number | undefined> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4, ...options })
    await client.endAsync(true)
  } catch (err) {
    return (err as { code?: number }).code
  }
  throw new Error(`login accepted: ${String(options.username)}`)
}

/** Publishes and resolves once the broker acknowledged it or closed the connection (either ends the attempt). */
function attemptPublish(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve()
    const onClose = () => resolve()
    client.once('close', onClose)
    client.publish(topic, payload, { qos: 1 }, () => {
      client.off('close', onClose)
      resolve()
    })
  })
}

async function granted(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos)
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (!packet?.granted) throw err
    return packet.granted
  }
}

const REFUSED = [4, 5] // bad username or password (aedes), not authorized (Mosquitto)

export function runBrokerAclCases(t: Test, world: () => AclWorld): void {
  t.test('anonymous clients, wrong and missing passwords, unknown users and another kiosk\'s token are refused', async (t) => {
    const w = world()
    t.equal(await refusedCode(w.url, { clientId: 'anon' }), 5, 'anonymous: not authorized')
    t.ok(REFUSED.includes((await refusedCode(w.url, clientOptions('k1', 'not-the-token')))!), 'wrong password')
    t.ok(REFUSED.includes((await refusedCode(w.url, { clientId: 'kiosk-k1', username: 'k1' }))!), 'no password')
    t.ok(REFUSED.includes((await refusedCode(w.url, clientOptions('k9', w.tokens.k1)))!), 'unknown user')
    t.ok(REFUSED.includes((await refusedCode(w.url, clientOptions('k1', w.tokens.k2)))!), 'another kiosk\'s token')
  })

  t.test('a kiosk\'s tx on its own topic reaches the gateway as that kiosk\'s', async (t) => {
    const w = world()
    const k1 = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
    await k1.publishAsync(topics.kioskTx('k1'), 'own-tx-k1', { qos: 1 })
    await waitFor(() => w.received.some((r) => r.payload === 'own-tx-k1'), 'the tx at the gateway')
    t.same(w.received.filter((r) => r.payload === 'own-tx-k1'), [{ kind: 'tx', kioskId: 'k1', payload: 'own-tx-k1' }])
    await k1.endAsync()
  })

  t.test('a kiosk cannot publish another kiosk\'s tx or state', async (t) => {
    const w = world()
    const k1 = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
    await attemptPublish(k1, topics.kioskTx('k2'), 'forged-tx')
    if (k1.connected) await attemptPublish(k1, topics.kioskState('k2'), JSON.stringify({ kiosk: 'k2', status: 'online', at: 1, forged: true }))
    else {
      const again = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
      await attemptPublish(again, topics.kioskState('k2'), JSON.stringify({ kiosk: 'k2', status: 'online', at: 1, forged: true }))
    }
    // k2's own message after the forgeries: once it is through, the forgeries would have been too.
    const k2 = await connect(t, w.url, clientOptions('k2', w.tokens.k2))
    await k2.publishAsync(topics.kioskTx('k2'), 'barrier-k2', { qos: 1 })
    await waitFor(() => w.received.some((r) => r.payload === 'barrier-k2'), 'k2\'s own tx')
    t.same(
      w.received.filter((r) => r.payload.includes('forged')),
      [],
      'neither forgery reached the gateway',
    )
    await k2.endAsync()
  })

  t.test('a kiosk cannot read another kiosk\'s reply, config or commands', async (t) => {
    const w = world()
    await w.publish(topics.kioskConfig('k2'), '{"config":"k2"}', { qos: 1, retain: true })
    const k1 = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
    const seen: string[] = []
    k1.on('message', (topic) => seen.push(topic))
    t.same(await granted(k1, [topics.kioskReply('k2'), topics.kioskConfig('k2'), topics.kioskCmd('k2'), 'wristpay/v1/kiosk/+/reply', '#']), [128, 128, 128, 128, 128], 'every foreign subscription refused')
    t.same(await granted(k1, [topics.kioskReply('k1'), topics.kioskConfig('k1'), topics.kioskCmd('k1')]), [1, 1, 1], 'its own are granted')
    await w.publish(topics.kioskReply('k2'), '{"for":"k2"}', { qos: 1 })
    await w.publish(topics.kioskCmd('k2'), '{"for":"k2"}', { qos: 1 })
    await w.publish(topics.kioskReply('k1'), '{"for":"k1"}', { qos: 1 })
    await waitFor(() => seen.includes(topics.kioskReply('k1')), 'k1\'s own reply')
    t.same(seen, [topics.kioskReply('k1')], 'only its own reply arrived, nothing of k2')
    await k1.endAsync()
  })

  t.test('a revoked kiosk is disconnected and its credentials stop working', async (t) => {
    const w = world()
    const k3 = await connect(t, w.url, clientOptions('k3', w.tokens.k3))
    const gone = new Promise<void>((resolve) => k3.once('close', () => resolve()))
    await w.revoke('k3')
    await gone
    t.ok(REFUSED.includes((await refusedCode(w.url, clientOptions('k3', w.tokens.k3)))!), 'its token no longer logs in')
    const k1 = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
    t.ok(k1.connected, 'the other kiosks still log in')
    await k1.endAsync()
  })

  t.test('an operator reads kiosk states, the gateway\'s state and the events, and nothing else', async (t) => {
    const w = world()
    const reader = await connect(t, w.url, operatorOptions(ACL_OPERATORS.reader, 'reads'))
    const seen: string[] = []
    reader.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString('utf8')}`))
    t.same(await granted(reader, [topics.allKioskState, topics.gatewayState, topics.allEvents]), [1, 1, 1], 'states and events granted')
    t.same(
      await granted(reader, [topics.kioskTx('k1'), topics.kioskReply('k1'), topics.kioskConfig('k1'), topics.kioskCmd('k1'), topics.kioskQuery('k1'), topics.allKioskCmdAnswers, 'wristpay/v1/kiosk/#', '#']),
      [128, 128, 128, 128, 128, 128, 128, 128],
      'transactions, replies, configs, commands, queries, command answers and wider filters refused',
    )
    const k1 = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
    await k1.publishAsync(topics.kioskState('k1'), '{"kiosk":"k1","for":"operators"}', { qos: 1 })
    await w.publish(topics.gatewayState, '{"for":"operators"}', { qos: 1 })
    await w.publish(topics.event('alert'), '{"for":"operators"}', { qos: 1 })
    await w.publish(topics.kioskReply('k1'), '{"for":"k1 only"}', { qos: 1 })
    await waitFor(() => seen.length >= 3, 'the state, the gateway state and the alert at the operator')
    t.same(
      [...seen].sort(),
      [`${topics.event('alert')} {"for":"operators"}`, `${topics.gatewayState} {"for":"operators"}`, `${topics.kioskState('k1')} {"kiosk":"k1","for":"operators"}`],
      'exactly those three arrived',
    )
    await k1.endAsync()
  })

  t.test('an operator publishes nothing: no transaction, state or command of a kiosk, no gateway state', async (t) => {
    const w = world()
    const k1 = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
    const atKiosk: string[] = []
    k1.on('message', (topic, payload) => atKiosk.push(`${topic} ${payload.toString('utf8')}`))
    await k1.subscribeAsync([topics.kioskCmd('k1'), topics.kioskReply('k1')], { qos: 1 })
    const watcher = await connect(t, w.url, operatorOptions(ACL_OPERATORS.admin, 'watches'))
    const atOperators: string[] = []
    watcher.on('message', (topic, payload) => atOperators.push(`${topic} ${payload.toString('utf8')}`))
    await watcher.subscribeAsync([topics.gatewayState, topics.allKioskState], { qos: 1 })
    const command = (by: string) => JSON.stringify({ v: 1, id: `forged-by-${by}`, kiosk: 'k1', command: 'lock', by, issuedAt: 1, expiresAt: 4_102_444_800_000 })
    // One connection per attempt: the embedded broker closes a connection that publishes outside its topics.
    const forgeries: Array<[string, string]> = [
      [topics.kioskTx('k1'), 'forged-tx-by-operator'],
      [topics.kioskState('k1'), '{"kiosk":"k1","forged":"by-operator"}'],
      [topics.kioskReply('k1'), '{"forged":"reply-by-operator"}'],
      [topics.kioskCmd('k1'), command(ACL_OPERATORS.reader.name)],
      [topics.gatewayState, '{"forged":"gateway-state-by-operator"}'],
    ]
    for (const [i, [topic, payload]] of forgeries.entries()) {
      const reader = await connect(t, w.url, operatorOptions(ACL_OPERATORS.reader, `forges-${i}`))
      await attemptPublish(reader, topic, payload)
      await reader.endAsync(true)
    }
    // After the forgeries: once these are through, the forgeries would have been too.
    await k1.publishAsync(topics.kioskTx('k1'), 'barrier-after-operator', { qos: 1 })
    await w.publish(topics.kioskReply('k1'), '{"barrier":"reply"}', { qos: 1 })
    await w.publish(topics.gatewayState, '{"barrier":"gateway"}', { qos: 1 })
    await waitFor(() => w.received.some((r) => r.payload === 'barrier-after-operator'), 'k1\'s own tx')
    await waitFor(() => atKiosk.some((m) => m.includes('barrier')) && atOperators.some((m) => m.includes('barrier')), 'the barriers')
    t.same(w.received.filter((r) => r.payload.includes('forged')), [], 'no forged transaction or state reached the gateway')
    t.same(atKiosk.filter((m) => m.includes('forged')), [], 'no forged reply or command reached the kiosk')
    t.same(atOperators.filter((m) => m.includes('forged')), [], 'no forged state reached the operators')
    await k1.endAsync()
  })

  t.test('an admin operator also reads the kiosks\' command answers; wrong or unknown operator logins are refused', async (t) => {
    const w = world()
    const admin = await connect(t, w.url, operatorOptions(ACL_OPERATORS.admin, 'answers'))
    const seen: string[] = []
    admin.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString('utf8')}`))
    t.same(await granted(admin, [topics.allKioskCmdAnswers, topics.allKioskState]), [1, 1])
    t.same(await granted(admin, [topics.kioskReply('k1'), topics.kioskTx('k1'), topics.kioskConfig('k1')]), [128, 128, 128], 'still no replies, transactions or configs')
    const k1 = await connect(t, w.url, clientOptions('k1', w.tokens.k1))
    await k1.publishAsync(topics.kioskCmdAnswer('k1'), '{"answer":"for admins"}', { qos: 1 })
    await waitFor(() => seen.length >= 1, 'the answer at the admin')
    t.same(seen, [`${topics.kioskCmdAnswer('k1')} {"answer":"for admins"}`])
    t.ok(REFUSED.includes((await refusedCode(w.url, { ...operatorOptions(ACL_OPERATORS.reader, 'wrong'), password: 'not-the-operator-token' }))!), 'wrong token')
    t.ok(REFUSED.includes((await refusedCode(w.url, { ...operatorOptions(ACL_OPERATORS.admin, 'other'), password: ACL_OPERATORS.reader.token }))!), 'another operator\'s token')
    t.ok(REFUSED.includes((await refusedCode(w.url, operatorOptions({ name: 'nobody', token: 'token-of-nobody-0123' }, 'x')))!), 'unknown operator')
    await k1.endAsync()
  })
}
