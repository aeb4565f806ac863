// Several gateways booking into one PostgreSQL database at once give the
// result of one gateway (issue 18, point 2), tested for real: two child
// processes, each a gateway with its own pg-native connection and ledger
// (testing/pg-gateway-child.ts), book interleaved and overlapping streams of signed
// envelopes from six kiosks; some envelopes go to both, as an MQTT broker may
// deliver a message twice. The end state is compared with one gateway booking
// the same envelopes: every row, posting, balance, cursor and chain, and the
// answer to every envelope. And where a decision does depend on another
// kiosk's booking (two kiosks selling to one wristband that can pay only
// one), the second gateway waits for the first one's commit and decides on it.
// (A gateway killed mid-batch: pg-gateway-kill.test.ts.)
//
// Every wristband is topped up well beyond what the run spends before the
// gateways start, so no decision depends on the order of two kiosks'
// envelopes (that order is the broker's, with one gateway as with two); the
// answers' balance and the rows' balance_after do, and are left out.
import t, { type Test } from 'tap'
import type { Envelope } from '../../device-protocol/index.js'
import { openPgConnection, type PgConnection } from '../postgres/connection.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { createPgLedgerStore } from './pg-store.js'
import type { GatewayChildMessage } from './testing/pg-gateway-child.js'
import { UID } from './testing/test-helpers.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { batchesOf, bookAlone, bookTogether, ledgerRows, scenario, seeded, signingKiosks, startGateway, statusOnly } from './testing/pg-gateways.js'

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const { server } = pg
  server.createDatabase('concurrent_template')
  createPgLedgerStore({ url: server.url('concurrent_template') }).close()
  // Two gateway processes for the whole file, each given the data of one test after the other.
  const gatewayA = startGateway(t)
  const gatewayB = startGateway(t)
  const freshDatabase = () => pg.freshDatabase('concurrent', 'concurrent_template').url
  const side = (t: Test, url: string): PgConnection => {
    const conn = openPgConnection({ url })
    t.teardown(() => conn.close())
    return conn
  }

  t.test('two gateways booking overlapping streams at once end with exactly the ledger of one gateway', async (t) => {
    const { publicKeys, warmUp, all } = scenario(18)
    const random = seeded(7)
    const reference = freshDatabase()
    const expected = bookAlone(reference, publicKeys, [warmUp, ...batchesOf(all, 8, random)])

    const shared = freshDatabase()
    bookAlone(shared, publicKeys, [warmUp])
    // Each envelope goes to gateway A, to B, or (one in five) to both, in the order the kiosks sent them.
    const toA: Envelope[] = []
    const toB: Envelope[] = []
    for (const envelope of all) {
      const r = random()
      if (r < 0.4 || r >= 0.8) toA.push(envelope)
      if (r >= 0.4) toB.push(envelope)
    }
    const both = all.filter((e) => toA.includes(e) && toB.includes(e)).map((e) => e.tx.id)
    t.ok(both.length > 10, `${both.length} envelopes are delivered to both gateways`)
    gatewayA.load({ url: shared, publicKeys, batches: batchesOf(toA, 8, random) })
    gatewayB.load({ url: shared, publicKeys, batches: batchesOf(toB, 8, random) })
    const results = await bookTogether([gatewayA, gatewayB])
    for (const r of results) if (r.kind === 'failed') return t.fail(`a gateway failed: ${r.message}`)
    const [a, b] = results as Array<Extract<GatewayChildMessage, { kind: 'done' }>>
    t.comment(`conflicts retried: gateway A ${a!.conflictRetries}, gateway B ${b!.conflictRetries}; batch rounds ${a!.rounds} and ${b!.rounds}`)

    t.strictSame(ledgerRows(side(t, shared)), ledgerRows(side(t, reference)), 'rows, postings, balances, cursors and chains are those of one gateway')
    const answeredAlone = statusOnly(expected)
    for (const id of warmUp.map((e) => e.tx.id)) delete answeredAlone[id]
    t.strictSame(statusOnly({ ...b!.answers, ...a!.answers }), answeredAlone, 'every envelope is answered as one gateway answers it')
    t.strictSame(statusOnly(b!.answers), statusOnly(Object.fromEntries(toB.map((e) => [e.tx.id, expected[e.tx.id]!]))), 'both gateways answer the envelopes they got alike')
    const bookedTwice = both.filter((id) => !a!.answers[id]!.replay && !b!.answers[id]!.replay)
    const neverBooked = both.filter((id) => a!.answers[id]!.replay && b!.answers[id]!.replay)
    t.strictSame({ bookedTwice, neverBooked }, { bookedTwice: [], neverBooked: [] }, 'an envelope delivered to both is booked by one and answered as a resend by the other')

    const check = createPgLedgerStore({ url: shared })
    t.teardown(() => check.close())
    t.strictSame(check.checkInvariants(), [], 'the invariants hold: postings sum to zero, balances equal postings, every chain complete')
    t.equal(check.stats().accepted + check.stats().rejected, warmUp.length + all.length, 'every envelope recorded once')
  })

  t.test('two kiosks selling to one wristband that can pay one sale: the second gateway waits for the first commit and refuses, as one gateway does', async (t) => {
    const { kiosks, publicKeys } = signingKiosks()
    const warmUp = [kiosks['cash-1'].topup(UID.alice, 1_000)]
    // 2 x 450 + 200 = 1 100 > 1 000: one of the two carts fits, not both.
    const first = kiosks['bar-1'].sale(UID.alice, [{ product: 'beer', qty: 2, unitPrice: 450 }])
    const second = kiosks['bar-2'].sale(UID.alice, [{ product: 'water', qty: 1, unitPrice: 200 }, { product: 'beer', qty: 1, unitPrice: 450 }])
    const reference = freshDatabase()
    const expected = bookAlone(reference, publicKeys, [warmUp, [first], [second]])
    t.strictSame(statusOnly({ [first.tx.id]: expected[first.tx.id]!, [second.tx.id]: expected[second.tx.id]! }), {
      [first.tx.id]: { status: 'accepted', reason: null },
      [second.tx.id]: { status: 'rejected', reason: 'insufficient_balance' },
    })

    const shared = freshDatabase()
    bookAlone(shared, publicKeys, [warmUp])
    const admin = side(t, shared)
    const folder = mkdtempSync(join(tmpdir(), 'wristpay-pg-resume-'))
    t.teardown(() => rmSync(folder, { recursive: true, force: true }))
    const resumeFile = join(folder, 'resume')
    // Gateway A has decided bar-1's sale and stops before writing it; gateway B then gets bar-2's sale.
    const [a, b] = [gatewayA, gatewayB]
    a.load({ url: shared, publicKeys, batches: [[first]], pauseAt: { batch: 1, writes: 1, resumeFile } })
    b.load({ url: `${shared}?application_name=wristpay-second`, publicKeys, batches: [[second]] })
    await a.next('ready')
    await b.next('ready')
    a.send({ kind: 'go' })
    t.equal((await a.next('paused')).kind, 'paused')
    b.send({ kind: 'go' })
    // B must end up waiting for a lock A holds (alice's balance), not decide on the balance A has not written yet.
    let waiting: { wait_event_type: string | null; blocked_by: number }[] = []
    for (let i = 0; i < 400 && waiting[0]?.wait_event_type !== 'Lock'; i++) {
      waiting = admin.query(`SELECT wait_event_type, cardinality(pg_blocking_pids(pid)) AS blocked_by FROM pg_stat_activity WHERE application_name = 'wristpay-second'`)
      if (waiting[0]?.wait_event_type !== 'Lock') await new Promise((resolve) => setTimeout(resolve, 50))
    }
    t.strictSame(waiting, [{ wait_event_type: 'Lock', blocked_by: 1 }], "gateway B waits for gateway A's batch")
    writeFileSync(resumeFile, '')
    const [doneA, doneB] = await Promise.all([a.next('done'), b.next('done')])
    if (doneA!.kind !== 'done' || doneB!.kind !== 'done') return t.fail(`a gateway failed: ${JSON.stringify([doneA, doneB])}`)
    t.strictSame(statusOnly({ ...doneA.answers, ...doneB.answers }), statusOnly({ [first.tx.id]: expected[first.tx.id]!, [second.tx.id]: expected[second.tx.id]! }), 'the answers of one gateway')
    t.strictSame(ledgerRows(admin), ledgerRows(side(t, reference)), 'the ledger of one gateway')
    const check = createPgLedgerStore({ url: shared })
    t.teardown(() => check.close())
    t.equal(check.account(`customer:${UID.alice}`)?.balance, 100)
    t.strictSame(check.checkInvariants(), [])
  })
}
