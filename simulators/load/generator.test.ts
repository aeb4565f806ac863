// The load generator against the null gateway and against a real gateway in
// this process (the harness's loopback gateway). No timings are asserted: the
// phases are tiny and only what was sent, answered and booked is checked.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import pino from 'pino'
import { envelopeHash, GENESIS_HASH, publicKeyFromBase64Url, verifyEnvelope, type Envelope } from '../../device-protocol/index.js'
import { DB_FILE_NAME } from '../../gateway/app.js'
import { startLoopbackGateway } from '../e2e/kiosk-harness.js'
import { createLoadGenerator, findCapacity, saturationRate, sustained, type PhaseResult } from './generator.js'
import { createLoadEvent } from './load-event.js'
import { startNullGateway } from './null-gateway.js'

const PHASE_FIELDS = ['accepted', 'achievedPerSec', 'generatorIdleShare', 'max', 'offeredPerSec', 'p50', 'p99', 'p999', 'rejected', 'sales', 'sendLagMaxMs', 'signMs', 'unanswered']

t.test('against the null gateway: pre-signed envelopes verify and chain per kiosk, and every one is answered', async (t) => {
  const { setup, fleet } = createLoadEvent({ kiosks: 3, wristbands: 4 })
  const nullGateway = await startNullGateway()
  t.teardown(() => nullGateway.close())
  // A listener on the bare broker sees what the kiosks put on the wire.
  const spy = await mqtt.connectAsync(nullGateway.url, { clientId: 'spy' })
  t.teardown(() => spy.endAsync())
  const seen: Envelope[] = []
  spy.on('message', (_topic, payload) => seen.push(JSON.parse(payload.toString()) as Envelope))
  await spy.subscribeAsync('wristpay/v1/kiosk/+/tx', { qos: 1 })

  const generator = createLoadGenerator({ fleet, mqttUrl: nullGateway.url })
  t.teardown(() => generator.close())
  await generator.connect()
  const first = await generator.runPhase({ ratePerSec: 200, durationMs: 100, drainMs: 5_000 })
  const second = await generator.runPhase({ ratePerSec: 200, durationMs: 100, drainMs: 5_000 })
  t.same(Object.keys(first).sort(), PHASE_FIELDS)
  for (const phase of [first, second]) {
    t.equal(phase.sales, 20, 'rate x duration sales offered')
    t.equal(phase.unanswered, 0, 'the null gateway answered every sale')
    t.equal(phase.accepted, 20)
  }
  t.equal(nullGateway.answered(), 40)
  t.ok(first.generatorIdleShare >= 0 && first.generatorIdleShare <= 1, 'the idle share is a share')

  for (let i = 0; i < 100 && seen.length < 40; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(seen.length, 40, 'the spy saw every envelope')
  for (const kiosk of setup.kiosks) {
    const chain = seen.filter((e) => e.tx.kiosk === kiosk.id)
    const key = publicKeyFromBase64Url(kiosk.publicKey!)
    t.ok(chain.length > 0, `${kiosk.id} sent`)
    t.ok(chain.every((e) => verifyEnvelope(e, key)), `${kiosk.id}: every envelope verifies with the enrolled key`)
    t.same(chain.map((e) => e.tx.seq), chain.map((_, i) => i + 1), `${kiosk.id}: seq counts up from 1 without gaps, across phases`)
    t.ok(chain.every((e, i) => e.tx.prev === (i === 0 ? GENESIS_HASH : envelopeHash(chain[i - 1]!))), `${kiosk.id}: each prev is the hash of the one before`)
    t.ok(chain.every((e) => e.tx.type === 'sale' && e.tx.amount === fleet.product.price), 'sales of the product')
  }
})

t.test('a tiny open-loop phase against a real gateway books every sale once and the ledger balances', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-load-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { setup, fleet } = createLoadEvent({ kiosks: 4, wristbands: 6 })
  const gateway = await startLoopbackGateway({ dir, setup, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  const generator = createLoadGenerator({ fleet, mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}` })
  t.teardown(() => generator.close())
  await generator.connect()
  await generator.fund(10_000)
  // A generous drain: on a busy machine the first answers may take long; nothing here is a timing.
  const phase = await generator.runPhase({ ratePerSec: 50, durationMs: 400, drainMs: 30_000 })
  t.equal(phase.sales, 20)
  t.equal(phase.unanswered, 0, 'every sale answered')
  t.equal(phase.accepted, 20, 'every sale accepted')
  t.equal(await generator.settle(5_000), 0, 'nothing in flight')

  // A reader of its own on the ledger file (WAL: it sees every commit).
  const db = new Database(join(dir, 'gateway', DB_FILE_NAME), { readonly: true })
  const rows = db.prepare("SELECT id, status FROM transactions WHERE type = 'sale'").all() as Array<{ id: string; status: string }>
  db.close()
  t.equal(rows.length, 20, 'the ledger holds each sale')
  t.equal(new Set(rows.map((r) => r.id)).size, 20, 'no sale twice')
  t.ok(rows.every((r) => r.status === 'accepted'))
  t.same(gateway.ledger.checkInvariants(), [], 'the ledger keeps its invariants')
  t.equal(gateway.ledger.sumOfAllBalances(), 0, 'all balances sum to zero')
})

t.test('the capacity search doubles, then bisects, within its phases', async (t) => {
  // A pretend gateway that sustains up to 1,300 sales/s.
  const fake = (rate: number): PhaseResult => ({
    offeredPerSec: rate,
    achievedPerSec: Math.min(rate, 1300),
    p50: 1,
    p99: rate <= 1300 ? 10 : 500,
    p999: 1,
    max: 1,
    sales: rate,
    accepted: rate,
    rejected: 0,
    unanswered: 0,
    sendLagMaxMs: 0,
    generatorIdleShare: 0.9,
    signMs: 0,
  })
  const offered: number[] = []
  const search = await findCapacity(async (rate) => (offered.push(rate), fake(rate)), { p99LimitMs: 50, maxPhases: 10, startPerSec: 100 })
  t.same(offered.slice(0, 5), [100, 200, 400, 800, 1600], 'doubles until a rate fails')
  t.ok(search.capacityPerSec <= 1300 && search.capacityPerSec >= 1300 / 1.1, `brackets the real capacity: ${search.capacityPerSec}`)
  t.equal(search.phases.length, offered.length)

  const bounded = await findCapacity(async (rate) => fake(rate), { p99LimitMs: 50, maxPhases: 2, startPerSec: 100, knownGoodPerSec: 1000, knownBadPerSec: 2000 })
  t.equal(bounded.phases.length, 2, 'never more phases than allowed')
  t.same(bounded.phases.map((p) => p.offeredPerSec), [1500, 1250], 'starts from the known rates')
  t.equal(bounded.capacityPerSec, 1250)

  t.notOk(sustained({ ...fake(100), unanswered: 1 }, 50), 'an unanswered sale is not sustained')
  t.notOk(sustained({ ...fake(100), achievedPerSec: 90 }, 50), 'falling behind the offered rate is not sustained')

  // The saturation phase: twice the highest rate offered, unless a phase already had a backlog.
  t.equal(saturationRate([fake(500), fake(1000), fake(750)], 50), 2000, 'every phase kept up: twice the highest')
  t.equal(saturationRate([fake(1000), fake(1600)], 50), undefined, '1,600 offered, 1,300 answered: that phase had a backlog')
  t.equal(saturationRate([fake(500), { ...fake(1000), p50: 80 }], 50), undefined, 'a median over the limit: a queue grew all phase long')
  t.equal(saturationRate([], 50), undefined, 'no phase: nothing to double')
})
