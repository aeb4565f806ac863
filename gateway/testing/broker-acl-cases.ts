// Test code only: the ACL cases that every broker the gateway can use must
// pass, the embedded aedes (broker-acl.test.ts) and an external Mosquitto with
// the rules the gateway provisions (external-broker.test.ts). Each case says
// what a client sees, not how a broker refuses: aedes closes a connection that
// publishes outside its topics, Mosquitto drops the message and goes on; aedes
// answers a wrong password with code 4, Mosquitto with 5.
import type { Test } from 'tap'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { topics } from '../../device-protocol/index.js'

/** Kiosks of every world: k3 is the one revoked by the last case. */
export const ACL_KIOSKS = ['k1', 'k2', 'k3'] as const
export type AclKiosk = (typeof ACL_KIOSKS)[number]

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

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`gave up waiting for ${what}`)
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
}
