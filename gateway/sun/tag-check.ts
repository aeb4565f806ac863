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
    record: db.prepare(`
      INSERT INTO tag_sun_counters (uid, last_counter) VALUES (?, ?)
      ON CONFLICT(uid) DO UPDATE SET last_counter = MAX(last_counter, excluded.last_counter)`),
  }

  const stored = q.meta.get(POLICY_META_KEY)?.value
  let policy: StoredTagPolicy | undefined = stored === undefined ? undefined : (JSON.parse(stored) as StoredTagPolicy)
  let keys: Keys | undefined
  let warnedNoKeys = false

  function policyOf(setup: EventSetup): StoredTagPolicy | undefined {
    const p = setup.tagPolicy
    return p === undefined ? undefined : { acceptedTypes: [...p.acceptedTypes], requireSun: p.requireSun }
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
      const next = policyOf(setup)
      if (next === undefined) q.deleteMeta.run(POLICY_META_KEY)
      else q.setMeta.run(POLICY_META_KEY, JSON.stringify(next))
    },
    activate(setup) {
      policy = policyOf(setup)
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
      q.record.run(uid, counter)
    },
    lastCounter,
    policy: () => (policy === undefined ? undefined : { acceptedTypes: [...policy.acceptedTypes], requireSun: policy.requireSun }),
  }
}
