// Every MQTT payload the gateway reads from kiosks, fed into the gateway's own
// handlers over a real ledger (SQLite, the ledger tests' event): transactions
// into ingest (random JSON, odd and huge values, envelopes damaged after
// signing, and transactions damaged BEFORE signing, so that a genuine
// signature carries nonsense to the ledger's rules), balance and chain
// questions into the kiosk queries, kiosk states into the fleet tracker (as
// the broker checks them), and command answers into the command sender.
// Oracle: nothing throws out of a handler and no promise is left rejected;
// money moves only with an `accepted` answer, a question, a state or a command
// answer changes nothing in the ledger, and the ledger's invariants hold after
// every input; malformed payloads are counted as malformed.
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import {
  MAX_PAYLOAD_BYTES,
  parseJson,
  signTransaction,
  validateEnvelope,
  validateKioskState,
  type ReplyMessage,
  type Transaction,
} from '../../../device-protocol/index.js'
import { createKioskCommands } from '../../../gateway/commands/index.js'
import { createFleetTracker } from '../../../gateway/fleet/index.js'
import { createIngest } from '../../../gateway/ingest.js'
import { createKioskQueries } from '../../../gateway/kiosk-queries.js'
import { UID, makeWorld, silentLogger, verified, type TestWorld } from '../../../gateway/ledger/testing/test-helpers.js'
import { watchLedger } from '../ledger-watch.js'
import { applyJsonMutations, jsonMutations, mutatedBytes, mutatedJson, nested, oddJson, type Json, type JsonMutations } from '../mutate.js'
import { assertNoPrototypePollution, expect, type FuzzTarget, type Verdict } from '../target.js'

const KIOSKS = ['bar-1', 'cash-1', 'food-1'] as const
type KioskName = (typeof KIOSKS)[number]
const UIDS = [UID.alice, UID.bob, UID.blocked, UID.stranger]

/** What a kiosk would sign next, as a template the fuzzer damages: a sale or a top-up at the head of its chain. */
interface TxTemplate {
  kiosk: KioskName
  type: 'sale' | 'topup_cash' | 'cashout' | 'refund'
  uid: number
  qty: number
  amount: number
}

export type MqttGatewayInput =
  | { kind: 'tx-raw'; kiosk: string; payload: string | Uint8Array }
  /** A genuine envelope, damaged after signing (the signature no longer fits, or the shape is gone). */
  | { kind: 'tx-damaged'; template: TxTemplate; mutations: JsonMutations }
  /** Damaged before signing: the signature is good, the content is not. */
  | { kind: 'tx-signed-nonsense'; template: TxTemplate; mutations: JsonMutations }
  | { kind: 'tx-valid'; template: TxTemplate }
  | { kind: 'query'; kiosk: KioskName; payload: string | Uint8Array }
  | { kind: 'state'; kiosk: KioskName; payload: string | Uint8Array }
  | { kind: 'cmd-answer'; kiosk: KioskName; payload: string | Uint8Array }

const kioskName = fc.constantFrom(...KIOSKS)
const template: fc.Arbitrary<TxTemplate> = fc.record({
  kiosk: kioskName,
  type: fc.constantFrom('sale' as const, 'topup_cash' as const, 'cashout' as const, 'refund' as const),
  uid: fc.nat({ max: UIDS.length - 1 }),
  qty: fc.oneof(fc.integer({ min: -3, max: 5 }), fc.constantFrom(0, 1000, 2 ** 31)),
  amount: fc.oneof(fc.integer({ min: -1000, max: 5000 }), fc.constantFrom(0, 450, 2 ** 53 - 1)),
})

const QUERY_SAMPLES: Json[] = [
  { kind: 'balance', requestId: '0190a8a4-0000-7000-8000-000000000001', uid: UID.alice },
  { kind: 'chain', requestId: '0190a8a4-0000-7000-8000-000000000002', nextSeq: 1, prev: '0'.repeat(64) },
]
const STATE_SAMPLES: Json[] = [
  { kiosk: 'bar-1', status: 'online', at: 1_750_000_000_000, bdSeq: 3, outboxDepth: 2, offline: { sales: 1, cents: 450 }, counters: { taps: 4 }, chain: { status: 'intact' } },
  { kiosk: 'cash-1', status: 'offline', at: 1_750_000_000_000, bdSeq: 1 },
]
const CMD_ANSWER_SAMPLES: Json[] = [
  { v: 1, id: '0190a8a4-0000-7000-8000-0000000000aa', kiosk: 'bar-1', command: 'lock', status: 'done', at: 1_750_000_000_000 },
  { v: 1, id: '0190a8a4-0000-7000-8000-0000000000ab', kiosk: 'bar-1', command: 'report_state', status: 'refused', reason: 'busy', at: 1_750_000_000_000 },
]

/** Random JSON, odd values, deep nesting as text, JSON that is not JSON, and payloads around the size limit. */
const junkPayload: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.json().map(String),
  oddJson.map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 200 }),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '',
    'null',
    '{"__proto__":{"polluted":true},"tx":{"id":"x"}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '['.repeat(50_000),
    `"${'x'.repeat(MAX_PAYLOAD_BYTES + 1)}"`,
    JSON.stringify(nested(1000)),
  ),
)

function payloadFor(samples: Json[]): fc.Arbitrary<string | Uint8Array> {
  return fc.oneof(
    { weight: 4, arbitrary: mutatedJson(samples).map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.constantFrom(...samples).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: mutatedBytes(samples.map((s) => Buffer.from(JSON.stringify(s)))) },
    { weight: 2, arbitrary: junkPayload },
  )
}

const arbitrary: fc.Arbitrary<MqttGatewayInput> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tx-raw' as const), kiosk: fc.oneof(kioskName, fc.constantFrom('', 'nobody', 'bar-1/tx', '\u0000', 'x'.repeat(300))), payload: junkPayload }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tx-damaged' as const), template, mutations: jsonMutations(3) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('tx-signed-nonsense' as const), template, mutations: jsonMutations(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tx-valid' as const), template }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('query' as const), kiosk: kioskName, payload: payloadFor(QUERY_SAMPLES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('state' as const), kiosk: kioskName, payload: payloadFor(STATE_SAMPLES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cmd-answer' as const), kiosk: kioskName, payload: payloadFor(CMD_ANSWER_SAMPLES) }) },
)

/** The money alone: what an input without an `accepted` answer must leave as it was. */
function money(world: TestWorld, postings: () => number): string {
  const s = world.ledger.stats()
  return JSON.stringify({ postings: postings(), sum: world.ledger.sumOfAllBalances(), customer: s.customerBalances, revenue: s.revenueByBooth, cash: s.cashByKiosk, deposits: s.depositsByBooth, debts: s.openDebts, registers: s.cashByRegister })
}

export function createMqttGatewayWorld() {
  const world = makeWorld()
  const keys = { 'bar-1': world.kiosks.bar.keys, 'cash-1': world.kiosks.cash.keys, 'food-1': world.kiosks.food.keys }
  // Money on the wristbands, so that sales can be accepted at all.
  for (const uid of [UID.alice, UID.bob]) world.ledger.applyBatch([verified(world.kiosks.cash.topup(uid, 50_000))])
  const replies: Array<{ kioskId: string; message: ReplyMessage }> = []
  const ingest = createIngest({
    ledger: world.ledger,
    logger: silentLogger,
    clock: world.clock,
    publishReply: (kioskId, message) => void replies.push({ kioskId, message }),
    publishEvent: () => Promise.resolve(),
  })
  const queries = createKioskQueries({ ledger: world.ledger, clock: world.clock, logger: silentLogger, publishReply: (kioskId, message) => void replies.push({ kioskId, message }), alert: () => undefined })
  const fleet = createFleetTracker({ now: () => world.clock.now(), kiosks: () => KIOSKS.map((id) => ({ id, booth: id.split('-')[0]! })) })
  const commands = createKioskCommands({ publish: () => Promise.resolve(), clock: world.clock, newId: randomUUID, logger: silentLogger })
  const watch = watchLedger(world.ledger, world.db)
  const postingsQuery = world.db.prepare('SELECT count(*) AS n FROM postings')
  const postings = () => (postingsQuery.get() as { n: number }).n
  let invalidStates = 0

  /** The transaction the kiosk would sign next, from the template (at the head of the ledger's view of its chain). */
  function nextTx(t: TxTemplate): Transaction {
    const cursor = world.ledger.kioskCursor(t.kiosk)!
    const uid = UIDS[t.uid]!
    const lines = t.type === 'sale' ? [{ product: t.kiosk === 'food-1' ? 'fries' : 'beer', qty: t.qty, unitPrice: t.kiosk === 'food-1' ? 350 : 450 }] : []
    const amount = t.type === 'sale' ? lines.reduce((s, l) => s + l.qty * l.unitPrice, 0) : t.amount
    world.clock.advance(1000)
    return { v: 1, id: randomUUID(), kiosk: t.kiosk, seq: cursor.nextSeq, prev: cursor.lastHash, type: t.type, tag: { uid, type: 'ntag215' }, lines, amount, at: world.clock.now() } as Transaction
  }

  async function run(input: MqttGatewayInput): Promise<Verdict> {
    try {
      return await runInput(input)
    } finally {
      assertNoPrototypePollution()
    }
  }

  async function runInput(input: MqttGatewayInput): Promise<Verdict> {
    const before = watch.snapshot()
    const moneyBefore = money(world, postings)
    const repliesBefore = replies.length
    const counted = ingest.counters()
    switch (input.kind) {
      case 'query':
        queries.handle(input.kiosk, input.payload)
        expect(watch.snapshot() === before, 'a kiosk query changed the ledger')
        return replies.length > repliesBefore ? 'accepted' : 'refused'
      case 'state': {
        // As the broker does: validated, and the kiosk field must be the publisher's.
        const state = parseJson(input.payload, validateKioskState)
        if (!state.ok || state.value.kiosk !== input.kiosk) {
          invalidStates++
          return 'refused'
        }
        fleet.kioskState(input.kiosk, state.value)
        fleet.snapshot()
        expect(watch.snapshot() === before, 'a kiosk state changed the ledger')
        return 'accepted'
      }
      case 'cmd-answer':
        commands.handleAnswer(input.kiosk, typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload)
        expect(watch.snapshot() === before, 'a command answer changed the ledger')
        return 'refused'
      default:
        break
    }

    let kioskId: string
    let payload: string | Uint8Array
    if (input.kind === 'tx-raw') {
      kioskId = input.kiosk
      payload = input.payload
    } else {
      const tx = nextTx(input.template)
      kioskId = tx.kiosk
      const privateKey = keys[input.template.kiosk].privateKey
      if (input.kind === 'tx-valid') payload = JSON.stringify(signTransaction(tx, privateKey))
      else if (input.kind === 'tx-damaged') payload = JSON.stringify(applyJsonMutations(signTransaction(tx, privateKey) as unknown as Json, input.mutations))
      else {
        // Signing canonicalises the value; what cannot be signed (a number JSON cannot hold) is not sent.
        let signed
        try {
          signed = signTransaction(applyJsonMutations(tx as unknown as Json, input.mutations) as unknown as Transaction, privateKey)
        } catch {
          return 'refused'
        }
        payload = JSON.stringify(signed)
      }
    }
    ingest.submit(kioskId, payload)
    await ingest.drain()
    const answers = replies.slice(repliesBefore).map((r) => r.message)
    const accepted = answers.some((m) => m.kind === 'result' && m.status === 'accepted')
    if (!accepted) expect(money(world, postings) === moneyBefore, `money moved without an accepted answer (${answers.map((a) => JSON.stringify(a).slice(0, 200)).join(', ') || 'no answer'})`)
    watch.assertSound(`after a ${input.kind}`)
    const shape = parseJson(payload, validateEnvelope)
    if (!shape.ok) expect(ingest.counters().malformed === counted.malformed + 1, 'a malformed envelope was not counted as malformed')
    return accepted ? 'accepted' : 'refused'
  }

  return {
    world,
    run,
    counters: () => ({ ingest: ingest.counters(), queries: queries.counters(), invalidStates }),
    close: () => {
      commands.close()
      world.close()
    },
  }
}

export const mqttGatewayTarget: FuzzTarget<MqttGatewayInput> = {
  name: 'mqtt-gateway',
  description: 'MQTT payloads kiosks send the gateway (transactions signed and not, questions, states, command answers) into ingest, queries, fleet and commands',
  ciCount: 100,
  create() {
    const gateway = createMqttGatewayWorld()
    return {
      arbitrary,
      run: gateway.run,
      finish() {
        const { ingest, queries } = gateway.counters()
        // The fuzzer got past every gate at least once, and the gates counted what they refused.
        expect(ingest.malformed > 0, 'no malformed envelope was counted')
        expect(ingest.accepted > 0, 'no transaction reached the ledger and was accepted')
        expect(ingest.rejected > 0, 'no transaction was refused')
        expect(queries.malformed > 0, 'no malformed query was counted')
      },
      report: () => gateway.counters(),
      close: gateway.close,
    }
  },
}
