// The gateway's check of the wristband behind a kiosk transaction: is its tag
// type accepted by the event, and, for secure wristbands (NTAG 424 DNA), is the
// SUN message genuine, of this very tag, and newer than the last one seen?
// The ledger calls check() inside its SQLite transaction and record() in the
// same transaction as the booking, so a counter is never consumed by a tap that
// was rolled back, and two taps in one batch see each other.
//
// Keys are secrets: they come from the event set-up on every import and stay
// in memory only (a copy of the database alone cannot forge a wristband). The
// policy without keys is kept in the database, so a ledger opened without an
// import fails closed: a required SUN cannot be checked and is refused.
//
// Several gateways on one PostgreSQL database each hold the keys of the set-up
// they imported. When another gateway imports a set-up, this one takes the
// stored policy at once (followStored) and keeps its keys only if the stored
// digest of the set-up's keys says they are the same keys: otherwise it drops
// them and refuses secure taps until the set-up is imported here too, rather
// than check wristbands against keys the event no longer uses.
import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { RejectReason, Transaction } from '../../device-protocol/index.js'
import type { EventSetup } from '../event-setup.js'
import { verifySun } from '../../device-protocol/ntag424/sun.js'
import { migrateGatewayDatabase } from '../migrations.js'

export type TagRejectReason = Extract<RejectReason, 'tag_not_authentic' | 'tag_replayed' | 'tag_type_not_accepted'>

export type TagCheckResult =
  /** `counter`: a verified SUN's read counter, to record with the transaction. */
  | { ok: true; counter?: number }
  | { ok: false; reason: TagRejectReason }

/** The policy as stored (no keys). */
export interface StoredTagPolicy {
  acceptedTypes: string[]
  requireSun: boolean
}

export interface TagCheck {
  /** Inside the set-up import's transaction: stores the set-up's policy (or clears it). */
  storePolicy(setup: EventSetup): void
  /** After the import committed: takes the policy and the keys into memory. */
  activate(setup: EventSetup): void
  check(tx: Transaction): TagCheckResult
  /** The tag's SUN with this counter was used by a recorded transaction; later ones must be higher. */
  record(uid: string, counter: number): void
  lastCounter(uid: string): number | undefined
  policy(): StoredTagPolicy | undefined
  /**
   * Another gateway on the same database changed the registry: take the stored policy, and drop this
   * gateway's keys unless the stored set-up carries the same ones. True when anything changed here.
   */
  followStored(): boolean
}

/** Another gateway recorded this SUN counter (or a higher one) after this batch checked it. */
export class TagCounterRaceError extends Error {
  /** SQLSTATE serialization_failure: the PostgreSQL store's isConflict runs the batch again. */
  readonly code = '40001'
  constructor(uid: string, counter: number) {
    super(`SUN read counter ${counter} of wristband ${uid} was recorded by a concurrent batch`)
    this.name = 'TagCounterRaceError'
  }
}

/** What the database keeps: the policy, and a digest of the set-up's SUN keys (never the keys). */
interface PolicyRecord extends StoredTagPolicy {
  keysDigest?: string
}

/**
 * Transactions that only put money on a wristband. The policy does not refuse
 * them: a top-up credits the wristband's own account whoever holds the tag, and
 * a card top-up arrives already paid, so refusing it would only strand the
 * guest's money. A verified SUN on them still moves the counter forward.
 * Every other type (sales, and any type added later) is checked.
 */
const CREDIT_TYPES: ReadonlySet<string> = new Set(['topup_cash', 'topup_card'])

/**
 * Transactions signed without a fresh tap: a cancel names the tag of the sale
 * it undoes (checked when that sale was booked), a cash shift the logged-in
 * staff member's wristband. There is no SUN to check.
 */
const UNTAPPED_TYPES: ReadonlySet<string> = new Set(['cancel', 'shift_open', 'shift_close'])

const POLICY_META_KEY = 'tag_policy'

interface Keys {
  metaReadKey: Buffer
  fileReadKey: Buffer | undefined
  perTag: Map<string, Buffer>
}

export function createTagCheck({ db, logger }: { db: SqlDatabase; logger: Logger }): TagCheck {
  // tag_sun_counters (and the ledger's meta) come from the gateway database's migrations.
  migrateGatewayDatabase(db)
  const q = {
    meta: db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`),
    setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
    deleteMeta: db.prepare(`DELETE FROM meta WHERE key = ?`),
    counter: db.prepare<[string], { last_counter: number }>(`SELECT last_counter FROM tag_sun_counters WHERE uid = ?`),
    // Moves the counter forward only; no row changed means another writer got there first (see record()).
    // Portable: PostgreSQL has no two-argument MAX and wants the old row named by its table.
    record: db.prepare(`
      INSERT INTO tag_sun_counters (uid, last_counter) VALUES (?, ?)
      ON CONFLICT(uid) DO UPDATE SET last_counter = excluded.last_counter
      WHERE excluded.last_counter > tag_sun_counters.last_counter`),
  }

  const readStored = (): PolicyRecord | undefined => {
    const stored = q.meta.get(POLICY_META_KEY)?.value
    return stored === undefined ? undefined : (JSON.parse(stored) as PolicyRecord)
  }
  const initial = readStored()
  let policy: StoredTagPolicy | undefined = initial === undefined ? undefined : { acceptedTypes: initial.acceptedTypes, requireSun: initial.requireSun }
  let keys: Keys | undefined
  /** The digest of the keys in memory (undefined: none loaded). */
  let activeDigest: string | undefined
  let warnedNoKeys = false

  function policyOf(setup: EventSetup): StoredTagPolicy | undefined {
    const p = setup.tagPolicy
    return p === undefined ? undefined : { acceptedTypes: [...p.acceptedTypes], requireSun: p.requireSun }
  }

  function recordOf(setup: EventSetup): PolicyRecord | undefined {
    const next = policyOf(setup)
    if (next === undefined) return undefined
    const digest = keysDigest(setup)
    return digest === undefined ? next : { ...next, keysDigest: digest }
  }

  function lastCounter(uid: string): number | undefined {
    return q.counter.get(uid)?.last_counter
  }

  const refuse = (reason: TagRejectReason): TagCheckResult => ({ ok: false, reason })

  function check(tx: Transaction): TagCheckResult {
    if (policy === undefined) return { ok: true } // no policy: as before tag policies existed
    if (UNTAPPED_TYPES.has(tx.type)) return { ok: true }
    const { uid, type, sun } = tx.tag
    const credit = CREDIT_TYPES.has(tx.type)
    // A refusal of a credit is turned into "accepted, nothing to record" (see CREDIT_TYPES).
    const fail = (reason: TagRejectReason, detail: string): TagCheckResult => {
      logger.warn({ uid, kiosk: tx.kiosk, id: tx.id, reason, detail }, credit ? 'tag check failed on a top-up; booked all the same' : 'tag refused')
      return credit ? { ok: true } : refuse(reason)
    }
    if (!credit && !policy.acceptedTypes.includes(type)) return refuse('tag_type_not_accepted')
    const last = lastCounter(uid)
    // No downgrade: a wristband that has shown a valid SUN, or has its own key, is a secure one for good.
    const required = policy.requireSun || last !== undefined || keys?.perTag.has(uid) === true
    if (sun === undefined) return required ? fail('tag_not_authentic', 'no SUN message') : { ok: true }
    if (keys === undefined) {
      if (!warnedNoKeys) {
        warnedNoKeys = true
        logger.error('a SUN message arrived but no SUN keys are loaded (import the event set-up): secure wristbands are refused')
      }
      return required ? fail('tag_not_authentic', 'no SUN keys loaded') : { ok: true }
    }
    const k = keys
    const verified = verifySun(sun, { metaReadKey: k.metaReadKey, fileReadKeyFor: (u) => k.perTag.get(u) ?? k.fileReadKey })
    if (!verified.ok) {
      // A tag the event holds no key for cannot be checked; that is only a refusal where a SUN is required.
      if (verified.failure === 'no_key' && !required) return { ok: true }
      return fail('tag_not_authentic', verified.failure)
    }
    // A genuine SUN of another wristband pasted onto this UID.
    if (verified.uid !== uid) return fail('tag_not_authentic', 'SUN names another UID')
    if (last !== undefined && verified.counter <= last) return fail('tag_replayed', `read counter ${verified.counter} is not above ${last}`)
    return { ok: true, counter: verified.counter }
  }

  return {
    storePolicy(setup) {
      const next = recordOf(setup)
      if (next === undefined) q.deleteMeta.run(POLICY_META_KEY)
      else q.setMeta.run(POLICY_META_KEY, JSON.stringify(next))
    },
    activate(setup) {
      policy = policyOf(setup)
      activeDigest = keysDigest(setup)
      const sun = setup.tagPolicy?.sun
      if (sun === undefined) {
        keys = undefined
        return
      }
      const perTag = new Map<string, Buffer>()
      for (const w of setup.wristbands) if (w.sunFileReadKey !== undefined) perTag.set(w.uid, Buffer.from(w.sunFileReadKey, 'hex'))
      keys = {
        metaReadKey: Buffer.from(sun.metaReadKey, 'hex'),
        fileReadKey: sun.fileReadKey === undefined ? undefined : Buffer.from(sun.fileReadKey, 'hex'),
        perTag,
      }
      warnedNoKeys = false
    },
    check,
    record(uid, counter) {
      // check() saw a lower counter in this transaction. On SQLite nothing can write in between; on PostgreSQL
      // another gateway may have booked the same SUN (a cloned tag at another till) and committed since: then
      // this batch must not book it too. A serialization failure makes the ledger run the batch again, and
      // then check() sees that counter and refuses the replay.
      if (q.record.run(uid, counter).changes === 0) throw new TagCounterRaceError(uid, counter)
    },
    lastCounter,
    policy: () => (policy === undefined ? undefined : { acceptedTypes: [...policy.acceptedTypes], requireSun: policy.requireSun }),
    followStored() {
      const stored = readStored()
      const next = stored === undefined ? undefined : { acceptedTypes: stored.acceptedTypes, requireSun: stored.requireSun }
      const policyChanged = JSON.stringify(next) !== JSON.stringify(policy)
      const keysStale = activeDigest !== undefined && stored?.keysDigest !== activeDigest
      if (!policyChanged && !keysStale) return false
      policy = next
      if (keysStale) {
        keys = undefined
        activeDigest = undefined
        warnedNoKeys = true // the error below says it once
        logger.error(
          'another gateway imported an event set-up with other SUN keys: this gateway dropped its keys and refuses secure wristbands until the set-up is imported here too',
        )
      } else logger.warn({ policy }, 'tag policy taken from an event set-up imported on another gateway')
      return true
    },
  }
}

/**
 * A digest of the set-up's SUN keys, to tell whether two gateways hold the same keys without storing them:
 * SHA-256 over the canonical JSON of the keys, which are 128-bit random AES keys (no guessing them back).
 */
export function keysDigest(setup: EventSetup): string | undefined {
  const sun = setup.tagPolicy?.sun
  if (sun === undefined) return undefined
  const perTag = setup.wristbands
    .filter((w) => w.sunFileReadKey !== undefined)
    .map((w) => [w.uid, w.sunFileReadKey!.toLowerCase()])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
  const material = canonicalize({ meta: sun.metaReadKey.toLowerCase(), file: sun.fileReadKey?.toLowerCase() ?? null, perTag })!
  return createHash('sha256').update('wristpay sun keys v1\0').update(material).digest('hex')
}
