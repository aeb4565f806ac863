// The kiosk lifecycle on MQTT end to end (README "MQTT topics"): a real kiosk
// daemon against a gateway on loopback, watched by an operator account. The
// kiosk dies by SIGKILL (a child process: the operating system closes its socket,
// no DISCONNECT) and shows `lost`; started again on the same data it is born
// with the next bdSeq; a clean stop shows `offline`.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import pino from 'pino'
import { MAX_GATEWAY_STATE_PAYLOAD_BYTES, parseJson, systemClock, topics, validateGatewayState, validateKioskState, type FleetRow, type GatewayState, type KioskState } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const KIOSK = 'bar-1'
const token = () => randomBytes(24).toString('base64url')

t.test('a kiosk daemon killed by SIGKILL shows lost; started again it is born with the next bdSeq; a clean stop shows offline', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-lifecycle-e2e-'))
  const tokens = { bar: token(), ops: token() }
  const setup: EventSetup = {
    event: { name: 'lifecycle', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [{ id: KIOSK, booth: 'bar', token: tokens.bar, saleAllowed: true, topupAllowed: true }],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: { operators: [{ name: 'ops', token: tokens.ops }], monitoring: { stateIntervalMs: 500 } } })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const dataDir = join(dir, KIOSK)
  let daemon: KioskDaemon | undefined
  const ops = await mqtt.connectAsync(mqttUrl, { username: 'operator:ops', password: tokens.ops, reconnectPeriod: 0 })
  t.teardown(async () => {
    await ops.endAsync(true).catch(() => undefined)
    await daemon?.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  // What an operator sees, each payload checked against its schema.
  const kioskStates: KioskState[] = []
  let gatewayState: GatewayState | undefined
  const invalid: string[] = []
  ops.on('message', (topic, payload) => {
    if (topic === topics.gatewayState) {
      const parsed = parseJson(payload, validateGatewayState, MAX_GATEWAY_STATE_PAYLOAD_BYTES)
      if (parsed.ok) gatewayState = parsed.value
      else invalid.push(parsed.error)
    } else {
      const parsed = parseJson(payload, validateKioskState)
      if (parsed.ok) kioskStates.push(parsed.value)
      else invalid.push(parsed.error)
    }
  })
  await ops.subscribeAsync([topics.gatewayState, topics.kioskState(KIOSK)], { qos: 1 })
  const row = (): FleetRow | undefined => gatewayState?.fleet?.find((r) => r.kiosk === KIOSK)
  const seen = (status: KioskState['status'], bdSeq: number) => kioskStates.some((s) => s.status === status && s.bdSeq === bdSeq)

  await waitUntil(() => row()?.status === 'never_seen', 'the kiosk listed as never seen', 1000, 10)

  // Keys made (and enrolled) before the first start.
  const first = await createKioskDaemon({ config: kioskDaemonConfig({ kioskId: KIOSK, token: tokens.bar, mqttUrl, dataDir }), logger: silent, clock: systemClock, reader: createMemoryReader() })
  gateway.ledger.registry.enrollKiosk(KIOSK, first.publicKeyBase64Url)
  await first.stop()

  // A real daemon in a child process books one top-up and dies by SIGKILL.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('../../daemon/testing/kiosk-crash-child.ts', import.meta.url)), dataDir, mqttUrl, KIOSK, tokens.bar, '1', '1', GUEST], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)))
  t.equal(signal, 'SIGKILL', `the child died without closing anything${stderr ? `: ${stderr.slice(0, 500)}` : ''}`)
  await waitUntil(() => row()?.status === 'lost', 'lost in gateway/state', 1000, 10)
  t.ok(seen('online', 0) && seen('lost', 0), 'the birth and the will of the first connection both carry bdSeq 0')
  t.match(row(), { status: 'lost', problems: [/^lost /] })
  t.equal(gatewayState!.fleet![0]!.kiosk, KIOSK, 'the lost kiosk comes first')

  // Started again on the same data: the next bdSeq, online, and a top-up shows in the fleet.
  const reader = createMemoryReader()
  daemon = await createKioskDaemon({ config: kioskDaemonConfig({ kioskId: KIOSK, token: tokens.bar, mqttUrl, dataDir }), logger: silent, clock: systemClock, reader })
  await daemon.start()
  await waitUntil(() => row()?.status === 'online' && seen('online', 1), 'online again with bdSeq 1', 1000, 10)
  await waitUntil(() => daemon!.status().config !== null && daemon!.kiosk.chainState().status === 'intact', 'configured and the chain checked', 1000, 10)
  const topUp = await tapAndAwait(daemon.kiosk.topUp(1_000), reader, GUEST)
  t.equal(topUp.status, 'accepted')
  await waitUntil(() => row()?.tapToAnswerMs !== undefined, 'the tap-to-answer time in the fleet', 1000, 10)
  t.match(row(), { status: 'online', reader: { kind: 'memory', health: 'ok' }, outboxDepth: 0, severity: 0, problems: [] })
  t.match(gatewayState!.totals, { kiosksOnline: 1, kiosksTotal: 1, topupsCents: 2_000 }, "the crashed kiosk's top-up and this one")

  await daemon.stop()
  await waitUntil(() => row()?.status === 'offline', 'offline in gateway/state', 1000, 10)
  t.ok(seen('offline', 1), 'the clean stop carries the bdSeq of its connection')
  t.same(invalid, [], 'every payload matched its schema')
})
