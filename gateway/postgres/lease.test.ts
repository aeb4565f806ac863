// The job lease (lease.ts): one holder at a time across gateways sharing a
// database, takeover only after the expiry (by the database's clock), a
// fencing token that grows on each takeover, and the single gateway's lease
// that always holds. Expiry is reached by moving a lease's expiry into the
// past from a side connection, never by waiting.
import t, { type Test } from 'tap'
import { postgresForFile } from '../testing/postgres-server.js'
import { openPgConnection, type PgConnection } from './connection.js'
import { createPgLease, soleLease } from './lease.js'
import { migratePgDatabase } from './migrations.js'

t.test('the single gateway (SQLite) holds every lease, always with the same token', async (t) => {
  const lease = soleLease('reconciliation')
  const held = lease.acquire()
  t.strictSame(held?.token, 1)
  t.strictSame(lease.renew(held!)?.token, 1)
  t.ok(lease.holds(held!))
  lease.release(held!)
  t.strictSame(lease.acquire()?.token, 1, 'released, and held again at once')
  t.throws(() => soleLease('Not A Name'), /lease name/)
})

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const { freshDatabase } = pg

  /** A migrated database and `n` connections to it, closed after the test. */
  function connections(t: Test, n: number): PgConnection[] {
    const url = freshDatabase('lease').url
    const conns = Array.from({ length: n }, () => openPgConnection({ url }))
    t.teardown(() => conns.forEach((c) => c.close()))
    migratePgDatabase(conns[0]!)
    return conns
  }

  /** The holder's lease ends now, as if it had stopped renewing long enough ago (its process died or hung). */
  const lapse = (side: PgConnection, name: string) => side.query(`UPDATE job_leases SET expires_at = clock_timestamp() - interval '1 second' WHERE name = $1`, [name])

  t.test('one holder at a time; the other gets the lease only after release or expiry, with a higher token', async (t) => {
    const [a, b, side] = connections(t, 3)
    const gatewayA = createPgLease({ conn: a!, name: 'payout-export', holder: 'gateway-a', ttlMs: 60_000 })
    const gatewayB = createPgLease({ conn: b!, name: 'payout-export', holder: 'gateway-b', ttlMs: 60_000 })

    const first = gatewayA.acquire()
    t.equal(first?.token, 1, 'a free lease is taken with token 1')
    t.equal(gatewayB.acquire(), undefined, 'held by A: B does not get it')
    t.equal(gatewayA.acquire()?.token, 1, 'A asking again keeps its token')
    t.equal(gatewayA.renew(first!)?.token, 1, 'A renews')
    t.ok(gatewayA.holds(first!))

    gatewayA.release(first!)
    t.notOk(gatewayA.holds(first!), 'released: A no longer holds it')
    const second = gatewayB.acquire()
    t.equal(second?.token, 2, 'B takes it over after the release, token 2')
    t.equal(gatewayA.renew(first!), undefined, "A's renewal with its old token fails: it must stop the job")
    t.equal(gatewayA.acquire(), undefined, 'and A cannot take it back while B holds it')

    lapse(side!, 'payout-export')
    t.notOk(gatewayB.holds(second!), 'expired: B no longer holds it')
    t.equal(gatewayB.renew(second!), undefined, 'an expired holding is not renewed (another may have taken it)')
    const third = gatewayA.acquire()
    t.equal(third?.token, 3, 'A takes the expired lease over, token 3')
    t.notOk(gatewayB.holds(second!), "B's token 2 is fenced off")
    gatewayB.release(second!)
    t.ok(gatewayA.holds(third!), "B's late release does not end A's holding")

    lapse(side!, 'payout-export')
    t.equal(gatewayA.acquire()?.token, 4, 'the same holder after its own lease lapsed gets a new token: someone may have held it between')
  })

  t.test('leases of different jobs are independent; expiry is by the database clock', async (t) => {
    const [a, b, side] = connections(t, 3)
    const reconciliationA = createPgLease({ conn: a!, name: 'reconciliation', holder: 'gateway-a', ttlMs: 30_000 })
    const bankImportB = createPgLease({ conn: b!, name: 'bank-import', holder: 'gateway-b', ttlMs: 30_000 })
    const reconciliationB = createPgLease({ conn: b!, name: 'reconciliation', holder: 'gateway-b', ttlMs: 30_000 })
    const held = reconciliationA.acquire()!
    t.equal(bankImportB.acquire()?.token, 1, 'B holds the bank import')
    t.equal(reconciliationB.acquire(), undefined, 'but not the reconciliation A holds')
    const [now] = side!.query<{ ms: number }>(`SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS ms`)
    t.ok(held.expiresAtMs > now!.ms && held.expiresAtMs <= now!.ms + 30_000, "the expiry is the database's time plus the lease's length")
    t.strictSame(
      side!.query(`SELECT name, holder, token FROM job_leases ORDER BY name`),
      [
        { name: 'bank-import', holder: 'gateway-b', token: 1 },
        { name: 'reconciliation', holder: 'gateway-a', token: 1 },
      ],
    )
  })

  t.test('nonsense options are refused before any statement', async (t) => {
    const [a] = connections(t, 1)
    t.throws(() => createPgLease({ conn: a!, name: "x'; DROP TABLE job_leases; --", ttlMs: 60_000 }), /lease name/)
    t.throws(() => createPgLease({ conn: a!, name: 'reconciliation', ttlMs: 0 }), /lasts 1 000 to 3 600 000 ms/)
    t.throws(() => createPgLease({ conn: a!, name: 'reconciliation', ttlMs: 1.5e3 + 0.5 }), /lasts/)
    t.throws(() => createPgLease({ conn: a!, name: 'reconciliation', holder: '', ttlMs: 60_000 }), /holder/)
    t.strictSame(a!.query(`SELECT count(*) AS n FROM job_leases`), [{ n: 0 }])
  })
}
