import t from 'tap'
import { GENESIS_HASH, envelopeHash, validateReply, type ReplyMessage } from '../device-protocol/index.js'
import { createKioskQueries } from './kiosk-queries.js'
import { fixedClock, makeKioskKeys, makeWorld, silentLogger, testSetup, UID } from './ledger/testing/test-helpers.js'
import { openLedgerDatabase } from './ledger/db.js'
import { createLedger } from './ledger/ledger.js'

const REQUEST = '0193aaaa-0000-7000-8000-000000000001'

function harness(maxPerSecond?: number) {
  const world = makeWorld()
  const sent: Array<[string, ReplyMessage]> = []
  const clock = fixedClock()
  const queries = createKioskQueries({
    ledger: world.ledger,
    clock,
    logger: silentLogger,
    publishReply: (kioskId, message) => void sent.push([kioskId, message]),
    ...(maxPerSecond === undefined ? {} : { maxPerSecond }),
  })
  return { world, sent, clock, queries }
}

t.test('a balance question is answered on the asking kiosk with balance, vouchers and recent history', async (t) => {
  const h = harness()
  t.teardown(h.world.close)
  h.world.ledger.applyBatch([{ envelope: h.world.kiosks.cash.topup(UID.alice, 2000) }])
  h.queries.handle('bar-1', JSON.stringify({ kind: 'balance', requestId: REQUEST, uid: UID.alice }))
  t.equal(h.sent.length, 1)
  const [kiosk, answer] = h.sent[0]!
  t.equal(kiosk, 'bar-1')
  t.ok(validateReply(answer).ok, 'the answer is a valid reply message')
  t.match(answer, { kind: 'balance', requestId: REQUEST, uid: UID.alice, status: 'ok', balance: 2000, vouchers: 0, blocked: false, debt: false })
  t.match((answer as { recent: unknown[] }).recent, [{ type: 'topup_cash', amount: 2000 }])
  t.same(h.world.ledger.checkInvariants(), [])
})

t.test('an unknown wristband is answered unknown_tag', async (t) => {
  const h = harness()
  t.teardown(h.world.close)
  h.queries.handle('bar-1', JSON.stringify({ kind: 'balance', requestId: REQUEST, uid: UID.stranger }))
  t.match(h.sent[0]?.[1], { kind: 'balance', status: 'unknown_tag', uid: UID.stranger })
  t.notOk('balance' in (h.sent[0]?.[1] ?? {}), 'no balance for an unknown tag')
})

t.test('malformed and hostile questions are dropped, counted, and never throw', async (t) => {
  const h = harness()
  t.teardown(h.world.close)
  const hostile = [
    'not json',
    '{}',
    JSON.stringify({ kind: 'balance', requestId: 'x', uid: UID.alice }),
    JSON.stringify({ kind: 'balance', requestId: REQUEST, uid: 'lowercase-uid' }),
    JSON.stringify({ kind: 'balance', requestId: REQUEST, uid: UID.alice, extra: 1 }),
    JSON.stringify({ kind: 'topup', requestId: REQUEST, uid: UID.alice }),
    '{"__proto__":{"polluted":true},"kind":"balance"}',
    Buffer.alloc(70_000, 0x20),
  ]
  for (const payload of hostile) t.doesNotThrow(() => h.queries.handle('bar-1', payload))
  t.equal(h.sent.length, 0, 'nothing answered')
  t.equal(h.queries.counters().malformed, hostile.length)
  t.equal(({} as Record<string, unknown>).polluted, undefined)
})

t.test('a kiosk asking more than its rate gets no more answers in that second', async (t) => {
  const h = harness(3)
  t.teardown(h.world.close)
  const ask = () => h.queries.handle('bar-1', JSON.stringify({ kind: 'balance', requestId: REQUEST, uid: UID.alice }))
  for (let i = 0; i < 5; i++) ask()
  t.equal(h.sent.length, 3)
  t.equal(h.queries.counters().rateLimited, 2)
  h.queries.handle('food-1', JSON.stringify({ kind: 'balance', requestId: REQUEST, uid: UID.alice }))
  t.equal(h.sent.length, 4, 'another kiosk has its own allowance')
  h.clock.advance(1_000)
  ask()
  t.equal(h.sent.length, 5, 'the next second answers again')
})

t.test('a chain question is answered with where the ledger ends; a kiosk behind it raises an alert', async (t) => {
  const world = makeWorld()
  t.teardown(world.close)
  const sent: Array<[string, ReplyMessage]> = []
  const alerts: Array<{ kind: string; kioskId: string }> = []
  const queries = createKioskQueries({
    ledger: world.ledger,
    clock: fixedClock(),
    logger: silentLogger,
    publishReply: (kioskId, message) => void sent.push([kioskId, message]),
    alert: (kind, _message, kioskId) => void alerts.push({ kind, kioskId }),
  })
  const ask = (nextSeq: number, prev: string) => queries.handle('cash-1', JSON.stringify({ kind: 'chain', requestId: REQUEST, nextSeq, prev }))
  const e1 = world.kiosks.cash.topup(UID.alice, 2000)
  const e2 = world.kiosks.cash.topup(UID.alice, 500)
  world.ledger.applyBatch([{ envelope: e1 }, { envelope: e2 }])

  ask(3, envelopeHash(e2))
  t.same(sent.at(-1), ['cash-1', { kind: 'chain', requestId: REQUEST, nextSeq: 3, lastHash: envelopeHash(e2), enrolledKey: world.kiosks.cash.keys.publicKeyBase64Url }])
  t.ok(validateReply(sent.at(-1)![1]).ok, 'the answer is a valid reply message')
  ask(5, '0'.repeat(64))
  t.same(alerts, [], 'a kiosk ahead of the ledger (answers still on their way) is not alerted')

  ask(1, GENESIS_HASH)
  t.match(sent.at(-1), ['cash-1', { kind: 'chain', nextSeq: 3, lastHash: envelopeHash(e2) }], 'an emptied outbox is told where to go on')
  ask(3, envelopeHash(e1))
  t.same(alerts, [{ kind: 'kiosk_chain_behind', kioskId: 'cash-1' }, { kind: 'kiosk_chain_behind', kioskId: 'cash-1' }], 'behind, and the same seq on another hash, are alerted')
  t.equal(queries.counters().chainsBehind, 2)
  t.equal(world.ledger.kioskCursor('cash-1')?.nextSeq, 3, 'a question changes nothing')

  for (const hostile of [{ kind: 'chain', requestId: REQUEST, nextSeq: 0, prev: GENESIS_HASH }, { kind: 'chain', requestId: REQUEST, nextSeq: 1, prev: 'x' }, { kind: 'chain', requestId: REQUEST, nextSeq: 1 }]) {
    t.doesNotThrow(() => queries.handle('cash-1', JSON.stringify(hostile)))
  }
  t.equal(queries.counters().malformed, 3)
})

t.test('a chain question tells which key the gateway checks: null before enrollment, then the enrolled one', async (t) => {
  // The kiosks log in with their tokens; none has a public key yet.
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  ledger.registry.importEventSetup(testSetup())
  const sent: ReplyMessage[] = []
  const queries = createKioskQueries({ ledger, clock: fixedClock(), logger: silentLogger, publishReply: (_kiosk, message) => void sent.push(message) })
  const ask = () => queries.handle('bar-1', JSON.stringify({ kind: 'chain', requestId: REQUEST, nextSeq: 1, prev: GENESIS_HASH }))

  ask()
  t.same(sent.at(-1), { kind: 'chain', requestId: REQUEST, nextSeq: 1, lastHash: GENESIS_HASH, enrolledKey: null }, 'not enrolled: the kiosk is told so before it signs anything')
  t.ok(validateReply(sent.at(-1)).ok, 'a valid reply message')
  const keys = makeKioskKeys()
  ledger.registry.enrollKiosk('bar-1', keys.publicKeyBase64Url)
  ask()
  t.match(sent.at(-1), { kind: 'chain', nextSeq: 1, enrolledKey: keys.publicKeyBase64Url }, 'enrolled: the key the gateway checks signatures with')
  t.equal(queries.counters().chainsBehind, 0)
})
