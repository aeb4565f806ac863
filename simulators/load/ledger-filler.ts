// The ledger filler: gives a gateway database a long history fast, so that the
// growth bench can measure ingest and the portal on a ledger of millions of
// postings without replaying them over MQTT. It writes what the gateway itself
// would have written for the same envelopes (ledger-filler.test.ts books them
// again through the real ledger and compares), straight into the tables with
// prepared statements, many transactions per commit:
// - every envelope is really signed by its kiosk's key and chained to the one
//   before, so the audit verifies every signature and every chain;
// - each wristband is topped up in cash once, then buys the same cart again and
//   again at one kiosk (a beer and a cup deposit: a customer, a revenue and a
//   deposit posting), never going below zero;
// - postings sum to zero per transaction, balances and kiosk cursors are
//   written once at the end as the sums of what was booked.
// Signing is the cost: it runs in worker threads (ledger-filler-worker.ts, a
// share of the kiosks each: a chain's next envelope needs the hash of the one
// before), while this thread writes the rows.
import { randomUUID, type KeyObject } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { taxOfGross, type Line } from '../../device-protocol/index.js'
import { accountIds } from '../../gateway/ledger/types.js'
import { SIGNING_THREAD_SOURCE, type FilledRow, type FillerWorkerData, type FillerWorkerMessage } from './ledger-filler-worker.js'

export interface LedgerFillOptions {
  /** A gateway database at the current schema with the event set-up imported (the kiosks, wristbands and products below exist). */
  db: Database.Database
  /** Kiosks whose chains are extended; each may sell and take cash top-ups without a cash register. */
  kiosks: ReadonlyArray<{ id: string; privateKey: KeyObject }>
  /** Wristbands the history is about; each belongs to one kiosk (index modulo the kiosks). */
  wristbands: readonly string[]
  /** The cart every sale sells (products of the kiosks' booth, at their catalog prices). */
  cart: ReadonlyArray<{ product: string; qty: number }>
  /** At least this many postings (the result says how many it wrote: whole histories of wristbands). */
  postings: number
  /** The history is stamped over `spanMs` before `endAtMs` (kiosk clock and booking time alike). */
  endAtMs?: number
  spanMs?: number
  /** Transactions per batch a signing thread posts (the whole fill is one commit). */
  chunk?: number
  /** Signing threads (default: one per core). */
  workers?: number
  /** Receipt ids (random by default, as the ledger makes them). */
  newReceiptId?: () => string
}

export interface LedgerFill {
  postings: number
  transactions: number
  wristbands: number
  salesPerWristband: number
  ms: number
}

interface Product {
  name: string
  kind: string
  price: number
  taxRate: number
}

interface KioskChain {
  id: string
  booth: string
  privateKey: KeyObject
  startSeq: number
  nextSeq: number
  lastHash: string
  wristbands: string[]
}

export async function fillLedger(options: LedgerFillOptions): Promise<LedgerFill> {
  const started = performance.now()
  const { db } = options
  if (options.kiosks.length === 0 || options.wristbands.length === 0 || options.cart.length === 0) throw new Error('the filler needs kiosks, wristbands and a cart')
  const newReceiptId = options.newReceiptId ?? randomUUID
  const endAtMs = options.endAtMs ?? Date.now()
  const spanMs = options.spanMs ?? 24 * 3600_000
  const chunk = options.chunk ?? 1_000

  const kioskRow = db.prepare<[string], { booth: string; next_seq: number; last_hash: string; sale_allowed: number; topup_allowed: number }>(
    `SELECT booth, next_seq, last_hash, sale_allowed, topup_allowed FROM kiosks WHERE id = ?`,
  )
  const productRow = db.prepare<[string, string], { name: string; kind: string; price: number; tax_rate: number }>(`SELECT name, kind, price, tax_rate FROM products WHERE booth = ? AND id = ?`)
  const accountBalance = db.prepare<[string], { balance: number }>(`SELECT balance FROM accounts WHERE id = ?`)

  const chains: KioskChain[] = options.kiosks.map((k) => {
    const row = kioskRow.get(k.id)
    if (row === undefined) throw new Error(`kiosk ${k.id} is not in the database`)
    if (row.sale_allowed !== 1 || row.topup_allowed !== 1) throw new Error(`kiosk ${k.id} must be allowed to sell and to take cash top-ups`)
    return { id: k.id, booth: row.booth, privateKey: k.privateKey, startSeq: row.next_seq, nextSeq: row.next_seq, lastHash: row.last_hash, wristbands: [] }
  })
  const booth = chains[0]!.booth
  if (chains.some((c) => c.booth !== booth)) throw new Error('the filled kiosks must share one booth')
  const products = new Map<string, Product>()
  for (const { product } of options.cart) {
    const row = productRow.get(booth, product)
    if (row === undefined) throw new Error(`product ${product} is not sold at booth ${booth}`)
    if (row.kind !== 'item' && row.kind !== 'deposit') throw new Error(`product ${product} is a ${row.kind}: the filler sells items and deposits`)
    products.set(product, { name: row.name, kind: row.kind, price: row.price, taxRate: row.tax_rate })
  }
  const lines: Line[] = options.cart.map(({ product, qty }) => ({ product, qty, unitPrice: products.get(product)!.price }))
  const saleAmount = lines.reduce((sum, l) => sum + l.qty * l.unitPrice, 0)
  const itemTotal = lines.filter((l) => products.get(l.product)!.kind === 'item').reduce((sum, l) => sum + l.qty * l.unitPrice, 0)
  const depositTotal = saleAmount - itemTotal
  if (saleAmount <= 0 || itemTotal < 0 || depositTotal < 0) throw new Error('the cart must cost something and give nothing back')
  const hasItems = lines.some((l) => products.get(l.product)!.kind === 'item')
  const hasDeposits = lines.some((l) => products.get(l.product)!.kind === 'deposit')
  // As the rules post a cart: the customer, the booth's revenue (all item lines in one), the booth's deposits.
  const postingsPerSale = 1 + (hasItems ? 1 : 0) + (hasDeposits ? 1 : 0)

  // A top-up (2 postings) and `sales` carts per wristband; fewer wristbands when the target is small.
  const wristbandCount = Math.max(1, Math.min(options.wristbands.length, Math.floor(options.postings / (2 + postingsPerSale))))
  const salesPerWristband = Math.max(1, Math.ceil((options.postings / wristbandCount - 2) / postingsPerSale))
  const topupAmount = salesPerWristband * saleAmount
  const uids = options.wristbands.slice(0, wristbandCount)
  const balances = new Map<string, number>()
  for (const uid of uids) {
    const row = accountBalance.get(accountIds.customer(uid))
    if (row === undefined) throw new Error(`wristband ${uid} has no account`)
    balances.set(uid, row.balance)
  }
  // Each wristband at one kiosk: its top-up first, then its sales, round robin with the kiosk's other wristbands.
  uids.forEach((uid, i) => chains[i % chains.length]!.wristbands.push(uid))

  const insertTx = db.prepare(`
    INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id, payment_ref, staff, result_extras, offline)
    VALUES (?, ?, ?, ?, ?, ?, 'accepted', NULL, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0)`)
  const insertPosting = db.prepare(`INSERT INTO postings (tx_id, account, amount) VALUES (?, ?, ?)`)
  const insertLine = db.prepare(`INSERT INTO line_items (tx_id, line_no, product, name, kind, qty, unit_price, total, tax_rate, tax) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const addToBalance = db.prepare(`UPDATE accounts SET balance = balance + ? WHERE id = ?`)
  const moveCursor = db.prepare(`UPDATE kiosks SET next_seq = ?, last_hash = ? WHERE id = ? AND next_seq = ?`)

  const deltas = new Map<string, number>()
  let transactions = 0
  let postings = 0
  const post = (account: string, txId: string, amount: number) => {
    insertPosting.run(txId, account, amount)
    deltas.set(account, (deltas.get(account) ?? 0) + amount)
    postings += 1
  }
  // Every sale's line items are the same but for their transaction: bound from one list.
  const lineRows = lines.map((line, lineNo) => {
    const p = products.get(line.product)!
    const total = line.qty * line.unitPrice
    return [lineNo, line.product, p.name, p.kind, line.qty, line.unitPrice, total, p.taxRate, taxOfGross(total, p.taxRate)] as const
  })
  /** Writes a signing thread's batch; inside the fill's one transaction (below), so without one of its own. */
  const writeRows = (rows: FilledRow[]) => {
    for (const [id, kiosk, seq, type, uid, amount, balanceAfter, hash, envelope, at] of rows) {
      insertTx.run(id, kiosk, seq, type, uid, amount, balanceAfter, hash, envelope, at, booth, newReceiptId())
      // In the order the ledger's rules write them: a sale's customer, revenue, deposits; a top-up's drawer, then customer.
      if (type === 'sale') {
        post(accountIds.customer(uid), id, -amount)
        if (hasItems) post(revenueAccount, id, itemTotal)
        if (hasDeposits) post(depositAccount, id, depositTotal)
        for (const line of lineRows) insertLine.run(id, ...line)
      } else {
        post(accountIds.cash(kiosk), id, -amount)
        post(accountIds.customer(uid), id, amount)
      }
    }
    transactions += rows.length
  }
  const revenueAccount = accountIds.revenue(booth)
  const depositAccount = accountIds.deposit(booth)

  const longestChain = Math.max(...chains.map((c) => c.wristbands.length)) * (1 + salesPerWristband)
  const stepMs = spanMs / Math.max(1, longestChain)
  const keyOf = new Map(options.kiosks.map((k) => [k.id, k.privateKey]))
  const threads = Math.max(1, Math.min(chains.length, options.workers ?? availableParallelism()))
  const running: Worker[] = []
  /** Set when a thread or a write failed: the other threads are stopped and what they still send is not written. */
  let failed = false
  /** Runs one signing thread over its share of the chains; resolves with where each chain ended. */
  function signingThread(share: KioskChain[]): Promise<Array<{ id: string; nextSeq: number; lastHash: string }>> {
    const data: FillerWorkerData = {
      chains: share.map((c) => ({
        id: c.id,
        privateKey: keyOf.get(c.id)!.export({ format: 'der', type: 'pkcs8' }),
        nextSeq: c.nextSeq,
        lastHash: c.lastHash,
        wristbands: c.wristbands.map((uid) => [uid, balances.get(uid)!]),
      })),
      lines,
      saleAmount,
      topupAmount,
      salesPerWristband,
      startAtMs: endAtMs - spanMs,
      stepMs,
      batch: chunk,
    }
    // No TypeScript loader in the thread: it would take seconds to start.
    const worker = new Worker(SIGNING_THREAD_SOURCE, { eval: true, execArgv: [], workerData: data })
    running.push(worker)
    return new Promise((resolve, reject) => {
      let done: Array<{ id: string; nextSeq: number; lastHash: string }> | undefined
      worker.on('message', (message: FillerWorkerMessage) => {
        if (message.kind === 'done') done = message.chains
        else if (!failed) {
          try {
            writeRows(message.rows)
            worker.postMessage('ack')
          } catch (err) {
            failed = true
            void worker.terminate()
            reject(err as Error)
          }
        }
      })
      worker.once('error', reject)
      worker.once('exit', (code) => (done !== undefined ? resolve(done) : reject(new Error(`a signing thread of the ledger filler exited with ${code} before it finished`))))
    })
  }

  // Bulk settings for the fill only: this connection is the file's only one, and a fill that fails leaves a
  // file to throw away (the filled ledger is a benchmark's fixture, never a ledger of real money): no rollback
  // journal and no fsync, and the whole fill in one transaction, so that a page is written about once instead of
  // at every commit (with a commit per thousand transactions, the randomly ordered indexes rewrote most of their
  // pages each time).
  const settings = {
    journal: db.pragma('journal_mode', { simple: true }) as string,
    synchronous: db.pragma('synchronous', { simple: true }) as number,
    foreignKeys: db.pragma('foreign_keys', { simple: true }) as number,
    cacheSize: db.pragma('cache_size', { simple: true }) as number,
  }
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.pragma('foreign_keys = OFF')
  db.pragma('cache_size = -1048576')
  // The secondary indexes the ledger's unique constraints do not need are built after the rows, from their own
  // definitions: one sort each instead of millions of inserts at random places. The file holds the same schema
  // and rows (ledger-filler.test.ts compares both with what the real ledger writes).
  const laterIndexes = db
    .prepare<[], { name: string; sql: string }>(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('transactions', 'postings', 'line_items') ORDER BY name`)
    .all()
  db.exec('BEGIN IMMEDIATE')
  let committed = false
  try {
    for (const index of laterIndexes) db.exec(`DROP INDEX "${index.name.replaceAll('"', '""')}"`)
    const ends = (
      await Promise.all(Array.from({ length: threads }, (_, w) => signingThread(chains.filter((_, i) => i % threads === w)))).catch(async (err: unknown) => {
        failed = true
        await Promise.all(running.map((w) => w.terminate()))
        throw err
      })
    ).flat()
    for (const end of ends) Object.assign(chains.find((c) => c.id === end.id)!, { nextSeq: end.nextSeq, lastHash: end.lastHash })
    for (const [account, delta] of deltas) addToBalance.run(delta, account)
    for (const chain of chains)
      if (moveCursor.run(chain.nextSeq, chain.lastHash, chain.id, chain.startSeq).changes !== 1) throw new Error(`kiosk ${chain.id}: its cursor moved during the fill`)
    for (const index of laterIndexes) db.exec(index.sql)
    db.exec('COMMIT')
    committed = true
  } finally {
    // Without a journal SQLite cannot roll back (its ROLLBACK is undefined then): a fill that failed ends its
    // transaction with what it wrote, a file its caller throws away.
    if (!committed && db.inTransaction) db.exec('COMMIT')
    db.pragma(`cache_size = ${settings.cacheSize}`)
    db.pragma(`foreign_keys = ${settings.foreignKeys}`)
    db.pragma(`synchronous = ${settings.synchronous}`)
    db.pragma(`journal_mode = ${settings.journal}`)
  }
  return { postings, transactions, wristbands: wristbandCount, salesPerWristband, ms: Math.round(performance.now() - started) }
}
