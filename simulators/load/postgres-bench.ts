// The bench's PostgreSQL part: the same load generator against one gateway
// whose store is PostgreSQL, in the same run as the SQLite figures, so that an
// operator can read the two side by side. A private PostgreSQL 15 is started
// in a temporary folder on the same disk as the SQLite part's ledger (the
// system's temp folder, not /dev/shm: fsync must cost what it costs SQLite),
// on a free loopback port, with fsync and synchronous_commit on; the gateway
// gets `--store` with the password in a 0600 passfile, as an operator gives
// it, and keeps its embedded broker, so what differs from the SQLite part is
// the store. Shorter than the SQLite part: the reference load (500/s offered,
// open loop) and a capacity search with fewer steps. In the same run, the
// limit PostgreSQL puts on it: commits/s at the batch sizes ingest uses, each
// a transaction of about what a booking writes, one statement at a time over
// the gateway's own synchronous connection (a round trip per statement, as
// the store does). Returns the fields of the JSON line's `postgres` key, or
// `{ skipped }` with the reason where the server's binaries or pg-native are
// missing.
import { createRequire } from 'node:module'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createLedger } from '../../gateway/ledger/index.js'
import { openPgConnection, type PgConnection } from '../../gateway/postgres/connection.js'
import { createPgSqlDatabase } from '../../gateway/postgres/sql-database.js'
import { exited, freePort, startGatewayProcess } from '../../gateway/testing/gateway-process.js'
import { passfileUrl, POSTGRES_BIN, postgresInstalled, startPostgresServer, type PostgresServer } from '../../gateway/testing/postgres-server.js'
import { benchBuild } from './bench-build.js'
import { measuredRunArgs, processCpuMeter, runLoadProcess } from './bench-run.js'
import { busiestSecondsCpu } from './busiest-seconds.js'
import type { LoadReport } from './cli.js'
import { createLoadEvent, writeJsonPrivately } from './load-event.js'

export interface PostgresBenchOptions {
  kiosks: number
  wristbands: number
  /** Offered open loop, one phase each: the reference load (500/s) by default. */
  ratesPerSec: number[]
  phaseMs: number
  drainMs: number
  capacity: { p99LimitMs: number; maxPhases: number; phaseMs: number }
  /** How long each commit limit is measured. */
  limitMs: number
  /** Sales per commit at which PostgreSQL's commits are measured (ingest commits 1 to 512 at a time). */
  batchSizes: number[]
}

/** In the full run: about a minute on a quiet machine (the SQLite part's kiosks and wristbands, 5 s at 500/s, at most 3 search phases of 3 s), so the whole bench stays under ten minutes. */
export const FULL_POSTGRES_BENCH: PostgresBenchOptions = {
  kiosks: 200,
  wristbands: 1000,
  ratesPerSec: [500],
  phaseMs: 5_000,
  drainMs: 5_000,
  capacity: { p99LimitMs: 50, maxPhases: 3, phaseMs: 3_000 },
  limitMs: 1_000,
  batchSizes: [1, 16, 128, 512],
}

/** `--quick`: a smoke check of the part in about 10 s on a quiet machine. */
export const QUICK_POSTGRES_BENCH: PostgresBenchOptions = {
  kiosks: 20,
  wristbands: 100,
  ratesPerSec: [500],
  phaseMs: 1_000,
  drainMs: 2_000,
  capacity: { p99LimitMs: 50, maxPhases: 1, phaseMs: 1_000 },
  limitMs: 200,
  batchSizes: [1, 64, 512],
}

/** Why the PostgreSQL part cannot run on this machine, or undefined when it can. */
export function postgresBenchUnavailable(): string | undefined {
  if (!postgresInstalled()) return `PostgreSQL 15 server binaries not found in ${POSTGRES_BIN} (apt-get install postgresql, or set WRISTPAY_POSTGRES_BIN)`
  try {
    createRequire(import.meta.url)('pg-native')
  } catch {
    return 'the optional package pg-native is not installed (apt-get install libpq-dev, then npm install)'
  }
  return undefined
}

/**
 * Commits per second of PostgreSQL as the ledger store commits: over one
 * synchronous connection, one transaction per batch, per sale a transaction
 * row with its envelope, two postings and two balance updates, each a prepared
 * statement of its own. Tables of its own (limit_*) on `connection`'s database.
 */
export function measurePostgresCommitsPerSec(connection: PgConnection, batchSize: number, durationMs: number): number {
  const suffix = `b${batchSize}`
  connection.query(`
    DROP TABLE IF EXISTS limit_postings, limit_transactions, limit_accounts;
    CREATE TABLE limit_accounts (id integer PRIMARY KEY, balance bigint NOT NULL);
    CREATE TABLE limit_transactions (id text PRIMARY KEY, kiosk text NOT NULL, seq integer NOT NULL, envelope text NOT NULL, UNIQUE (kiosk, seq));
    CREATE TABLE limit_postings (id bigserial PRIMARY KEY, tx text NOT NULL REFERENCES limit_transactions(id), account integer NOT NULL REFERENCES limit_accounts(id), amount bigint NOT NULL);
    INSERT INTO limit_accounts (id, balance) SELECT g, 0 FROM generate_series(1, 1001) g;
  `)
  const envelope = randomBytes(330).toString('base64') // about a signed sale's JSON
  const accounts = 1000
  let seq = 0
  const commit = (n: number) => {
    connection.query('BEGIN')
    try {
      for (let i = 0; i < n; i++) {
        seq += 1
        const id = `tx-${seq}`
        const guest = 2 + (seq % accounts)
        connection.run(`limit_tx_${suffix}`, 'INSERT INTO limit_transactions (id, kiosk, seq, envelope) VALUES ($1, $2, $3, $4)', [id, 'bench-1', seq, envelope])
        connection.run(`limit_posting_${suffix}`, 'INSERT INTO limit_postings (tx, account, amount) VALUES ($1, $2, $3)', [id, guest, -450])
        connection.run(`limit_posting_${suffix}`, 'INSERT INTO limit_postings (tx, account, amount) VALUES ($1, $2, $3)', [id, 1, 450])
        connection.run(`limit_move_${suffix}`, 'UPDATE limit_accounts SET balance = balance + $1 WHERE id = $2', [-450, guest])
        connection.run(`limit_move_${suffix}`, 'UPDATE limit_accounts SET balance = balance + $1 WHERE id = $2', [450, 1])
      }
      connection.query('COMMIT')
    } catch (error) {
      connection.query('ROLLBACK')
      throw error
    }
  }
  const start = performance.now()
  let commits = 0
  while (performance.now() - start < durationMs) {
    commit(batchSize)
    commits += 1
  }
  // Tenths: a batch of 512 one statement at a time may take longer than a second on a busy machine.
  return Math.round((commits * 10_000) / (performance.now() - start)) / 10
}

/** After the gateway stopped: what its ledger on PostgreSQL holds and whether it balances. */
function checkPostgresBooks(url: string): { salesBooked: number; ledgerBalanced: boolean; invariantViolations: number } {
  const connection = openPgConnection({ url, statementTimeoutMs: 120_000 })
  try {
    const ledger = createLedger({ db: createPgSqlDatabase(connection), clock: systemClock, logger: pino({ level: 'silent' }) })
    const [row] = connection.query<{ n: number }>("SELECT count(*) AS n FROM transactions WHERE type = 'sale' AND status = 'accepted'")
    const violations = ledger.checkInvariants()
    return { salesBooked: Number(row?.n ?? 0), ledgerBalanced: ledger.sumOfAllBalances() === 0, invariantViolations: violations.length }
  } finally {
    connection.close()
  }
}

export async function runPostgresBench(options: PostgresBenchOptions, log: (line: string) => void): Promise<Record<string, unknown>> {
  const unavailable = postgresBenchUnavailable()
  if (unavailable !== undefined) {
    log(`postgres: skipped: ${unavailable}`)
    return { skipped: unavailable }
  }
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bench-pg-'))
  let server: PostgresServer | undefined
  try {
    // On the disk, beside the SQLite part's files: on /dev/shm (the tests' default) a commit's fsync would cost nothing.
    server = await startPostgresServer({ folderIn: tmpdir() })
    log(`postgres: private PostgreSQL 15 on 127.0.0.1:${server.port} in ${tmpdir()} (fsync on, synchronous_commit on)`)

    const postgresCommitsPerSec: Record<string, number> = {}
    const limitConnection = openPgConnection({ url: passfileUrl(server.createDatabase('commit_limit'), dir) })
    try {
      for (const size of options.batchSizes) {
        postgresCommitsPerSec[String(size)] = measurePostgresCommitsPerSec(limitConnection, size, options.limitMs)
        log(`limit: PostgreSQL commits/s of ${size} sale(s) each, one synchronous connection, a statement per row: ${postgresCommitsPerSec[String(size)]} (${Math.round(postgresCommitsPerSec[String(size)]! * size)} sales/s)`)
      }
    } finally {
      limitConnection.close()
    }

    const store = passfileUrl(server.createDatabase('wristpay'), dir)
    const { setup, fleet } = createLoadEvent({ kiosks: options.kiosks, wristbands: options.wristbands })
    const eventFile = join(dir, 'event.json')
    const fleetFile = join(dir, 'fleet.json')
    writeJsonPrivately(eventFile, setup)
    writeJsonPrivately(fleetFile, fleet)
    const port = await freePort()
    const startMs = performance.now()
    const gateway = await startGatewayProcess(
      ['--event', eventFile, '--data-dir', join(dir, 'gateway'), '--store', store, '--mqtt-port', String(port), '--http-port', '0'],
      {},
      { entryArgs: benchBuild().gatewayArgs, startTimeoutMs: 180_000 },
    )
    log(`postgres: gateway on the PostgreSQL store listening after ${((performance.now() - startMs) / 1000).toFixed(1)} s (migrations and the event set-up included)`)
    const pid = gateway.pid ?? 0
    const cpu = processCpuMeter(pid)
    let report: LoadReport
    try {
      report = await runLoadProcess(
        measuredRunArgs({ mqttUrl: `mqtt://127.0.0.1:${port}`, fleetFile, kiosks: options.kiosks, drainMs: options.drainMs, ratesPerSec: options.ratesPerSec, phaseMs: options.phaseMs, capacity: options.capacity }),
        (line) => log(`postgres: ${line}`),
      )
    } finally {
      cpu.stop()
      gateway.kill('SIGTERM')
      await exited(gateway)
    }
    const books = checkPostgresBooks(store)
    const phases = [...report.openLoop, ...(report.capacity?.phases ?? [])]
    const offeredSales = phases.reduce((n, p) => n + p.sales, 0)
    const acceptedSales = phases.reduce((n, p) => n + p.accepted, 0)
    log(
      `postgres: books: ${books.salesBooked} of ${offeredSales} sales offered are booked (${acceptedSales} answered accepted within their phases, the rest later), ` +
        `balanced: ${books.ledgerBalanced}, invariant violations: ${books.invariantViolations}`,
    )
    const reference = report.openLoop.find((p) => p.offeredPerSec === 500) ?? report.openLoop[0]
    // The main thread waits for the server without using CPU (pg-native blocks in libpq): its CPU per sale is not its time per sale.
    const busiest = busiestSecondsCpu(cpu.samples(), report.throughput)
    const gatewayCpu = { ...cpu.perSale(books.salesBooked), ...(busiest === undefined ? {} : { busiest }) }
    return {
      e2eSalesPerSec: Math.max(0, ...phases.map((p) => p.achievedPerSec)),
      latencyMs: { p50: reference?.p50 ?? 0, p99: reference?.p99 ?? 0, max: reference?.max ?? 0, atOfferedPerSec: reference?.offeredPerSec ?? 0 },
      openLoop: report.openLoop.map(({ offeredPerSec, achievedPerSec, p50, p99, p999, max, unanswered, rejected }) => ({ offeredPerSec, achievedPerSec, p50, p99, p999, max, unanswered, rejected })),
      closedLoopCapacityPerSec: report.capacity?.capacityPerSec ?? 0,
      capacityP99LimitMs: options.capacity.p99LimitMs,
      capacitySearch: (report.capacity?.phases ?? []).map((p) => ({ offeredPerSec: p.offeredPerSec, achievedPerSec: p.achievedPerSec, p50: p.p50, p99: p.p99, unanswered: p.unanswered })),
      limits: { postgresCommitsPerSec },
      kiosks: report.kiosks,
      salesOffered: offeredSales,
      salesAnsweredInPhases: acceptedSales,
      salesBooked: books.salesBooked,
      gatewayCpu,
      ledgerBalanced: books.ledgerBalanced,
      invariantViolations: books.invariantViolations,
    }
  } finally {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The lines that set the two stores side by side: capacity, p99 at the reference load, the best commit rate. */
export function storeComparisonLines(sqlite: Record<string, unknown>, postgres: Record<string, unknown>): string[] {
  type Figures = { closedLoopCapacityPerSec?: number; latencyMs?: { p99: number; atOfferedPerSec: number }; e2eSalesPerSec?: number }
  const bestCommits = (commits: Record<string, number> | undefined) =>
    commits === undefined || Object.keys(commits).length === 0 ? undefined : Math.round(Math.max(...Object.entries(commits).map(([size, n]) => Number(size) * n)))
  const row = (name: string, f: Figures, commits: Record<string, number> | undefined) =>
    `${name.padEnd(10)} ${String(f.closedLoopCapacityPerSec ?? '–').padStart(13)} ${String(f.latencyMs?.p99 ?? '–').padStart(13)} ${String(f.e2eSalesPerSec ?? '–').padStart(12)} ${String(bestCommits(commits) ?? '–').padStart(20)}`
  const lines = [`${'store'.padEnd(10)} ${'capacity/s'.padStart(13)} ${'p99 ms @500/s'.padStart(13)} ${'most/s'.padStart(12)} ${'commit limit sales/s'.padStart(20)}`]
  if (sqlite.closedLoopCapacityPerSec !== undefined) lines.push(row('SQLite', sqlite as Figures, (sqlite.limits as { sqliteCommitsPerSec?: Record<string, number> } | undefined)?.sqliteCommitsPerSec))
  if (postgres.skipped === undefined) lines.push(row('PostgreSQL', postgres as Figures, (postgres.limits as { postgresCommitsPerSec?: Record<string, number> } | undefined)?.postgresCommitsPerSec))
  else lines.push(`PostgreSQL skipped: ${String(postgres.skipped)}`)
  return lines
}
