// The kiosk's durable outbox (SQLite, WAL, synchronous=FULL).
//
// Every signed transaction is on disk before it is published, and stays until
// the gateway answered it; after a crash the pending ones are sent again. The
// chain head (next seq, hash of the last envelope) lives in the same database
// and moves in the same SQLite transaction as the insert, so a restart can
// neither skip a seq nor reuse one, and `prev` is always the hash of the
// envelope that really came before.
//
// An answered envelope is kept for a while after its answer (KeepAnswered: a
// count and an age, whichever keeps more, within a byte budget), exactly as
// signed: a gateway restored from a backup lacks what it answered after the
// backup, and the kiosk sends it those envelopes again (chain-guard.ts).
//
// SQLite cannot tell an emptied or rolled-back file from a new one; the chain
// check against the gateway (chain-guard.ts) does, and rebase() goes on from
// the gateway's head. A file SQLite itself finds corrupt is refused at open.
import type BetterSqlite3 from 'better-sqlite3'
import type { Clock, Envelope, TxResult } from '../device-protocol/index.js'
import { GENESIS_HASH, MAX_OFFLINE_CAP_WINDOW_MS, envelopeHash } from '../device-protocol/index.js'
import { UNRECORDED_REASONS, planRebase, type ChainDamageReport, type GatewayHead } from './chain-check.js'
import { migrateKioskDatabase } from './migrations.js'
import { isStorageFull, storageFaultCode } from '../device-protocol/storage-fault.js'
import { requirePackage } from './require-package.js'

const Database = requirePackage('better-sqlite3') as typeof BetterSqlite3

export class OutboxFullError extends Error {
  override readonly name = 'OutboxFullError'
  constructor(readonly maxEntries: number) {
    super(`outbox full: ${maxEntries} transactions are waiting for the gateway; no new sales until it answers`)
  }
}

/** The outbox file is not a database, or SQLite finds it corrupt: the daemon must not start on it (nor start over). */
export class OutboxDamagedError extends Error {
  override readonly name = 'OutboxDamagedError'
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(
      `outbox ${path} is damaged (${detail}); refusing to start rather than begin an empty chain. ` +
        'Keep the file for inspection, move it and its -wal/-shm files aside, then start again: ' +
        'the kiosk checks its chain with the gateway and waits for an operator to confirm (POST /recovery/confirm)',
    )
  }
}

/**
 * The outbox's database could not take a write (disk full, I/O error, locked
 * past the busy timeout): the SQLite transaction rolled back, nothing changed.
 * It passes once the disk takes writes again; the next write simply tries.
 */
export class OutboxStorageError extends Error {
  override readonly name = 'OutboxStorageError'
  constructor(
    /** SQLite's (or the file system's) code: SQLITE_FULL, SQLITE_IOERR_WRITE, SQLITE_BUSY, ENOSPC, ... */
    readonly code: string,
    cause: unknown,
  ) {
    super(`outbox storage ${isStorageFull(code) ? 'full' : 'failed'} (${code}): nothing was stored`, { cause })
  }
}

/** What rebase() did: entries signed again, from which seq to which. */
export interface RebaseResult {
  head: ChainHead
  kept: number
  resigned: Array<{ id: string; fromSeq: number; toSeq: number }>
}

/** Signs `entry`'s transaction again on another seq and prev (same id and content). */
export type Resign = (entry: OutboxEntry, seq: number, prev: string) => Envelope

export interface OutboxEntry {
  seq: number
  id: string
  envelope: Envelope
  /** Clock time of the append, Unix ms. */
  createdAt: number
}

export interface AnsweredRecord {
  id: string
  seq: number
  status: 'accepted' | 'rejected'
  balance?: number
  reason?: string
  answeredAt: number
}

export type MarkAnsweredResult =
  | { outcome: 'recorded'; entry: OutboxEntry; record: AnsweredRecord }
  /** Already answered earlier: the first answer stands, `record` is it. */
  | { outcome: 'duplicate'; record: AnsweredRecord }
  /** Not in the outbox and not in the (bounded) history. */
  | { outcome: 'unknown' }

/** The kiosk's last accepted sale or return: what a cancel may undo. */
export interface LastSale {
  id: string
  seq: number
  type: 'sale' | 'return'
  amount: number
  /** `at` of the transaction, Unix ms (kiosk clock). */
  at: number
  tag: { uid: string; type: string }
  /** A cancel of it was accepted. */
  cancelled: boolean
}

/** Unanswered offline sales (returns excluded), cents. */
export interface OfflineTotals {
  tagCents: number
  kioskCents: number
  /** Unanswered offline entries (sales and returns). */
  count: number
}

export interface ChainHead {
  nextSeq: number
  prev: string
}

export interface Outbox {
  /**
   * Reads the chain head, lets `buildTx` build and sign the envelope for that
   * seq/prev, stores it and advances the head, all in one SQLite transaction.
   * Throws OutboxFullError (nothing changes) when maxEntries are unanswered.
   * `within` runs in the same SQLite transaction after the insert (a card
   * payment record closed together with its append); if it throws, nothing is stored.
   */
  append(buildTx: (seq: number, prev: string) => Envelope, within?: (entry: OutboxEntry) => void): OutboxEntry
  markAnswered(id: string, result: Pick<TxResult, 'status' | 'balance' | 'reason'>): MarkAnsweredResult
  /** Unanswered entries in seq order, optionally from `fromSeq` on. */
  pending(options?: { fromSeq?: number; limit?: number }): OutboxEntry[]
  /** One unanswered entry by id. */
  get(id: string): OutboxEntry | undefined
  depth(): number
  isFull(): boolean
  head(): ChainHead
  /** The recorded answer of a transaction, while it is within the history bound. */
  answered(id: string): AnsweredRecord | undefined
  /**
   * Answered envelopes still kept (OutboxOptions.keepAnswered), in seq order,
   * optionally from `fromSeq` on: byte for byte as signed and sent, for a
   * gateway restored from a backup that lacks them. Never signed again.
   */
  keptAnswered(options?: { fromSeq?: number; limit?: number }): OutboxEntry[]
  /** How many answered envelopes are kept, their bytes, and the lowest kept seq (undefined when none). */
  keptTotals(): { count: number; bytes: number; firstSeq: number | undefined }
  /** Whether an answer the gateway recorded too is recorded for `seq` (within the history bound). */
  answeredSeq(seq: number): boolean
  /**
   * Whether `seq`'s only recorded answers are refusals the gateway did not
   * record (chain-check.ts UNRECORDED_REASONS): the seq is void, the gateway's
   * cursor did not pass it.
   */
  voidedSeq(seq: number): boolean
  /**
   * Goes on from the gateway's head (chain-check.ts planRebase): entries below
   * it and entries that chain from it stay, the others are signed again on the
   * next seqs, and the head moves to the end, in one SQLite transaction.
   * Clears the recorded damage.
   */
  rebase(gateway: GatewayHead, resign: Resign): RebaseResult
  /**
   * Signs an unanswered entry again on the head (same id) and moves the head:
   * for an entry the gateway refused as seq_conflict, which it never booked.
   */
  requeue(id: string, resign: Resign): OutboxEntry | undefined
  /** Damage found by the chain check and not yet confirmed by an operator (kept across restarts). */
  chainDamage(): ChainDamageReport | undefined
  setChainDamage(report: ChainDamageReport | undefined): void
  /** The accepted sale or return with the highest seq (kept across restarts), or undefined. */
  lastSale(): LastSale | undefined
  /** What unanswered offline sales add up to, for the wristband `uid` and for the whole kiosk. */
  offlineTotals(uid?: string): OfflineTotals
  /**
   * What the offline caps count for `uid` and for the kiosk: unanswered
   * offline sales, and offline sales the gateway booked whose answer came
   * after `sinceMs` (this kiosk's clock). The gateway counts the offline
   * sales it booked within its cap window; its answer comes after its
   * booking, so this count holds at least what the gateway's does and a
   * sale the till hands out offline is never one the gateway then refuses
   * as beyond the cap.
   */
  offlineExposure(uid: string, sinceMs: number): { tagCents: number; kioskCents: number }
  readonly maxEntries: number
  /** The SQLite connection, for stores whose writes must commit together with an append (daemon/card-payments.ts). */
  readonly database: BetterSqlite3.Database
  close(): void
}

export interface OutboxOptions {
  path: string
  /** Unanswered entries allowed before new sales are refused. */
  maxEntries: number
  clock: Clock
  /** Answered results kept for the UI and audits (oldest dropped first). */
  historySize?: number
  /** When given, the database is bound to this kiosk: opening it for another kiosk fails. */
  kioskId?: string
  /** How long answered envelopes are kept (default DEFAULT_KEEP_ANSWERED). */
  keepAnswered?: KeepAnswered
}

/**
 * The window of answered envelopes the outbox keeps, so that a gateway restored
 * from a backup can be sent what it answered after the backup. An envelope goes
 * only when it is beyond the newest `count` AND older than `maxAgeMs` (whichever
 * keeps more), or when the kept envelopes exceed `maxBytes` (oldest first): a
 * Pi's SD card never fills with them. Zeros keep none.
 */
export interface KeepAnswered {
  count: number
  maxAgeMs: number
  maxBytes: number
}

/** 10,000 envelopes or 7 days, whichever keeps more, at most 64 MiB (an envelope is about 500 bytes). */
export const DEFAULT_KEEP_ANSWERED: KeepAnswered = { count: 10_000, maxAgeMs: 7 * 24 * 3_600_000, maxBytes: 64 * 1024 * 1024 }

interface EntryRow {
  seq: number
  id: string
  envelope: string
  created_at: number
}

interface AnsweredRow {
  id: string
  seq: number
  status: 'accepted' | 'rejected'
  balance: number | null
  reason: string | null
  answered_at: number
}

function toEntry(row: EntryRow): OutboxEntry {
  return { seq: row.seq, id: row.id, envelope: JSON.parse(row.envelope) as Envelope, createdAt: row.created_at }
}

function toRecord(row: AnsweredRow): AnsweredRecord {
  const record: AnsweredRecord = { id: row.id, seq: row.seq, status: row.status, answeredAt: row.answered_at }
  if (row.balance !== null) record.balance = row.balance
  if (row.reason !== null) record.reason = row.reason
  return record
}

/** The outbox connection's SQLite page cache, KiB (see createOutbox). */
export const OUTBOX_PAGE_CACHE_KIB = 2000

export function createOutbox(options: OutboxOptions): Outbox {
  const { path, maxEntries, clock } = options
  const historySize = options.historySize ?? 10_000
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`)
  if (!Number.isInteger(historySize) || historySize < 0) throw new RangeError(`historySize must be a non-negative integer, got ${historySize}`)
  const keep = options.keepAnswered ?? DEFAULT_KEEP_ANSWERED
  for (const [name, value] of Object.entries(keep)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`keepAnswered.${name} must be a non-negative integer, got ${value}`)
  }

  let db: BetterSqlite3.Database
  try {
    db = new Database(path)
  } catch (err) {
    throw damagedOrRethrow(path, err)
  }
  try {
    // better-sqlite3 builds SQLite with a 16 MB page cache per connection; the outbox (up to
    // historySize answered entries, some MB) would fill it over a day of sales and keep it
    // resident on the kiosk's Pi. 2 MB, SQLite's own default, holds what a sale reads (the
    // chain head, the pending entries, the id index); the rest stays in the OS's file cache.
    // Set before the quick check below, which reads every page.
    db.pragma(`cache_size = -${OUTBOX_PAGE_CACHE_KIB}`)
    // Before anything writes: a corrupt file must be refused, never half-used or started over.
    const check = db.pragma('quick_check', { simple: true }) as string
    if (check !== 'ok') throw new OutboxDamagedError(path, `integrity check: ${String(check).slice(0, 200)}`)
    db.pragma('journal_mode = WAL')
    // FULL: a committed append has been fsynced, so it survives a power cut
    // that happens right after the transaction was published.
    db.pragma('synchronous = FULL')
    // The tables (this file's and the card-payment records') come from the kiosk database's migrations.
    migrateKioskDatabase(db, `outbox ${path}`)
    db.prepare('INSERT OR IGNORE INTO chain (one, next_seq, last_hash) VALUES (1, 1, ?)').run(GENESIS_HASH)
    if (options.kioskId !== undefined) {
      db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('kiosk', options.kioskId)
      const bound = (db.prepare('SELECT value FROM meta WHERE key = ?').get('kiosk') as { value: string }).value
      if (bound !== options.kioskId) throw new Error(`outbox ${path} belongs to kiosk ${bound}, not ${options.kioskId}`)
    }
  } catch (err) {
    db.close()
    throw damagedOrRethrow(path, err)
  }

  const selectHead = db.prepare('SELECT next_seq AS nextSeq, last_hash AS prev FROM chain WHERE one = 1')
  const updateHead = db.prepare('UPDATE chain SET next_seq = ?, last_hash = ? WHERE one = 1')
  const countPending = db.prepare('SELECT count(*) AS n FROM pending')
  const insertPending = db.prepare('INSERT INTO pending (seq, id, envelope, created_at) VALUES (?, ?, ?, ?)')
  const selectPendingById = db.prepare('SELECT seq, id, envelope, created_at FROM pending WHERE id = ?')
  const selectPendingFrom = db.prepare('SELECT seq, id, envelope, created_at FROM pending WHERE seq >= ? ORDER BY seq LIMIT ?')
  const deletePending = db.prepare('DELETE FROM pending WHERE id = ?')
  // Reasons are our own constants, not input: inlined as SQL string literals.
  const unrecorded = UNRECORDED_REASONS.map((r) => `'${r}'`).join(', ')
  const selectAnsweredSeq = db.prepare(`SELECT 1 FROM answered WHERE seq = ? AND (reason IS NULL OR reason NOT IN (${unrecorded})) LIMIT 1`)
  const selectVoidedSeq = db.prepare(`SELECT 1 FROM answered WHERE seq = ? AND reason IN (${unrecorded}) LIMIT 1`)
  const selectMeta = db.prepare('SELECT value FROM meta WHERE key = ?')
  const deleteMeta = db.prepare('DELETE FROM meta WHERE key = ?')
  const upsertMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
  const insertAnswered = db.prepare('INSERT INTO answered (id, seq, status, balance, reason, answered_at) VALUES (?, ?, ?, ?, ?, ?)')
  const selectAnswered = db.prepare('SELECT id, seq, status, balance, reason, answered_at FROM answered WHERE id = ?')
  const pruneAnswered = db.prepare('DELETE FROM answered WHERE n <= (SELECT max(n) FROM answered) - ?')
  // Answered envelopes kept for a restored gateway: copied from pending as stored, so the bytes never change.
  const keepEnvelope = db.prepare(`INSERT INTO answered_envelopes (seq, id, envelope, created_at, answered_at, status, balance, reason)
    SELECT seq, id, envelope, created_at, ?, ?, ?, ? FROM pending WHERE id = ?`)
  const dropKeptAt = db.prepare('DELETE FROM answered_envelopes WHERE seq = ? OR id = ?')
  const dropKeptFrom = db.prepare('DELETE FROM answered_envelopes WHERE seq >= ?')
  const dropKeptSeq = db.prepare('DELETE FROM answered_envelopes WHERE seq = ?')
  const selectKeptTotals = db.prepare('SELECT count, bytes FROM answered_envelopes_total WHERE one = 1')
  const selectOldestKept = db.prepare('SELECT seq, answered_at FROM answered_envelopes ORDER BY seq LIMIT 1')
  const selectKeptFrom = db.prepare('SELECT seq, id, envelope, created_at FROM answered_envelopes WHERE seq >= ? ORDER BY seq LIMIT ?')
  const selectKeptSeq = db.prepare('SELECT 1 FROM answered_envelopes WHERE seq = ?')
  const selectKeptAnswer = db.prepare('SELECT id, seq, status, balance, reason, answered_at FROM answered_envelopes WHERE id = ?')
  const selectLastSale = db.prepare('SELECT id, seq, type, amount, at, tag, cancelled FROM last_sale WHERE one = 1')
  // Answers may come out of order (late answers): the highest seq is the last sale.
  const upsertLastSale = db.prepare(`INSERT INTO last_sale (one, id, seq, type, amount, at, tag, cancelled) VALUES (1, ?, ?, ?, ?, ?, ?, 0)
    ON CONFLICT (one) DO UPDATE SET id = excluded.id, seq = excluded.seq, type = excluded.type, amount = excluded.amount, at = excluded.at, tag = excluded.tag, cancelled = 0
    WHERE excluded.seq > last_sale.seq`)
  const cancelLastSale = db.prepare('UPDATE last_sale SET cancelled = 1 WHERE one = 1 AND id = ?')
  // json_extract of JSON true is 1. The pending table is bounded by maxEntries, so a scan is cheap.
  const sumOffline = db.prepare(`SELECT
      coalesce(sum(CASE WHEN json_extract(envelope, '$.tx.type') = 'sale' THEN json_extract(envelope, '$.tx.amount') ELSE 0 END), 0) AS kioskCents,
      coalesce(sum(CASE WHEN json_extract(envelope, '$.tx.type') = 'sale' AND json_extract(envelope, '$.tx.tag.uid') = ? THEN json_extract(envelope, '$.tx.amount') ELSE 0 END), 0) AS tagCents,
      count(*) AS count
    FROM pending WHERE json_extract(envelope, '$.tx.offline') = 1`)
  const insertOfflineBooked = db.prepare('INSERT INTO offline_booked (id, uid, amount, answered_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING')
  const pruneOfflineBooked = db.prepare('DELETE FROM offline_booked WHERE answered_at < ?')
  const sumOfflineBooked = db.prepare(`SELECT
      coalesce(sum(amount), 0) AS kioskCents,
      coalesce(sum(CASE WHEN uid = ? THEN amount ELSE 0 END), 0) AS tagCents
    FROM offline_booked WHERE answered_at > ?`)

  const depth = (): number => (countPending.get() as { n: number }).n
  const answeredSeq = (seq: number): boolean => selectAnsweredSeq.get(seq) !== undefined || selectKeptSeq.get(seq) !== undefined
  // A kept envelope carries its answer: a duplicate answer is told from an unknown one while either is there.
  const answerOf = (id: string): AnsweredRow | undefined => (selectAnswered.get(id) ?? selectKeptAnswer.get(id)) as AnsweredRow | undefined

  /** Drops the oldest kept envelopes beyond the window (KeepAnswered); one row at a time, usually none or one. */
  function pruneKept(): void {
    const cutoff = clock.now() - keep.maxAgeMs
    for (;;) {
      const totals = selectKeptTotals.get() as { count: number; bytes: number }
      const oldest = selectOldestKept.get() as { seq: number; answered_at: number } | undefined
      if (oldest === undefined) return
      const beyondWindow = totals.count > keep.count && oldest.answered_at < cutoff
      if (!beyondWindow && totals.bytes <= keep.maxBytes) return
      dropKeptSeq.run(oldest.seq)
    }
  }
  // Settings may have shrunk since the last run.
  db.transaction(pruneKept).immediate()
  const head = (): ChainHead => selectHead.get() as ChainHead

  const appendTx = db.transaction((buildTx: (seq: number, prev: string) => Envelope, within?: (entry: OutboxEntry) => void): OutboxEntry => {
    if (depth() >= maxEntries) throw new OutboxFullError(maxEntries)
    const { nextSeq, prev } = head()
    const envelope = buildTx(nextSeq, prev)
    // The builder must use the head it was given, or the chain would break at the gateway.
    if (envelope.tx.seq !== nextSeq || envelope.tx.prev !== prev) {
      throw new Error(`outbox append: built transaction has seq ${envelope.tx.seq}/prev ${envelope.tx.prev}, expected ${nextSeq}/${prev}`)
    }
    const createdAt = clock.now()
    insertPending.run(nextSeq, envelope.tx.id, JSON.stringify(envelope), createdAt)
    updateHead.run(nextSeq + 1, envelopeHash(envelope))
    const entry = { seq: nextSeq, id: envelope.tx.id, envelope, createdAt }
    within?.(entry)
    return entry
  })

  /** Signs `entry` again on (seq, prev) and stores it there; the builder must keep id and content. */
  function storeResigned(entry: OutboxEntry, seq: number, prev: string, resign: Resign): Envelope {
    const envelope = resign(entry, seq, prev)
    if (envelope.tx.id !== entry.id || envelope.tx.seq !== seq || envelope.tx.prev !== prev) {
      throw new Error(`outbox re-sign: built ${envelope.tx.id} seq ${envelope.tx.seq}, expected ${entry.id} seq ${seq} on the given prev`)
    }
    insertPending.run(seq, entry.id, JSON.stringify(envelope), entry.createdAt)
    return envelope
  }

  const rebaseTx = db.transaction((gateway: GatewayHead, resign: Resign): RebaseResult => {
    const pendingNow = (selectPendingFrom.all(1, -1) as EntryRow[]).map(toEntry)
    const plan = planRebase(gateway, pendingNow)
    // Delete first: the new seqs may be held by rows that move too.
    for (const { entry } of plan.resign) deletePending.run(entry.id)
    // Kept envelopes from the gateway's head on are not what it holds (the chain goes on from there without them).
    dropKeptFrom.run(gateway.nextSeq)
    let prev = plan.lastKeptHash
    const resigned: RebaseResult['resigned'] = []
    for (const { entry, seq } of plan.resign) {
      prev = envelopeHash(storeResigned(entry as OutboxEntry, seq, prev, resign))
      resigned.push({ id: entry.id, fromSeq: entry.seq, toSeq: seq })
    }
    const head = { nextSeq: plan.nextSeq, prev }
    updateHead.run(head.nextSeq, head.prev)
    deleteMeta.run('chain_damage')
    return { head, kept: plan.keep.length, resigned }
  })

  const requeueTx = db.transaction((id: string, resign: Resign): OutboxEntry | undefined => {
    const row = selectPendingById.get(id) as EntryRow | undefined
    if (!row) return undefined
    const entry = toEntry(row)
    const { nextSeq, prev } = head()
    deletePending.run(id)
    const envelope = storeResigned(entry, nextSeq, prev, resign)
    updateHead.run(nextSeq + 1, envelopeHash(envelope))
    return { seq: nextSeq, id, envelope, createdAt: entry.createdAt }
  })

  function trackLastSale({ tx }: Envelope): void {
    if (tx.type === 'sale' || tx.type === 'return') {
      upsertLastSale.run(tx.id, tx.seq, tx.type, tx.amount, tx.at, JSON.stringify({ uid: tx.tag.uid, type: tx.tag.type }))
    } else if (tx.type === 'cancel' && tx.ref !== undefined) cancelLastSale.run(tx.ref)
  }

  function trackOfflineBooked({ tx }: Envelope, answeredAt: number): void {
    if (tx.type !== 'sale' || tx.offline !== true) return
    insertOfflineBooked.run(tx.id, tx.tag.uid, tx.amount, answeredAt)
    // Older than the longest window a policy may name counts under no policy.
    pruneOfflineBooked.run(answeredAt - MAX_OFFLINE_CAP_WINDOW_MS)
  }

  const markTx = db.transaction((id: string, result: Pick<TxResult, 'status' | 'balance' | 'reason'>): MarkAnsweredResult => {
    const row = selectPendingById.get(id) as EntryRow | undefined
    if (!row) {
      const earlier = answerOf(id)
      return earlier ? { outcome: 'duplicate', record: toRecord(earlier) } : { outcome: 'unknown' }
    }
    const answeredAt = clock.now()
    // Kept only when the gateway recorded it: a seq refused unrecorded is void and goes to another envelope.
    if (!(UNRECORDED_REASONS as readonly string[]).includes(result.status === 'rejected' ? (result.reason ?? '') : '')) {
      dropKeptAt.run(row.seq, id)
      keepEnvelope.run(answeredAt, result.status, result.balance ?? null, result.reason ?? null, id)
      pruneKept()
    }
    deletePending.run(id)
    insertAnswered.run(id, row.seq, result.status, result.balance ?? null, result.reason ?? null, answeredAt)
    pruneAnswered.run(historySize)
    if (result.status === 'accepted') {
      const envelope = JSON.parse(row.envelope) as Envelope
      trackLastSale(envelope)
      trackOfflineBooked(envelope, answeredAt)
    }
    const record = toRecord({ id, seq: row.seq, status: result.status, balance: result.balance ?? null, reason: result.reason ?? null, answered_at: answeredAt })
    return { outcome: 'recorded', entry: toEntry(row), record }
  })

  let closed = false
  return {
    maxEntries,
    // immediate: take the write lock before reading the head, so two writers can never read the same head.
    append: (buildTx, within) => storageGuarded(() => appendTx.immediate(buildTx, within)),
    database: db,
    markAnswered: (id, result) => storageGuarded(() => markTx.immediate(id, result)),
    pending(opts = {}) {
      const fromSeq = opts.fromSeq ?? 1
      const limit = opts.limit ?? -1 // SQLite: a negative LIMIT means no limit
      return (selectPendingFrom.all(fromSeq, limit) as EntryRow[]).map(toEntry)
    },
    get(id) {
      const row = selectPendingById.get(id) as EntryRow | undefined
      return row ? toEntry(row) : undefined
    },
    depth,
    isFull: () => depth() >= maxEntries,
    head,
    answered(id) {
      const row = selectAnswered.get(id) as AnsweredRow | undefined
      return row ? toRecord(row) : undefined
    },
    keptAnswered(opts = {}) {
      return (selectKeptFrom.all(opts.fromSeq ?? 1, opts.limit ?? -1) as EntryRow[]).map(toEntry)
    },
    keptTotals() {
      const totals = selectKeptTotals.get() as { count: number; bytes: number }
      const oldest = selectOldestKept.get() as { seq: number } | undefined
      return { count: totals.count, bytes: totals.bytes, firstSeq: oldest?.seq }
    },
    answeredSeq,
    voidedSeq: (seq) => selectVoidedSeq.get(seq) !== undefined && !answeredSeq(seq),
    rebase: (gateway, resign) => rebaseTx.immediate(gateway, resign),
    requeue: (id, resign) => requeueTx.immediate(id, resign),
    chainDamage() {
      const row = selectMeta.get('chain_damage') as { value: string } | undefined
      return row === undefined ? undefined : (JSON.parse(row.value) as ChainDamageReport)
    },
    setChainDamage(report) {
      if (report === undefined) deleteMeta.run('chain_damage')
      else upsertMeta.run('chain_damage', JSON.stringify(report))
    },
    lastSale() {
      const row = selectLastSale.get() as { id: string; seq: number; type: 'sale' | 'return'; amount: number; at: number; tag: string; cancelled: number } | undefined
      if (!row) return undefined
      return { id: row.id, seq: row.seq, type: row.type, amount: row.amount, at: row.at, tag: JSON.parse(row.tag) as LastSale['tag'], cancelled: row.cancelled === 1 }
    },
    offlineTotals(uid) {
      return sumOffline.get(uid ?? null) as OfflineTotals
    },
    offlineExposure(uid, sinceMs) {
      const unanswered = sumOffline.get(uid) as OfflineTotals
      const booked = sumOfflineBooked.get(uid, sinceMs) as { kioskCents: number; tagCents: number }
      return { tagCents: unanswered.tagCents + booked.tagCents, kioskCents: unanswered.kioskCents + booked.kioskCents }
    },
    close() {
      if (closed) return
      closed = true
      db.close()
    },
  }
}

/** Runs a write; a storage fault comes out as an OutboxStorageError (better-sqlite3 has rolled the transaction back). */
function storageGuarded<T>(write: () => T): T {
  try {
    return write()
  } catch (err) {
    const code = storageFaultCode(err)
    throw code === undefined ? err : new OutboxStorageError(code, err)
  }
}

/** SQLite's own words for a file that is no database or is corrupt, as an OutboxDamagedError; anything else as it was. */
function damagedOrRethrow(path: string, err: unknown): unknown {
  if (err instanceof OutboxDamagedError) return err
  const code = (err as { code?: unknown }).code
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'))) {
    return new OutboxDamagedError(path, String((err as Error).message).slice(0, 200))
  }
  return err
}
