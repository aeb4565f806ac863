// A gateway killed (SIGKILL) in the middle of a batch, while it holds its
// kiosks' locks in the shared PostgreSQL database (issue 18, point 2): the
// server rolls its transaction back, nothing of that batch is there, and the
// envelopes delivered again (to another gateway) give the ledger of a gateway
// that never died. The gateways are child processes (testing/pg-gateways.ts).
import t, { type Test } from 'tap'
import type { Envelope } from '../../device-protocol/index.js'
import { openPgConnection, type PgConnection } from '../postgres/connection.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { createPgLedgerStore, kioskLockKey } from './pg-store.js'
import type { GatewayChildMessage } from './testing/pg-gateway-child.js'
import { batchesOf, bookAlone, bookTogether, ledgerRows, scenario, seeded, startGateway, statusOnly } from './testing/pg-gateways.js'

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const { server } = pg
  server.createDatabase('kill_template')
  createPgLedgerStore({ url: server.url('kill_template') }).close()
  const freshDatabase = () => pg.freshDatabase('kill', 'kill_template').url
  const side = (t: Test, url: string): PgConnection => {
    const conn = openPgConnection({ url })
    t.teardown(() => conn.close())
    return conn
  }

  t.test('a gateway killed mid-batch loses nothing: its transaction rolls back, and the redelivered envelopes give the same ledger', async (t) => {
    const { publicKeys, warmUp, all } = scenario(42)
    const random = seeded(3)
    const batches = batchesOf(all, 8, random)
    const reference = freshDatabase()
    bookAlone(reference, publicKeys, [warmUp, ...batches])

    const shared = freshDatabase()
    bookAlone(shared, publicKeys, [warmUp])
    const admin = side(t, shared)
    // The dying gateway stops in a batch after its first transaction is written (its kiosks' locks taken, part of the batch written).
    const pauseBatch = batches.findIndex((b, i) => i >= 3 && b.length >= 2) + 1
    // The gateway that gets the envelopes again starts now: a start costs seconds.
    const other = startGateway(t)
    const dying = startGateway(t, { url: `${shared}?application_name=wristpay-dying`, publicKeys, batches, pauseAt: { batch: pauseBatch, writes: 2 } })
    await dying.next('ready')
    dying.send({ kind: 'go' })
    const paused = await dying.next('paused')
    if (paused.kind !== 'paused') return t.fail(`the gateway failed before the pause: ${(paused as { message: string }).message}`)
    const pausedKiosks = [...new Set(batches[pauseBatch - 1]!.map((e) => e.tx.kiosk))]
    const heldLocks = admin
      .query<{ objid: number }>(
        `SELECT l.objid::bigint AS objid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'wristpay-dying' ORDER BY 1`,
      )
      .map((r) => r.objid)
    t.strictSame(heldLocks, [...new Set(pausedKiosks.map((k) => kioskLockKey(k) >>> 0))].sort((x, y) => x - y), "mid-batch it holds the locks of its batch's kiosks")
    const committedBefore = Object.keys(paused.answered).length
    // The gateway's machine dies: SIGKILL. The kernel closes its socket, the server ends its session and rolls its transaction back.
    dying.child.kill('SIGKILL')
    await dying.exited
    let sessions = 1
    for (let i = 0; i < 200 && sessions > 0; i++) {
      sessions = admin.query<{ n: number }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'wristpay-dying'`)[0]!.n
      if (sessions > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    t.equal(sessions, 0, 'the server has ended its session')
    t.strictSame(admin.query(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'`), [{ n: 0 }], 'and its locks with it')
    t.strictSame(
      admin.query<{ id: string }>(`SELECT id FROM transactions ORDER BY id`).map((r) => r.id).sort(),
      [...warmUp.map((e) => e.tx.id), ...Object.keys(paused.answered)].sort(),
      `only what it committed before the killed batch is there (${committedBefore} envelopes of the batches before it)`,
    )
    // Its unanswered envelopes come again, to the other gateway: all of them, the answered ones too (a resend is answered from the record).
    other.load({ url: shared, publicKeys, batches: batchesOf(all, 8, random) })
    const [redelivered] = await bookTogether([other])
    if (redelivered!.kind !== 'done') return t.fail(`the other gateway failed: ${(redelivered as { message: string }).message}`)
    const resent = Object.entries(redelivered!.answers).filter(([, a]) => a.replay).map(([id]) => id).sort()
    t.strictSame(resent, Object.keys(paused.answered).sort(), 'what the dead gateway had committed is answered as a resend, the rest is booked')
    t.strictSame(ledgerRows(admin), ledgerRows(side(t, reference)), 'the same ledger as a gateway that never died')
    const check = createPgLedgerStore({ url: shared })
    t.teardown(() => check.close())
    t.strictSame(check.checkInvariants(), [])
  })
}
