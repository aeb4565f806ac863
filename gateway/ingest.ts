// Transaction ingest: MQTT payloads from kiosks -> validated, signature-checked
// envelopes -> the ledger in batches -> replies and operator events.
//
// Order matters: a kiosk's envelopes must reach the ledger in the order they
// arrived, although their signature checks finish in any order on the thread
// pool. So every message takes its place in one FIFO at arrival and the flusher
// only ever takes settled entries from the head. Replies go out only after the
// SQLite commit that made them true.
import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import {
  MAX_PAYLOAD_BYTES,
  canonicalText,
  parseJson,
  validateEnvelope,
  verifyEnvelopeAsync,
  type AlertEvent,
  type BookedEvent,
  type Clock,
  type Envelope,
  type RejectReason,
  type ReplyMessage,
  type Transaction,
  type TxResult,
} from '../device-protocol/index.js'
import { storageFaultCode } from '../device-protocol/storage-fault.js'
import type { PinAttempt, PinAttemptLimiter, PinAttemptRefusal } from '../portal-api/index.js'
import type { Ledger, Outcome } from './ledger/index.js'
import type { Registry } from './registry/index.js'
import type { DeferredSync } from './sql/wal-sync.js'
import { createConcurrencyLimit } from './verify-limit.js'
import { sharedVerifyPool, type SignatureCheck, type VerifyPool } from './verify-pool.js'

/**
 * Enough checks in flight that the pool stays busy while the event loop is slow to hand it the next
 * ones (with only pool size - 1 in flight, ingest fell from 495 to 418 sales/s beside 200 portal
 * guests: each finished check waited for a turn of the loop before the next started), few enough that
 * a token check or file system call waits behind about a millisecond of checks, not thousands.
 */
export const DEFAULT_MAX_VERIFIES_IN_FLIGHT = 256

export type EventKind = 'booked' | 'alert'

/**
 * What ingest did, for whoever watches it (metrics, the fleet view). Observers
 * are called synchronously; a throw is logged and never reaches ingest.
 */
export type IngestObservation =
  /** A transaction was answered: `queuedMs` from its arrival to its answer, so queueing counts. */
  | { kind: 'answered'; kioskId: string; txType?: Transaction['type']; offline: boolean; status: 'accepted' | 'rejected'; reason?: RejectReason; replay: boolean; queuedMs: number }
  /** One SQLite transaction of `size` envelopes; `commitMs` measured on a monotonic clock. */
  | { kind: 'committed'; size: number; commitMs: number }
  /** A committed batch is on disk (group commit): `waitMs` from its commit to the sync that put it there, on a monotonic clock. */
  | { kind: 'synced'; size: number; waitMs: number }
  | { kind: 'commit_failed'; size: number }
  /** Dropped unanswered because the queue was full (the kiosk sends it again). */
  | { kind: 'dropped'; kioskId: string }

export interface IngestDeps {
  /** kioskCursor, when given, tells which kiosks still miss bookings after a storage fault (otherwise they are asked again from their first unbooked seq). */
  ledger: Pick<Ledger, 'applyBatch'> & Partial<Pick<Ledger, 'kioskCursor'>> & { registry: Pick<Registry, 'kioskPublicKey'> & Partial<Pick<Registry, 'forgetIfChangedElsewhere'>> }
  logger: Logger
  clock: Clock
  /** Publishes on the kiosk's reply topic. May return a promise; a failure is logged, never thrown. */
  publishReply(kioskId: string, message: ReplyMessage): void | Promise<unknown>
  publishEvent(kind: EventKind, payload: BookedEvent | AlertEvent): void | Promise<unknown>
  /** Most envelopes per SQLite transaction. */
  maxBatch?: number
  /** Messages waiting for verification or commit above which new ones are dropped (the kiosk sends again). */
  maxQueued?: number
  /** A kiosk that still has not filled a gap after this long is asked again. */
  resendRepeatMs?: number
  /**
   * While commits fail with a storage fault (disk full, I/O error, database locked), how often the kiosks
   * whose transactions were not booked are asked to send them again; 5 s by default.
   */
  storageRetryMs?: number
  /** Signature check, one envelope at a time; tests replace it to control when checks finish. Without it the checks run on `verifyPool`. */
  verify?: (envelope: Envelope, publicKey: KeyObject) => Promise<boolean>
  /**
   * Where the built-in checks run: the envelopes that arrived in one turn of the event loop go to its
   * worker threads as one batch. The process's shared pool (verify-pool.ts) by default.
   */
  verifyPool?: VerifyPool
  /**
   * Signature checks handed to libuv's thread pool at once (beside the portal's token checks): a replaced
   * `verify` (unlimited by default), and the built-in check when a batch's pool thread failed and its
   * envelopes are checked there instead (DEFAULT_MAX_VERIFIES_IN_FLIGHT by default); the others wait in ingest's queue.
   */
  maxVerifiesInFlight?: number
  /** Opens a tag switch's sealed PIN (the ledger's gateway key); without it tag switches find no PIN. */
  unsealPin?: (jwe: string) => Promise<string | undefined>
  /** The gateway's one limiter of PIN guessing; the kiosk is the source. Required with unsealPin. */
  pinAttempts?: PinAttemptLimiter
  /** A committed batch changed what kiosk configs hold (blocklist, wristband variants). */
  onConfigsChanged?: () => void
  /** Told of every answer, commit and drop (IngestObservation). */
  observe?: (observation: IngestObservation) => void
  /** Monotonic milliseconds for commit durations; performance.now by default. */
  monotonicNowMs?: () => number
  /**
   * Group commit (gateway/sql/wal-sync.ts): batches commit without waiting for the disk, and each is
   * answered once a later sync of the ledger's log has put it there, so the main thread books the next
   * batches meanwhile. Without it every commit waits for the disk itself (PostgreSQL, tests in memory).
   */
  durability?: Pick<DeferredSync, 'withoutWaiting' | 'whenDurable'>
}

export interface IngestCounters {
  received: number
  /** Not JSON, or not an envelope. */
  malformed: number
  /** tx.kiosk differs from the kiosk that published it. */
  kioskMismatch: number
  unknownKiosk: number
  badSignature: number
  /** New transactions the ledger accepted. */
  accepted: number
  /** Every refusal answered (before or by the ledger), replays not included. */
  rejected: number
  replays: number
  gaps: number
  resendRequests: number
  /** SQLite transactions committed. */
  batches: number
  /** Batches whose commit failed: nothing answered, the kiosks send again. */
  commitErrors: number
  /** Dropped because the queue was full. */
  dropped: number
  publishErrors: number
}

export interface Ingest {
  /** Never throws. `kioskIdFromTopic` is the kiosk the broker authenticated for this topic. */
  submit(kioskIdFromTopic: string, payload: Uint8Array | string): void
  /** Resolves once everything submitted so far has been committed and answered. */
  drain(): Promise<void>
  /**
   * Resolves once every message submitted before this call is done with: its batch committed and
   * answered, refused, or given up (commit failed, queue full: the kiosk sends it again). Unlike
   * drain() it does not wait for messages submitted later, so it settles batch by batch under load
   * (the external broker acknowledges a kiosk's message only then).
   */
  settled(): Promise<void>
  counters(): IngestCounters
  /** While commits fail with a storage fault: its latest code and since when (clock ms); undefined while they work. */
  storageFault(): { code: string; since: number } | undefined
}

type Entry =
  /** Refused before the ledger: the reply is known at arrival. */
  | { kind: 'reply'; kioskId: string; reply: TxResult; receivedAt: number; txType?: Transaction['type']; offline?: boolean }
  | {
      kind: 'verify'
      kioskId: string
      receivedAt: number
      envelope: Envelope
      /** canonicalText(envelope.tx): made once, for the signature check and for the ledger's hash. */
      txText: string
      settled: boolean
      ok: boolean
      pin?: string
      /** The opened PIN's attempt: counted as wrong until the ledger says otherwise. */
      pinAttempt?: Extract<PinAttempt, { allowed: true }>
      /** The limiter refused this kiosk: the PIN stays sealed and the ledger refuses unchecked. */
      pinRefused?: { reason: PinAttemptRefusal; retryAfterMs: number }
    }

type VerifyEntry = Extract<Entry, { kind: 'verify' }>

/** An envelope waiting for its signature check on the pool. */
interface PoolCheck extends SignatureCheck {
  entry: VerifyEntry
}

const KIOSK_ID = /^[a-z0-9][a-z0-9-]{0,31}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A kiosk id fit for a log line or an alert, whatever the topic held. */
function printableKiosk(kioskId: string): string {
  return KIOSK_ID.test(kioskId) ? kioskId : JSON.stringify(kioskId.slice(0, 40))
}

/**
 * From a payload that failed validation, the id and seq to address a refusal
 * to, if both are plainly there. Only own properties of plain parsed JSON are read.
 */
function salvageIdSeq(payload: Uint8Array | string): { id: string; seq: number } | undefined {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength
  if (size > MAX_PAYLOAD_BYTES) return undefined
  let value: unknown
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, 'tx')) return undefined
  const tx: unknown = (value as { tx: unknown }).tx
  if (typeof tx !== 'object' || tx === null || !Object.hasOwn(tx, 'id') || !Object.hasOwn(tx, 'seq')) return undefined
  const { id, seq } = tx as { id: unknown; seq: unknown }
  if (typeof id !== 'string' || !UUID.test(id)) return undefined
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return undefined
  return { id, seq }
}

const refusal = (id: string, seq: number, reason: RejectReason): TxResult => ({ kind: 'result', id, seq, status: 'rejected', reason })

export function createIngest(deps: IngestDeps): Ingest {
  const { ledger, logger, clock } = deps
  const maxBatch = Math.max(1, deps.maxBatch ?? 512)
  const maxQueued = Math.max(1, deps.maxQueued ?? 50_000)
  const resendRepeatMs = deps.resendRepeatMs ?? 10_000
  const verifyLimit = createConcurrencyLimit(deps.maxVerifiesInFlight ?? (deps.verify === undefined ? DEFAULT_MAX_VERIFIES_IN_FLIGHT : Number.MAX_SAFE_INTEGER))
  const replacedVerify = deps.verify
  const verify = (envelope: Envelope, key: KeyObject, txText: string) =>
    verifyLimit.run(() => (replacedVerify === undefined ? verifyEnvelopeAsync(envelope, key, txText) : replacedVerify(envelope, key)))
  /** The pool of the built-in check, taken on first use (a replaced verify never starts it). */
  let verifyPool = deps.verifyPool
  /** Envelopes of this turn of the event loop waiting to go to the pool as one batch. */
  let toCheck: PoolCheck[] = []
  let checkScheduled = false
  const pinAttempts = deps.pinAttempts
  if (deps.unsealPin !== undefined && pinAttempts === undefined) throw new Error('unsealPin needs pinAttempts: every PIN check is limited')

  const counters: IngestCounters = {
    received: 0,
    malformed: 0,
    kioskMismatch: 0,
    unknownKiosk: 0,
    badSignature: 0,
    accepted: 0,
    rejected: 0,
    replays: 0,
    gaps: 0,
    resendRequests: 0,
    batches: 0,
    commitErrors: 0,
    dropped: 0,
    publishErrors: 0,
  }
  const queue: Entry[] = []
  /** Set while answering a batch: one of its bookings changed the kiosk configs. */
  let configsChanged = false
  let flushScheduled = false
  let drainWaiters: Array<() => void> = []
  /** settled() waiters, by the queue entry that was last when they asked: resolved when its batch is done. */
  const settledWaiters = new Map<Entry, Array<() => void>>()
  /** Last resend request per kiosk, so a burst past one gap asks once. */
  const resendAsked = new Map<string, { fromSeq: number; atMs: number }>()
  const storageRetryMs = Math.max(1, deps.storageRetryMs ?? 5_000)
  /**
   * Set while commits fail with a storage fault: one episode, alerted once. `unbooked` holds, per kiosk,
   * the lowest and highest seq of its transactions in failed batches (they were not answered: the kiosk keeps them).
   */
  let storageFault: { code: string; since: number; unbooked: Map<string, { fromSeq: number; toSeq: number }> } | undefined
  let storageRetryTimer: NodeJS.Timeout | undefined
  /** Committed batches waiting for the sync that puts them on disk (group commit) before they are answered. */
  let awaitingDisk = 0
  /** The last entry of the newest batch awaiting disk: what settled() waits for when the queue is empty. */
  let lastAwaitingDisk: Entry | undefined
  /** A sync of the ledger failed: what was committed since cannot be vouched for, so nothing is answered until a restart. */
  let durabilityFailed = false

  function guarded(what: string, kioskId: string, send: () => void | Promise<unknown>): void {
    const fail = (err: unknown) => {
      counters.publishErrors++
      logger.error({ err, kiosk: printableKiosk(kioskId) }, `publishing ${what} failed`)
    }
    try {
      const pending = send()
      if (pending instanceof Promise) pending.catch(fail)
    } catch (err) {
      fail(err)
    }
  }

  const reply = (kioskId: string, message: ReplyMessage) => guarded('reply', kioskId, () => deps.publishReply(kioskId, message))
  const monotonicNowMs = deps.monotonicNowMs ?? (() => performance.now())

  function observe(observation: IngestObservation): void {
    if (deps.observe === undefined) return
    try {
      deps.observe(observation)
    } catch (err) {
      logger.error({ err, observation: observation.kind }, 'ingest observer failed')
    }
  }

  /** Tells the observer of an answer to a transaction (a gap is not an answer). */
  function observeAnswer(entry: { kioskId: string; receivedAt: number }, result: TxResult, tx: { type?: Transaction['type']; offline?: boolean } | undefined, replay: boolean): void {
    observe({
      kind: 'answered',
      kioskId: entry.kioskId,
      ...(tx?.type === undefined ? {} : { txType: tx.type }),
      offline: tx?.offline === true,
      status: result.status,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      replay,
      queuedMs: Math.max(0, clock.now() - entry.receivedAt),
    })
  }

  function alert(kind: string, message: string, kioskId?: string): void {
    const event: AlertEvent = { kind, message: message.slice(0, 1024), at: clock.now() }
    if (kioskId !== undefined && KIOSK_ID.test(kioskId)) event.kiosk = kioskId
    guarded('alert', kioskId ?? '', () => deps.publishEvent('alert', event))
  }

  /** A batch rolled back on a storage fault: the episode's first one is logged and alerted; the kiosks are asked again later. */
  function storageFailed(code: string, failed: ReadonlyArray<Extract<Entry, { kind: 'verify' }>>, err: unknown): void {
    if (storageFault === undefined) {
      storageFault = { code, since: clock.now(), unbooked: new Map() }
      logger.error({ err, code, size: failed.length }, 'the ledger database cannot be written: nothing is booked or answered until it can (the kiosks keep their transactions)')
      alert('storage_failed', `the ledger database cannot be written (${code}): transactions are neither booked nor answered, the kiosks keep them; free space on the gateway's disk, booking resumes by itself`)
    } else storageFault.code = code
    for (const { kioskId, envelope } of failed) {
      const seq = envelope.tx.seq
      const known = storageFault.unbooked.get(kioskId)
      storageFault.unbooked.set(kioskId, known === undefined ? { fromSeq: seq, toSeq: seq } : { fromSeq: Math.min(known.fromSeq, seq), toSeq: Math.max(known.toSeq, seq) })
    }
    scheduleStorageRetry()
  }

  function scheduleStorageRetry(): void {
    if (storageRetryTimer !== undefined) return
    storageRetryTimer = setTimeout(() => {
      storageRetryTimer = undefined
      if (storageFault === undefined) return
      // The resends are the retry: their commit ends the episode or fails again. Asked again until one works.
      askUnbookedAgain(storageFault.unbooked)
      scheduleStorageRetry()
    }, storageRetryMs)
    storageRetryTimer.unref()
  }

  /** Asks each kiosk with transactions of failed batches to send them again, from the first its cursor has not passed. */
  function askUnbookedAgain(unbooked: Map<string, { fromSeq: number; toSeq: number }>): void {
    for (const [kioskId, { fromSeq, toSeq }] of unbooked) {
      const cursor = ledger.kioskCursor?.(kioskId)?.nextSeq
      if (cursor !== undefined && cursor > toSeq) {
        unbooked.delete(kioskId)
        continue
      }
      counters.resendRequests++
      reply(kioskId, { kind: 'resend', fromSeq: cursor ?? fromSeq })
    }
  }

  /** A batch committed: a storage episode is over, and what its failed batches held is asked for again. */
  function storageWorks(): void {
    if (storageFault === undefined || durabilityFailed) return
    const { code, since, unbooked } = storageFault
    storageFault = undefined
    clearTimeout(storageRetryTimer)
    storageRetryTimer = undefined
    const failingMs = Math.max(0, clock.now() - since)
    logger.info({ code, failingMs }, 'the ledger database can be written again')
    alert('storage_recovered', `the ledger database takes writes again after ${Math.round(failingMs / 1000)} s (${code}): booking resumed`)
    askUnbookedAgain(unbooked)
  }

  function scheduleFlush(): void {
    if (flushScheduled) return
    flushScheduled = true
    // setImmediate, not a microtask: lets the messages and verifications of this
    // turn of the event loop arrive first, so they share one commit.
    setImmediate(flush)
  }

  function enqueue(entry: Entry): void {
    queue.push(entry)
    if (entry.kind === 'reply' || entry.settled) scheduleFlush()
  }

  function submit(kioskIdFromTopic: string, payload: Uint8Array | string): void {
    try {
      counters.received++
      const kiosk = printableKiosk(kioskIdFromTopic)
      if (queue.length >= maxQueued) {
        counters.dropped++
        logger.warn({ kiosk, queued: queue.length }, 'ingest queue full; message dropped, the kiosk will send it again')
        observe({ kind: 'dropped', kioskId: kioskIdFromTopic })
        return
      }
      const receivedAt = clock.now()
      const parsed = parseJson(payload, validateEnvelope)
      if (!parsed.ok) {
        counters.malformed++
        logger.warn({ kiosk, reason: parsed.error.slice(0, 200) }, 'malformed transaction envelope')
        const address = salvageIdSeq(payload)
        if (address !== undefined) {
          counters.rejected++
          enqueue({ kind: 'reply', kioskId: kioskIdFromTopic, reply: refusal(address.id, address.seq, 'invalid_transaction'), receivedAt })
        }
        return
      }
      const envelope = parsed.value
      const { tx } = envelope
      const txText = canonicalTextOrUndefined(tx)
      if (txText === undefined) {
        // JSON can carry a lone surrogate (\ud800) in a free string (a line's product, the tag's type), which has
        // no canonical form (RFC 8785): no kiosk could have signed it. Malformed, and answered like the others.
        counters.malformed++
        counters.rejected++
        logger.warn({ kiosk, id: tx.id }, 'malformed transaction envelope: a string that is not well-formed Unicode')
        enqueue({ kind: 'reply', kioskId: kioskIdFromTopic, reply: refusal(tx.id, tx.seq, 'invalid_transaction'), receivedAt })
        return
      }
      if (tx.kiosk !== kioskIdFromTopic) {
        counters.kioskMismatch++
        counters.rejected++
        logger.warn({ kiosk, claimed: tx.kiosk, id: tx.id }, 'envelope names another kiosk than the one that published it')
        alert('kiosk_mismatch', `kiosk ${kiosk} published a transaction of kiosk ${tx.kiosk} (id ${tx.id})`, kioskIdFromTopic)
        enqueue({ kind: 'reply', kioskId: kioskIdFromTopic, reply: refusal(tx.id, tx.seq, 'invalid_transaction'), receivedAt, txType: tx.type, offline: tx.offline === true })
        return
      }
      registryFreshThisTurn()
      const key = ledger.registry.kioskPublicKey(tx.kiosk)
      if (key === undefined) {
        counters.unknownKiosk++
        counters.rejected++
        logger.warn({ kiosk, id: tx.id }, 'transaction from an unknown or not enrolled kiosk')
        enqueue({ kind: 'reply', kioskId: kioskIdFromTopic, reply: refusal(tx.id, tx.seq, 'unknown_kiosk'), receivedAt, txType: tx.type, offline: tx.offline === true })
        return
      }
      const entry: VerifyEntry = { kind: 'verify', kioskId: kioskIdFromTopic, receivedAt, envelope, txText, settled: false, ok: false }
      enqueue(entry)
      if (replacedVerify === undefined) {
        toCheck.push({ entry, key, text: txText, sig: envelope.sig })
        scheduleChecks()
      } else
        verify(envelope, key, txText).then(
          (ok) => checked(entry, ok),
          (err: unknown) => checkFailed(entry, err),
        )
    } catch (err) {
      // Defensive: nothing above should throw, and a daemon must never die of one message.
      logger.error({ err, kiosk: printableKiosk(String(kioskIdFromTopic)) }, 'ingest submit failed')
    }
  }

  /**
   * Several gateways on one PostgreSQL database: a kiosk key enrolled through
   * another one must rule the signature checks here too, so the registry
   * compares its version once per turn of the event loop before the first
   * key is read (a query on PostgreSQL; on SQLite the registry has no such check and nothing is scheduled).
   */
  let registryCheckedThisTurn = false
  function registryFreshThisTurn(): void {
    if (registryCheckedThisTurn || ledger.registry.forgetIfChangedElsewhere === undefined) return
    registryCheckedThisTurn = true
    setImmediate(() => {
      registryCheckedThisTurn = false
    })
    ledger.registry.forgetIfChangedElsewhere()
  }

  function settle(entry: VerifyEntry, ok: boolean): void {
    entry.ok = ok
    entry.settled = true
    scheduleFlush()
  }

  /** A signature checked: a genuine tag switch's PIN is opened first, the others are settled at once. */
  function checked(entry: VerifyEntry, ok: boolean): void {
    const sealedPin = entry.envelope.tx.sealedPin
    const unseal = deps.unsealPin
    if (!ok || sealedPin === undefined || unseal === undefined || pinAttempts === undefined) return settle(entry, ok)
    // The PIN is opened only for a genuine envelope, kept in memory for the ledger, never stored or logged.
    const attempt = pinAttempts.attempt({ kiosk: entry.kioskId })
    if (!attempt.allowed) {
      entry.pinRefused = { reason: attempt.reason, retryAfterMs: attempt.retryAfterMs }
      return settle(entry, ok)
    }
    unseal(sealedPin)
      .catch(() => undefined)
      .then((pin) => {
        if (pin === undefined) attempt.refund()
        else {
          entry.pin = pin
          entry.pinAttempt = attempt
        }
        settle(entry, ok)
      })
      .catch((err: unknown) => checkFailed(entry, err))
  }

  function checkFailed(entry: VerifyEntry, err: unknown): void {
    logger.error({ err, kiosk: printableKiosk(entry.kioskId) }, 'signature check failed to run')
    settle(entry, false)
  }

  function scheduleChecks(): void {
    if (checkScheduled) return
    checkScheduled = true
    // setImmediate, as for the flush: the messages of this turn of the event loop go to the pool together.
    setImmediate(sendChecks)
  }

  function sendChecks(): void {
    checkScheduled = false
    const checks = toCheck
    toCheck = []
    if (checks.length === 0) return
    verifyPool ??= sharedVerifyPool()
    verifyPool.verify(checks).then(
      (results) => {
        for (let i = 0; i < checks.length; i++) checked(checks[i]!.entry, results[i] === true)
      },
      (err: unknown) => {
        // A thread failed: these envelopes are checked on libuv's pool instead, one by one, as before the threads.
        logger.warn({ err, size: checks.length }, 'signature check thread failed; checking its batch on the thread pool')
        for (const { entry, key, text } of checks)
          verify(entry.envelope, key, text).then(
            (ok) => checked(entry, ok),
            (error: unknown) => checkFailed(entry, error),
          )
      },
    )
  }

  function takeSettledBatch(): Entry[] {
    let n = 0
    while (n < queue.length && n < maxBatch) {
      const entry = queue[n]!
      if (entry.kind === 'verify' && !entry.settled) break
      n++
    }
    return queue.splice(0, n)
  }

  function shouldAskResend(kioskId: string, fromSeq: number): boolean {
    const now = clock.now()
    const asked = resendAsked.get(kioskId)
    if (asked !== undefined && asked.fromSeq === fromSeq && now - asked.atMs < resendRepeatMs) return false
    resendAsked.set(kioskId, { fromSeq, atMs: now })
    return true
  }

  function answer(entry: Extract<Entry, { kind: 'verify' }>, outcome: Outcome): void {
    const { kioskId, envelope } = entry
    const { tx } = envelope
    settlePinAttempt(entry, outcome)
    if (outcome.kind === 'gap') {
      counters.gaps++
      if (shouldAskResend(outcome.kioskId, outcome.fromSeq)) {
        counters.resendRequests++
        logger.warn({ kiosk: kioskId, expected: outcome.fromSeq, got: tx.seq }, 'sequence gap; asking the kiosk to send again')
        reply(kioskId, { kind: 'resend', fromSeq: outcome.fromSeq })
        alert('gap', `kiosk ${kioskId} sent seq ${tx.seq} while seq ${outcome.fromSeq} is missing; resend requested`, kioskId)
      }
      return
    }
    const { result } = outcome
    if (outcome.replay) counters.replays++
    else if (result.status === 'accepted') counters.accepted++
    else counters.rejected++
    reply(kioskId, result)
    observeAnswer(entry, result, tx, outcome.replay === true)
    if (!outcome.recorded) return
    // The kiosk's cursor moved: a later gap at the same seq is a new one.
    resendAsked.delete(kioskId)
    const booked: BookedEvent = { id: tx.id, kiosk: tx.kiosk, seq: tx.seq, type: tx.type, amount: tx.amount, status: result.status, at: clock.now() }
    if (result.reason !== undefined) booked.reason = result.reason
    guarded('booked event', kioskId, () => deps.publishEvent('booked', booked))
    for (const notice of outcome.alerts ?? []) {
      logger.warn({ kiosk: kioskId, id: tx.id, alert: notice.kind }, notice.message)
      alert(notice.kind, notice.message, kioskId)
    }
    if (outcome.configsChanged) configsChanged = true
    if (result.reason === 'chain_mismatch') {
      logger.warn({ kiosk: kioskId, id: tx.id, seq: tx.seq }, 'hash chain broken')
      alert('chain_mismatch', `kiosk ${kioskId} seq ${tx.seq}: prev is not the hash of its previous transaction`, kioskId)
    }
  }

  /** Only a PIN the ledger checked and found wrong stays counted; a refused kiosk is alerted. */
  function settlePinAttempt(entry: Extract<Entry, { kind: 'verify' }>, outcome: Outcome): void {
    const checkedWrong = outcome.kind === 'result' && outcome.recorded && outcome.result.reason === 'wrong_pin'
    if (entry.pinAttempt !== undefined && !checkedWrong) entry.pinAttempt.refund()
    delete entry.pinAttempt
    const refused = entry.pinRefused
    if (refused !== undefined && outcome.kind === 'result' && outcome.recorded && outcome.result.reason === 'pin_attempts_exceeded') {
      const { tx } = entry.envelope
      logger.warn({ kiosk: entry.kioskId, id: tx.id, reason: refused.reason }, 'tag switch refused unchecked: too many wrong PINs')
      alert(
        'pin_attempts_exceeded',
        `kiosk ${entry.kioskId} seq ${tx.seq}: tag switch PIN not checked (${refused.reason}), retry in ${Math.ceil(refused.retryAfterMs / 1000)} s`,
        entry.kioskId,
      )
    }
  }

  function flush(): void {
    flushScheduled = false
    const batch = takeSettledBatch()
    if (batch.length > 0) commitAndAnswer(batch)
    if (queue.length > 0) {
      // More already settled (over maxBatch): go on after letting I/O run; otherwise a settle reschedules.
      const head = queue[0]!
      if (head.kind === 'reply' || head.settled) scheduleFlush()
      return
    }
    if (awaitingDisk === 0) resolveDrainWaiters()
  }

  function commitAndAnswer(batch: Entry[]): void {
    const committed = commitBatch(batch)
    const durability = deps.durability
    // Only a commit that went through has something to put on disk (a failed one was counted and alerted already).
    const wrote = committed.outcomes !== undefined
    // A batch that wrote nothing is answered at once, unless answers of earlier batches still wait.
    if (durability === undefined || (!wrote && awaitingDisk === 0)) {
      answerBatch(batch, committed.outcomes)
      return
    }
    // Answered once on disk. Batches leave the queue in order and syncs call back in order, so each
    // kiosk still hears its answers in the order of its sequence.
    awaitingDisk++
    lastAwaitingDisk = batch.at(-1)
    const committedAtMs = monotonicNowMs()
    durability.whenDurable((err) => {
      awaitingDisk--
      if (err === undefined && wrote) observe({ kind: 'synced', size: committed.toLedger.length, waitMs: monotonicNowMs() - committedAtMs })
      if (lastAwaitingDisk === batch.at(-1)) lastAwaitingDisk = undefined
      try {
        if (err === undefined || !wrote) answerBatch(batch, committed.outcomes)
        else {
          durabilityLost(err, committed.toLedger)
          // What did not depend on the commit (refusals, resend requests) is still answered.
          answerBatch(batch, undefined)
        }
      } catch (answerErr) {
        // Called from the sync's callback: a throw would stop the answers of the batches after this one.
        logger.error({ err: answerErr, size: batch.length }, 'answering a batch failed')
      } finally {
        if (queue.length === 0 && awaitingDisk === 0 && !flushScheduled) resolveDrainWaiters()
      }
    })
  }

  /** The sync that was to put a committed batch on disk failed: nothing it booked is answered, now or later, until a restart. */
  function durabilityLost(err: Error, toLedger: ReadonlyArray<Extract<Entry, { kind: 'verify' }>>): void {
    counters.commitErrors++
    observe({ kind: 'commit_failed', size: toLedger.length })
    for (const e of toLedger) {
      e.pinAttempt?.refund()
      delete e.pinAttempt
    }
    if (!durabilityFailed) {
      durabilityFailed = true
      logger.fatal({ err, size: toLedger.length }, 'the ledger could not be synced to disk: nothing is answered until the gateway restarts (the kiosks keep their transactions)')
      alert('storage_failed', `the ledger could not be synced to disk (${syncErrorCode(err)}): transactions are no longer answered, the kiosks keep them; check the gateway's disk and restart the gateway`)
    }
    storageFault ??= { code: syncErrorCode(err), since: clock.now(), unbooked: new Map() }
  }

  function resolveSettledWaiters(batch: Entry[]): void {
    for (const entry of batch) {
      const waiters = settledWaiters.get(entry)
      if (waiters === undefined) continue
      settledWaiters.delete(entry)
      for (const resolve of waiters) resolve()
    }
  }

  /** Commits the batch's verified envelopes (none on a failed commit: nothing is answered, the kiosks send again). */
  function commitBatch(batch: Entry[]): { toLedger: Array<Extract<Entry, { kind: 'verify' }>>; outcomes: Outcome[] | undefined } {
    const toLedger = batch.filter((e): e is Extract<Entry, { kind: 'verify' }> => e.kind === 'verify' && e.ok)
    if (toLedger.length === 0) return { toLedger, outcomes: undefined }
    const commitStartMs = monotonicNowMs()
    try {
      const items = toLedger.map((e) => ({
        envelope: e.envelope,
        txText: e.txText,
        ...(e.pin === undefined ? {} : { pin: e.pin }),
        ...(e.pinRefused === undefined ? {} : { pinRefused: true as const }),
      }))
      const outcomes = deps.durability === undefined ? ledger.applyBatch(items) : deps.durability.withoutWaiting(() => ledger.applyBatch(items))
      // Dropped as soon as the ledger had it.
      for (const e of toLedger) delete e.pin
      counters.batches++
      observe({ kind: 'committed', size: toLedger.length, commitMs: monotonicNowMs() - commitStartMs })
      // Only a batch that wrote something shows the disk takes writes again (gaps and replays write nothing).
      if (outcomes.some((o) => o.kind === 'result' && o.recorded)) storageWorks()
      return { toLedger, outcomes }
    } catch (err) {
      // Rolled back as a whole. No answers: each kiosk keeps the envelope in its outbox and sends it again.
      // No PIN of the batch was found wrong on record: the resent envelopes count again.
      for (const e of toLedger) {
        e.pinAttempt?.refund()
        delete e.pinAttempt
        delete e.pin
      }
      counters.commitErrors++
      observe({ kind: 'commit_failed', size: toLedger.length })
      const code = storageFaultCode(err)
      if (code !== undefined) storageFailed(code, toLedger, err)
      else {
        logger.error({ err, size: toLedger.length }, 'ledger commit failed; batch not answered')
        alert('commit_failed', `a batch of ${toLedger.length} transactions could not be committed: ${String((err as Error)?.message ?? err).slice(0, 200)}`)
      }
      return { toLedger, outcomes: undefined }
    }
  }

  /** Answers a batch in its order: refusals and resend requests, and the ledger's outcomes where it has them. */
  function answerBatch(batch: Entry[], outcomes: Outcome[] | undefined): void {
    try {
      answerEntries(batch, outcomes)
    } finally {
      if (settledWaiters.size > 0) resolveSettledWaiters(batch)
    }
  }

  function answerEntries(batch: Entry[], outcomes: Outcome[] | undefined): void {
    let next = 0
    configsChanged = false
    for (const entry of batch) {
      if (entry.kind === 'reply') {
        reply(entry.kioskId, entry.reply)
        observeAnswer(entry, entry.reply, { ...(entry.txType === undefined ? {} : { type: entry.txType }), ...(entry.offline ? { offline: true } : {}) }, false)
      } else if (!entry.ok) {
        counters.badSignature++
        counters.rejected++
        const { tx } = entry.envelope
        logger.warn({ kiosk: entry.kioskId, id: tx.id, seq: tx.seq }, 'bad signature')
        const refused = refusal(tx.id, tx.seq, 'bad_signature')
        reply(entry.kioskId, refused)
        observeAnswer(entry, refused, tx, false)
        alert('bad_signature', `kiosk ${entry.kioskId} seq ${tx.seq} (id ${tx.id}): signature does not verify`, entry.kioskId)
      } else {
        const outcome = outcomes?.[next++]
        if (outcome !== undefined) answer(entry, outcome)
      }
    }
    if (configsChanged && deps.onConfigsChanged) {
      try {
        deps.onConfigsChanged()
      } catch (err) {
        logger.error({ err }, 'config refresh after a batch failed')
      }
    }
  }

  function resolveDrainWaiters(): void {
    const waiters = drainWaiters
    drainWaiters = []
    for (const resolve of waiters) resolve()
  }

  function drain(): Promise<void> {
    if (queue.length === 0 && !flushScheduled && awaitingDisk === 0) return Promise.resolve()
    return new Promise((resolve) => drainWaiters.push(resolve))
  }

  function settled(): Promise<void> {
    // The queue is a FIFO left only from its head: once its last entry's batch is done, so is everything before it.
    const last = queue.at(-1) ?? lastAwaitingDisk
    if (last === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      const waiters = settledWaiters.get(last)
      if (waiters === undefined) settledWaiters.set(last, [resolve])
      else waiters.push(resolve)
    })
  }

  return {
    submit,
    drain,
    settled,
    counters: () => ({ ...counters }),
    storageFault: () => (storageFault === undefined ? undefined : { code: storageFault.code, since: storageFault.since }),
  }
}

/** The errno code of a failed sync (EIO, ENOSPC), as operators search for it. */
function syncErrorCode(err: Error): string {
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code ?? (err as NodeJS.ErrnoException).code
  return typeof code === 'string' ? code : 'sync_failed'
}

/** The transaction's canonical text, or undefined where it has none (a string that is not well-formed Unicode). */
function canonicalTextOrUndefined(tx: Transaction): string | undefined {
  try {
    return canonicalText(tx)
  } catch {
    return undefined
  }
}
