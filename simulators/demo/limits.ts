// The ceilings an end-to-end figure is compared against, measured in the same
// run on the same machine: how fast this machine verifies Ed25519 signatures,
// and how many QoS 1 request/answer round trips the embedded broker carries
// without any ledger behind it, and how many commits/s SQLite makes with the
// ledger's settings.
import { createServer, type AddressInfo, type Server } from 'node:net'
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'
import { openLedgerDatabase } from '../../gateway/ledger/db.js'
import { createWalSync } from '../../gateway/sql/wal-sync.js'
import { createVerifyPool } from '../../gateway/verify-pool.js'

/** Synchronous verifies of 64-byte messages on one core, per second. */
export function measureVerifiesPerSec(durationMs: number): number {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const message = randomBytes(64)
  const signature = sign(null, message, privateKey)
  const start = performance.now()
  let count = 0
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < 100; i++) verify(null, message, publicKey, signature)
    count += 100
  }
  return Math.round((count * 1000) / (performance.now() - start))
}

/**
 * Verifies per second on the gateway's signature-check threads (gateway/verify-pool.ts, as many threads as
 * the gateway starts), sent as ingest sends them: batches of `batch`, two in flight so a thread never waits.
 */
export async function measureVerifyThreadsPerSec(durationMs: number, batch = 64): Promise<{ perSec: number; threads: number }> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const text = randomBytes(48).toString('base64')
  const check = { key: publicKey, text, sig: sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64') }
  const checks = Array.from({ length: batch }, () => check)
  const pool = createVerifyPool()
  try {
    await pool.verify(checks) // the threads start outside the measured time
    const start = performance.now()
    let count = 0
    const sender = async (): Promise<void> => {
      while (performance.now() - start < durationMs) {
        await pool.verify(checks)
        count += batch
      }
    }
    await Promise.all([sender(), sender()])
    return { perSec: Math.round((count * 1000) / (performance.now() - start)), threads: pool.threads }
  } finally {
    await pool.close()
  }
}

/** Verifies per second with the callback API, which spreads them over libuv's thread pool. */
export async function measureAsyncVerifiesPerSec(durationMs: number, window = 256): Promise<number> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const message = randomBytes(64)
  const signature = sign(null, message, privateKey)
  const start = performance.now()
  let count = 0
  const worker = async (): Promise<void> => {
    while (performance.now() - start < durationMs) {
      await new Promise<void>((resolve) => verify(null, message, publicKey, signature, () => resolve()))
      count += 1
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  return Math.round((count * 1000) / (performance.now() - start))
}

/**
 * QoS 1 round trips per second through a bare aedes broker on loopback: a
 * client publishes a request of `payloadBytes` (default 200), a responder
 * subscribed to it publishes an answer, the client receives it; `window`
 * requests are kept in flight in all, spread over `connections` requesting
 * clients (default 1), so that it can be measured with as many connections and
 * as large a payload as the sales of the end-to-end benchmark.
 */
export async function measureBrokerRoundTripsPerSec(durationMs: number, window = 256, options: { connections?: number; payloadBytes?: number } = {}): Promise<number> {
  const connections = Math.max(1, options.connections ?? 1)
  const broker = await Aedes.createBroker()
  const server: Server = createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  const requesters: MqttClient[] = []
  const responder = await mqtt.connectAsync(url, { clientId: 'limit-responder' })
  try {
    // Connected a few at a time, as the load generator does.
    for (let i = 0; i < connections; i += 16) {
      const chunk = Array.from({ length: Math.min(16, connections - i) }, (_, j) => mqtt.connectAsync(url, { clientId: `limit-requester-${i + j}` }))
      requesters.push(...(await Promise.all(chunk)))
    }
    responder.on('message', (topic, payload) => responder.publish(`bench/answer/${topic.slice('bench/request/'.length)}`, payload, { qos: 1 }))
    await responder.subscribeAsync('bench/request/+', { qos: 1 })
    await Promise.all(requesters.map((r, i) => r.subscribeAsync(`bench/answer/${i}`, { qos: 1 })))
    const body = randomBytes(options.payloadBytes ?? 200)
    let answered = 0
    let sent = 0
    const start = performance.now()
    await new Promise<void>((resolve) => {
      requesters.forEach((requester, i) => {
        const sendOne = () => {
          sent += 1
          requester.publish(`bench/request/${i}`, body, { qos: 1 })
        }
        requester.on('message', () => {
          answered += 1
          if (performance.now() - start < durationMs) sendOne()
          else if (answered === sent) resolve()
        })
        // The window spread over the connections, at least one each.
        const share = Math.max(1, Math.floor(window / connections) + (i < window % connections ? 1 : 0))
        for (let k = 0; k < share; k++) sendOne()
      })
    })
    return Math.round((answered * 1000) / (performance.now() - start))
  } finally {
    await Promise.all(requesters.map((r) => r.endAsync()))
    await responder.endAsync()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/**
 * Commits per second of SQLite as ingest commits: a file in a temp folder
 * opened with the gateway's settings (WAL, synchronous=FULL, foreign keys),
 * one IMMEDIATE transaction per batch made without waiting for the disk, and
 * counted once the sync of the log that follows it (group commit,
 * gateway/sql/wal-sync.ts) called back; per sale about what a booking writes
 * (a transaction row with its envelope, two postings, two balances).
 * `batchSize` sales per commit: ingest commits whatever has arrived together,
 * one to maxBatch (512) at a time.
 */
export async function measureSqliteCommitsPerSec(batchSize: number, durationMs: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-sqlite-limit-'))
  const db = openLedgerDatabase(join(dir, 'limit.sqlite'))
  const sync = createWalSync(db)!
  try {
    db.exec(`
      CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
      CREATE TABLE transactions (id TEXT PRIMARY KEY, kiosk TEXT NOT NULL, seq INTEGER NOT NULL, envelope TEXT NOT NULL, UNIQUE (kiosk, seq));
      CREATE TABLE postings (id INTEGER PRIMARY KEY, tx TEXT NOT NULL REFERENCES transactions(id), account INTEGER NOT NULL REFERENCES accounts(id), amount INTEGER NOT NULL);
    `)
    const accounts = 1000
    const addAccount = db.prepare('INSERT INTO accounts (id, balance) VALUES (?, 0)')
    db.transaction(() => {
      for (let i = 1; i <= accounts + 1; i++) addAccount.run(i)
    })()
    const addTx = db.prepare('INSERT INTO transactions (id, kiosk, seq, envelope) VALUES (?, ?, ?, ?)')
    const addPosting = db.prepare('INSERT INTO postings (tx, account, amount) VALUES (?, ?, ?)')
    const move = db.prepare('UPDATE accounts SET balance = balance + ? WHERE id = ?')
    const envelope = randomBytes(330).toString('base64') // about a signed sale's JSON
    let seq = 0
    const commit = db.transaction((n: number) => {
      for (let i = 0; i < n; i++) {
        seq += 1
        const id = `tx-${seq}`
        const guest = 2 + (seq % accounts)
        addTx.run(id, 'bench-1', seq, envelope)
        addPosting.run(id, guest, -450)
        addPosting.run(id, 1, 450)
        move.run(-450, guest)
        move.run(450, 1)
      }
    })
    const start = performance.now()
    let durable = 0
    let committed = 0
    let failure: Error | undefined
    while (performance.now() - start < durationMs) {
      sync.withoutWaiting(() => commit.immediate(batchSize))
      committed += 1
      sync.whenDurable((err) => {
        failure ??= err
        durable += 1
      })
      // A turn of the event loop per commit, as ingest's: the syncs' callbacks run meanwhile.
      await new Promise((resolve) => setImmediate(resolve))
    }
    for (let i = 0; i < 10_000 && durable < committed; i++) await new Promise((resolve) => setTimeout(resolve, 1))
    if (failure !== undefined) throw failure
    return Math.round((durable * 1000) / (performance.now() - start))
  } finally {
    db.close()
    sync.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
