// A lease for the background jobs that must run once across the cluster
// (reconciliation, payout exports, the bank import queue) when several
// gateways share one PostgreSQL database: at most one gateway holds a job's
// lease at a time, and it runs the job only while it holds it.
//
// The lease is a row of `job_leases`: its holder, an expiry and a fencing
// token. Every comparison uses the database's clock (clock_timestamp()),
// never a gateway's, so gateways whose clocks disagree still agree on who
// holds it. The holder renews well before the expiry; a holder that dies or
// hangs stops renewing, and once the expiry has passed another gateway takes
// the lease over, with a token one higher than before. A job writes its token
// with its work (or checks holds() in the same transaction as its writes), so
// that a holder that was paused past its expiry and wakes up cannot overwrite
// what the new holder did: its token is lower.
//
// The single gateway on SQLite has no one to share with: soleLease() has the
// same interface and always holds.
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'
import type { PgConnection } from './connection.js'
import { pgConnectionOf } from './sql-database.js'

/** The lease as its holder holds it. */
export interface LeaseHolding {
  /** Grows on every takeover (a new holder, or the same one after its lease lapsed): the fencing token. */
  token: number
  /** When the lease ends unless renewed, in ms since the epoch by the database's clock. */
  expiresAtMs: number
}

export interface JobLease {
  /** The job the lease is for ('reconciliation', 'payout-export', 'bank-import'). */
  readonly name: string
  /** Who asks: unique per gateway process. */
  readonly holder: string
  /** How long a holding lasts without renewal (Infinity: it never lapses). */
  readonly ttlMs: number
  /**
   * Takes the lease if it is free or expired (a new token), or extends it if
   * this holder holds it (the same token). undefined: another holder holds it.
   */
  acquire(): LeaseHolding | undefined
  /** Extends the lease this holder holds with `holding`'s token; undefined if it has lapsed or been taken over (stop the job). */
  renew(holding: LeaseHolding): LeaseHolding | undefined
  /**
   * Whether the lease is still held with this token. Check it in the job's own
   * transaction before it writes, by handing that transaction's database as
   * `within`: on PostgreSQL the check then runs on that connection and keeps
   * the lease row share-locked until the transaction ends, so a takeover
   * waits for its commit and nothing of a former holder commits after it.
   */
  holds(holding: LeaseHolding, within?: SqlDatabase): boolean
  /** Ends the holding now, so another gateway need not wait for the expiry; nothing if it has lapsed already. */
  release(holding: LeaseHolding): void
}

export interface PgLeaseOptions {
  /**
   * The lease's own connection, not the ledger store's: a lease statement run
   * on a connection inside a batch would join (and wait for) that batch.
   */
  conn: PgConnection
  name: string
  /** Default: host name, process id and random bytes. */
  holder?: string
  /** How long a holding lasts without renewal. Renew at a fraction of it (a third, say). */
  ttlMs: number
}

/** One holder name per gateway process. */
export const defaultLeaseHolder = (): string => `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`

const EXPIRES_AT_MS = `(extract(epoch from expires_at) * 1000)::bigint AS expires_at_ms`

const SQL = {
  // Free, expired or already ours: take it. The token grows unless this holder still holds an unexpired lease.
  acquire: `INSERT INTO job_leases AS l (name, holder, token, expires_at) VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
    ON CONFLICT (name) DO UPDATE SET
      holder = excluded.holder,
      token = CASE WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp() THEN l.token ELSE l.token + 1 END,
      expires_at = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
    RETURNING token, ${EXPIRES_AT_MS}`,
  renew: `UPDATE job_leases SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
    WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp() RETURNING token, ${EXPIRES_AT_MS}`,
  holds: `SELECT 1 AS one FROM job_leases WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()`,
  // In the job's transaction: a takeover (an UPDATE of this row) waits until that transaction ends.
  holdsWithin: `SELECT 1 AS one FROM job_leases WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp() FOR SHARE`,
  // The row stays, so the next taker's token is higher still.
  release: `UPDATE job_leases SET expires_at = clock_timestamp() WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()`,
} as const

function checkedOptions(name: string, holder: string, ttlMs: number): void {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,62}$/.test(name)) throw new Error(`a lease name is lower-case letters, digits and '-' (at most 63), not ${JSON.stringify(name)}`)
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 200) throw new Error('a lease holder is a name of 1 to 200 characters')
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1_000 || ttlMs > 3_600_000) throw new Error(`a lease lasts 1 000 to 3 600 000 ms, not ${ttlMs}`)
}

/** The lease `name` in the database `conn` reaches (its schema migrated: postgres/migrations.ts). */
export function createPgLease({ conn, name, holder = defaultLeaseHolder(), ttlMs }: PgLeaseOptions): JobLease {
  checkedOptions(name, holder, ttlMs)
  const holdingOf = (rows: Array<{ token: number; expires_at_ms: number }>): LeaseHolding | undefined =>
    rows[0] === undefined ? undefined : { token: rows[0].token, expiresAtMs: rows[0].expires_at_ms }
  return {
    name,
    holder,
    ttlMs,
    acquire: () => holdingOf(conn.run('leaseAcquire', SQL.acquire, [name, holder, ttlMs])),
    renew: (holding) => holdingOf(conn.run('leaseRenew', SQL.renew, [name, holder, holding.token, ttlMs])),
    holds(holding, within) {
      if (within === undefined) return conn.run('leaseHolds', SQL.holds, [name, holder, holding.token]).length === 1
      const jobConn = pgConnectionOf(within)
      if (jobConn === undefined) throw new TypeError(`the job lease ${name} is in PostgreSQL; the job's database is not`)
      if (!within.inTransaction) throw new Error(`the job lease ${name} is checked within the job's transaction, and none is open`)
      return jobConn.run('leaseHoldsWithin', SQL.holdsWithin, [name, holder, holding.token]).length === 1
    },
    release(holding) {
      conn.run('leaseRelease', SQL.release, [name, holder, holding.token])
    },
  }
}

/** The leases of this gateway process on `conn` (its own connection for leases, see PgLeaseOptions): the gateway's leaseFor. */
export function pgLeases(conn: PgConnection, { ttlMs, holder = defaultLeaseHolder() }: { ttlMs: number; holder?: string }): (name: string) => JobLease {
  return (name) => createPgLease({ conn, name, holder, ttlMs })
}

/** The single gateway's lease (SQLite, no other gateway): always held, with one token that never changes. */
export function soleLease(name: string, holder = 'this-gateway'): JobLease {
  checkedOptions(name, holder, 1_000)
  // A far expiry: the sole holder never has to renew in time.
  const holding = (): LeaseHolding => ({ token: 1, expiresAtMs: Number.MAX_SAFE_INTEGER })
  return { name, holder, ttlMs: Infinity, acquire: holding, renew: holding, holds: () => true, release: () => {} }
}
