// Lifecycle on MQTT over real sockets: a gateway in-process, kiosks as real
// MQTT clients with their wills (as the kiosk daemon's link makes them), an
// operator reading the retained gateway/state and kiosk states.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { v7 as uuidv7 } from 'uuid'
import { MAX_GATEWAY_STATE_PAYLOAD_BYTES, parseJson, topics, validateGatewayState, validateKioskState, type FleetRow, type GatewayState, type KioskState } from '../../device-protocol/index.js'
import { createGateway, OPERATOR_USERNAME_PREFIX, type Gateway } from '../app.js'
import type { GatewayConfig } from '../config.js'
import { loopbackGatewayConfig } from '../testing/loopback-config.js'
import { waitFor as waitForPolls } from '../testing/wait.js'

const waitFor = (condition: () => boolean | Promise<boolean>, what: string) => waitForPolls(condition, what, { polls: 1000 })

const OPERATOR = { name: 'ops', token: 'operator-token-0123' }
const KIOSKS = ['k-dies', 'k-silent', 'k-stale', 'k-stops', 'k-hostile', 'k-other', 'k-never'] as const
const token = (id: string) => `token-${id}-0123456789`
const EVENT = {
  event: { name: 'Lifecycle Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: KIOSKS.map((id) => ({ id, booth: 'bar', token: token(id), saleAllowed: true, topupAllowed: false })),
  wristbands: [],
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-lifecycle-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function gatewayConfig(dir: string): GatewayConfig {
  return loopbackGatewayConfig(dir, EVENT, {
    adminToken: 'admin-token-for-tests-0123',
    operators: [OPERATOR],
    monitoring: { stateIntervalMs: 500 },
  })
}

/** An operator's view: every gateway/state and kiosk state, each checked against its schema. */
async function watch(t: Test, url: string) {
  const client = await mqtt.connectAsync(url, { username: `${OPERATOR_USERNAME_PREFIX}${OPERATOR.name}`, password: OPERATOR.token, reconnectPeriod: 0 })
  t.teardown(() => client.endAsync(true))
  const gatewayStates: GatewayState[] = []
  const kioskStates: Array<{ kiosk: string; state: KioskState; retain: boolean }> = []
  const invalid: string[] = []
  client.on('message', (topic, payload, packet) => {
    if (topic === topics.gatewayState) {
      const parsed = parseJson(payload, validateGatewayState, MAX_GATEWAY_STATE_PAYLOAD_BYTES)
      if (parsed.ok) gatewayStates.push(parsed.value)
      else invalid.push(`gateway/state: ${parsed.error}`)
      return
    }
    const kiosk = topic.split('/')[3]!
    const parsed = parseJson(payload, validateKioskState)
    if (parsed.ok) kioskStates.push({ kiosk, state: parsed.value, retain: packet.retain })
    else invalid.push(`${topic}: ${parsed.error}`)
  })
  await client.subscribeAsync([topics.gatewayState, topics.allKioskState], { qos: 1 })
  const latest = () => gatewayStates.at(-1)
  return {
    client,
    gatewayStates,
    kioskStates,
    invalid,
    latest,
    row: (kiosk: string): FleetRow | undefined => latest()?.fleet?.find((r) => r.kiosk === kiosk),
  }
}

interface KioskClientOptions {
  bdSeq: number
  keepalive?: number
  clientId?: string
}

/** A kiosk as the daemon's link connects: persistent session, a retained `lost` will with the connection's bdSeq, then its birth. */
async function connectKiosk(t: Test, url: string, kiosk: string, options: KioskClientOptions): Promise<MqttClient> {
  const will = { kiosk, status: 'lost', at: Date.now(), bdSeq: options.bdSeq } satisfies KioskState
  const client = await mqtt.connectAsync(url, {
    clientId: options.clientId ?? `kiosk-${kiosk}`,
    username: kiosk,
    password: token(kiosk),
    clean: false,
    reconnectPeriod: 0,
    keepalive: options.keepalive ?? 30,
    will: { topic: topics.kioskState(kiosk), payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
  })
  client.on('error', () => {})
  t.teardown(() => client.endAsync(true))
  await birth(client, kiosk, options.bdSeq)
  return client
}

function birth(client: MqttClient, kiosk: string, bdSeq: number, extra: Partial<KioskState> = {}): Promise<unknown> {
  const state: KioskState = { kiosk, status: 'online', at: Date.now(), bdSeq, version: '1.0.0', configVersion: 1, reader: { kind: 'serial', health: 'ok' }, outboxDepth: 0, offline: { sales: 0, cents: 0 }, tapToAnswerMs: { count: 0, p50: 0, p99: 0, max: 0 }, ...extra }
  return client.publishAsync(topics.kioskState(kiosk), JSON.stringify(state), { qos: 1, retain: true })
}

/** The retained state of a kiosk, as a consumer subscribing now gets it. */
async function retainedKioskState(t: Test, url: string, kiosk: string): Promise<KioskState> {
  const client = await mqtt.connectAsync(url, { username: `${OPERATOR_USERNAME_PREFIX}${OPERATOR.name}`, password: OPERATOR.token, reconnectPeriod: 0 })
  t.teardown(() => client.endAsync(true))
  const got = new Promise<KioskState>((resolve) => client.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as KioskState)))
  await client.subscribeAsync(topics.kioskState(kiosk), { qos: 1 })
  return got
}

t.test('lifecycle over MQTT', async (t) => {
  const dir = tempDir(t)
  const gateway: Gateway = await createGateway({ config: gatewayConfig(dir), logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const url = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const ops = await watch(t, url)

  t.test('the gateway announces itself with bdSeq, counters, totals and a fleet of never_seen kiosks', async (t) => {
    await waitFor(() => ops.latest() !== undefined, 'the retained gateway state')
    const state = ops.latest()!
    t.match(state, { status: 'online', bdSeq: 0, version: String })
    t.type(state.startedAt, 'number')
    t.type(state.counters?.broker_kioskTxReceived, 'number', 'broker counters under broker_')
    t.type(state.counters?.ingest_received, 'number', 'ingest counters under ingest_')
    t.match(state.totals, { kiosksTotal: KIOSKS.length })
    t.same(state.fleet?.map((r) => r.kiosk).sort(), [...KIOSKS].sort())
    t.match(ops.row('k-never'), { status: 'never_seen', problems: ['never connected'] })
    t.same(gateway.fleet.snapshot().rows.map((r) => r.kiosk).sort(), [...KIOSKS].sort(), 'gateway.fleet.snapshot() reads the same fleet')
  })

  t.test('a kiosk whose socket is destroyed (no DISCONNECT) shows lost', async (t) => {
    const kiosk = await connectKiosk(t, url, 'k-dies', { bdSeq: 3 })
    await waitFor(() => ops.row('k-dies')?.status === 'online', 'k-dies online')
    t.match(ops.row('k-dies'), { version: '1.0.0', configVersion: 1, reader: { kind: 'serial', health: 'ok' }, outboxDepth: 0, severity: 0, problems: [] })
    kiosk.stream.destroy()
    await waitFor(() => ops.row('k-dies')?.status === 'lost', 'k-dies lost')
    t.match(ops.row('k-dies'), { status: 'lost', problems: [/^lost \d+ s ago$/] })
    t.equal(ops.latest()!.fleet![0]!.status, 'lost', 'a lost kiosk sorts first')
    t.match(await retainedKioskState(t, url, 'k-dies'), { status: 'lost', bdSeq: 3 }, 'the retained state is the will, with the bdSeq of its birth')
  })

  t.test('a kiosk whose connection goes silent shows lost once its keep-alive runs out', async (t) => {
    const kiosk = await connectKiosk(t, url, 'k-silent', { bdSeq: 0, keepalive: 1 })
    await waitFor(() => ops.row('k-silent')?.status === 'online', 'k-silent online')
    // Half-open: nothing the client writes reaches the broker any more (no PINGREQ, no DISCONNECT).
    kiosk.stream.write = (() => true) as typeof kiosk.stream.write
    await waitFor(() => ops.row('k-silent')?.status === 'lost', 'k-silent lost by keep-alive')
    t.pass('lost within the keep-alive window')
  })

  t.test('a stale death after a fast reconnect does not mark the live kiosk lost', async (t) => {
    // The first connection; the second (bdSeq one more) replaces it, so the broker sends the first one's will.
    await connectKiosk(t, url, 'k-stale', { bdSeq: 5, clientId: 'kiosk-k-stale/first' })
    await waitFor(() => ops.row('k-stale')?.status === 'online', 'k-stale online')
    const live = await connectKiosk(t, url, 'k-stale', { bdSeq: 6 })
    await waitFor(() => ops.kioskStates.some((s) => s.kiosk === 'k-stale' && s.state.status === 'lost' && s.state.bdSeq === 5), 'the first connection\'s will')
    await waitFor(() => ops.row('k-stale')?.status === 'online' && gateway.fleet.snapshot().rows.find((r) => r.kiosk === 'k-stale')?.status === 'online', 'online after the reconnect')
    // The same will arriving late, after the live birth (the broker noticed the old connection late).
    const seenBefore = ops.gatewayStates.length
    await live.publishAsync(topics.kioskState('k-stale'), JSON.stringify({ kiosk: 'k-stale', status: 'lost', at: Date.now(), bdSeq: 5 } satisfies KioskState), { qos: 1, retain: true })
    await waitFor(() => ops.kioskStates.filter((s) => s.kiosk === 'k-stale' && s.state.status === 'lost').length === 2, 'the stale death delivered')
    await waitFor(() => ops.gatewayStates.length > seenBefore + 1, 'later gateway states')
    t.equal(ops.row('k-stale')?.status, 'online', 'still online in gateway/state')
    t.equal(gateway.fleet.snapshot().rows.find((r) => r.kiosk === 'k-stale')?.status, 'online')
    t.match(await retainedKioskState(t, url, 'k-stale'), { status: 'online', bdSeq: 6 }, 'the stale death did not replace the retained birth')
  })

  t.test('a clean stop shows offline', async (t) => {
    const kiosk = await connectKiosk(t, url, 'k-stops', { bdSeq: 2 })
    await waitFor(() => ops.row('k-stops')?.status === 'online', 'k-stops online')
    await kiosk.publishAsync(topics.kioskState('k-stops'), JSON.stringify({ kiosk: 'k-stops', status: 'offline', at: Date.now(), bdSeq: 2 } satisfies KioskState), { qos: 1, retain: true })
    await kiosk.endAsync()
    await waitFor(() => ops.row('k-stops')?.status === 'offline', 'k-stops offline')
    t.match(ops.row('k-stops'), { status: 'offline', problems: [/^stopped \d+ s ago$/] })
    t.match(await retainedKioskState(t, url, 'k-stops'), { status: 'offline', bdSeq: 2 }, 'no will after a DISCONNECT')
  })

  t.test('hostile or broken kiosk states change nothing and crash nothing', async (t) => {
    const kiosk = await connectKiosk(t, url, 'k-hostile', { bdSeq: 7 })
    await waitFor(() => ops.row('k-hostile')?.status === 'online', 'k-hostile online')
    const invalidBefore = gateway.stats().broker.invalidKioskStates ?? 0
    const topic = topics.kioskState('k-hostile')
    const bad = [
      JSON.stringify({ kiosk: 'k-other', status: 'lost', at: Date.now(), bdSeq: 99 }), // another kiosk's name
      'not json at all',
      JSON.stringify({ kiosk: 'k-hostile', status: 'lost', at: Date.now(), bdSeq: 8, pad: 'x'.repeat(60_000) }), // huge and not the schema
      JSON.stringify({ kiosk: 'k-hostile', status: 'gone', at: Date.now() }),
    ]
    for (const payload of bad) await kiosk.publishAsync(topic, payload, { qos: 1 })
    await birth(kiosk, 'k-hostile', 1, { version: 'forged' }) // bdSeq going backwards while online
    await waitFor(() => (gateway.stats().broker.invalidKioskStates ?? 0) === invalidBefore + 4, 'the invalid states counted')
    const countedAt = Date.now()
    await waitFor(() => ops.latest()!.at >= countedAt, 'a gateway state built after all of them arrived')
    t.match(ops.row('k-hostile'), { status: 'online', version: '1.0.0' }, 'the row is as the valid birth left it')
    t.match(ops.row('k-other'), { status: 'never_seen' }, 'the kiosk named in the payload is untouched')
    t.equal(gateway.fleet.snapshot().rows.length, KIOSKS.length, 'the gateway still serves its fleet')
  })

  t.test('answers reach the fleet through ingest: refusals per minute and totals', async (t) => {
    const kiosk = await connectKiosk(t, url, 'k-other', { bdSeq: 0 })
    await waitFor(() => ops.row('k-other')?.status === 'online', 'k-other online')
    // Not an envelope, but its id and seq can be read: ingest refuses it (invalid_transaction) and tells the observer.
    await kiosk.publishAsync(topics.kioskTx('k-other'), JSON.stringify({ tx: { id: uuidv7(), seq: 1 } }), { qos: 1 })
    await waitFor(() => (ops.row('k-other')?.refusalsPerMin ?? 0) === 1, 'the refusal in the fleet')
    t.ok(ops.latest()!.totals!.rejected >= 1)
    t.ok(ops.latest()!.totals!.kiosksOnline >= 1)
  })

  t.test('every payload on the state topics matched its schema', async (t) => {
    t.same(ops.invalid.filter((e) => !e.startsWith('wristpay/v1/kiosk/k-hostile/')), [])
  })
})

t.test('the gateway says offline on a clean stop, and its bdSeq goes on at the next start', async (t) => {
  const dir = tempDir(t)
  const config = gatewayConfig(dir)
  const first = await createGateway({ config, logger: pino({ level: 'silent' }) })
  await first.start()
  const ops = await watch(t, `mqtt://127.0.0.1:${first.mqttAddress!.port}`)
  await waitFor(() => ops.latest()?.status === 'online', 'online')
  t.equal(ops.latest()!.bdSeq, 0)
  await first.stop()
  await waitFor(() => ops.latest()?.status === 'offline', 'offline')
  t.match(ops.latest(), { status: 'offline', bdSeq: 0 })

  const second = await createGateway({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => second.stop())
  await second.start()
  const again = await watch(t, `mqtt://127.0.0.1:${second.mqttAddress!.port}`)
  await waitFor(() => again.latest()?.status === 'online', 'online again')
  t.equal(again.latest()!.bdSeq, 1)
})
