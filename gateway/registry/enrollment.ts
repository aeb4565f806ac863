// Kiosks an operator creates through the admin API, and their enrollment by a
// one-time registration code. The operator gets the code; the person at the
// Pi types it (or scans it) into `wristpay-kiosk enroll`, which sends it with
// the kiosk's new public key. Redeeming a code, in one SQLite transaction:
// the key is enrolled as an admin key (kiosk-keys.ts: it wins over the event
// set-up's), a fresh MQTT token is generated and its hash replaces the kiosk's
// (the old token no longer logs in, the old key signs nothing any more), and
// the code is spent. A wrong, spent or expired code changes nothing.
//
// The two things an event set-up reload must not undo:
//  - a kiosk made here (`origin = 'admin'`) is not in the file, and is not
//    retired for being absent from it; once the file lists it, it is the file's;
//  - a kiosk whose token came from an enrollment (`token_source =
//    'enrollment'`) keeps it, whatever token the file names for it: the Pi has
//    only the enrolled one. A new code replaces it.
//
// Codes are secrets: 16 symbols of the PIN alphabet (no 0/O, 1/I), 80 bits,
// stored only as SHA-256 hashes, like kiosk tokens.
import { randomBytes, randomInt } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'
import { dialectOf } from '../sql/dialect.js'
import { accountIds, type AccountKind } from '../ledger/types.js'
import { enrollKioskKeyByAdmin, type KeyChange } from './kiosk-keys.js'
import { PIN_ALPHABET } from './pins.js'
import { hashToken } from './secrets.js'

/** Symbols of a registration code: 16 x 5 bits = 80 bits. */
export const REGISTRATION_CODE_LENGTH = 16
const CODE_GROUP = 4
const NORMALISED_CODE = new RegExp(`^[${PIN_ALPHABET}]{${REGISTRATION_CODE_LENGTH}}$`)

/** Bytes of a generated kiosk MQTT token (base64url: 43 characters). */
const TOKEN_BYTES = 32

/**
 * Migration 21 of the gateway database: where an admin-made kiosk and an
 * enrolled token are marked, and the registration codes.
 */
export function addKioskEnrollment(db: SqlDatabase): void {
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('kiosks')`).all().map((c) => c.name)
  // NULL: the event set-up's (as every kiosk was before).
  if (!columns.includes('origin')) db.exec(`ALTER TABLE kiosks ADD COLUMN origin TEXT CHECK (origin IN ('admin'))`)
  // NULL: the token is the event set-up's.
  if (!columns.includes('token_source')) db.exec(`ALTER TABLE kiosks ADD COLUMN token_source TEXT CHECK (token_source IN ('enrollment'))`)
  db.exec(`
    CREATE TABLE IF NOT EXISTS kiosk_registration_codes (
      -- SHA-256 of the normalised code, hex: the code itself is never stored.
      code_hash TEXT PRIMARY KEY,
      kiosk TEXT NOT NULL REFERENCES kiosks(id),
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      -- Set when the code was redeemed; a spent code stays as the record of the enrollment.
      used_at INTEGER
    ) STRICT;
    CREATE INDEX IF NOT EXISTS kiosk_registration_codes_by_kiosk ON kiosk_registration_codes(kiosk);
  `)
}

/** A new code, grouped for reading aloud: ABCD-EFGH-JKLM-NPQR. */
export function newRegistrationCode(): string {
  let code = ''
  for (let i = 0; i < REGISTRATION_CODE_LENGTH; i++) code += PIN_ALPHABET[randomInt(PIN_ALPHABET.length)]
  return code.match(new RegExp(`.{${CODE_GROUP}}`, 'g'))!.join('-')
}

/** The code as typed (any case, spaces and hyphens) in its canonical form; undefined when it cannot be a code. */
export function normaliseRegistrationCode(typed: string): string | undefined {
  if (typeof typed !== 'string' || typed.length > 4 * REGISTRATION_CODE_LENGTH) return undefined
  const canonical = typed.replace(/[\s-]/g, '').toUpperCase()
  return NORMALISED_CODE.test(canonical) ? canonical : undefined
}

/** What an operator gives a new kiosk: the event set-up's fields without token and key. */
export interface NewKiosk {
  id: string
  booth: string
  /** A till profile of the event set-up; overrides the two flags. */
  profile?: string
  saleAllowed: boolean
  topupAllowed: boolean
}

export class EnrollmentError extends Error {
  constructor(
    readonly kind: 'kiosk_exists' | 'unknown_booth' | 'unknown_profile' | 'unknown_kiosk',
    message: string,
  ) {
    super(message)
  }
}

export type Redemption =
  | { ok: true; kioskId: string; booth: string; token: string; keyChange: KeyChange }
  | { ok: false; refused: 'invalid' | 'used' | 'expired' | 'kiosk_retired' }

export interface KioskEnrollment {
  /** Inserts the kiosk (no token that logs in, no key) and opens its cash account. Throws EnrollmentError. */
  createKiosk(kiosk: NewKiosk): void
  /** A new code for a kiosk that takes part; an earlier unspent code of it stops working. Throws EnrollmentError. */
  issueCode(kioskId: string, nowMs: number, ttlMs: number): { code: string; expiresAt: number }
  /**
   * Spends the code and enrolls the key with a fresh token (or `token`, made by newKioskToken() and handed to an
   * external broker first), or refuses and changes nothing. The key must be checked before.
   */
  redeem(typedCode: string, publicKeyBase64Url: string, nowMs: number, token?: string): Redemption
  /** Whose code this is, or why redeem() would refuse it now; changes nothing (spends nothing, counts nothing). */
  check(typedCode: string, nowMs: number): CodeCheck
}

export type CodeCheck = { ok: true; kioskId: string } | Extract<Redemption, { ok: false }>

/** A kiosk's MQTT token as redeem() makes it. */
export const newKioskToken = (): string => randomBytes(TOKEN_BYTES).toString('base64url')

export function createKioskEnrollment(db: SqlDatabase, openAccount: (id: string, kind: AccountKind, ref: string) => void): KioskEnrollment {
  // The chain starts at genesis: on the kiosk's row on SQLite, at its first booking in the store's cursor on PostgreSQL.
  const chain = dialectOf(db).kioskChainInsert
  const q = {
    kiosk: db.prepare<[string], { id: string; booth: string; retired: string | null }>(`SELECT id, booth, retired FROM kiosks WHERE id = ?`),
    booth: db.prepare<[string], { id: string }>(`SELECT id FROM booths WHERE id = ?`),
    profile: db.prepare<[string], { id: string }>(`SELECT id FROM till_profiles WHERE id = ?`),
    insertKiosk: db.prepare(`
      INSERT INTO kiosks (id, booth, token_hash, public_key, sale_allowed, topup_allowed, profile, origin${chain.columns})
      VALUES (@id, @booth, @tokenHash, NULL, @saleAllowed, @topupAllowed, @profile, 'admin'${chain.values})`),
    dropUnspent: db.prepare(`DELETE FROM kiosk_registration_codes WHERE kiosk = ? AND used_at IS NULL`),
    insertCode: db.prepare(`INSERT INTO kiosk_registration_codes (code_hash, kiosk, created_at, expires_at) VALUES (?, ?, ?, ?)`),
    code: db.prepare<[string], { kiosk: string; expires_at: number; used_at: number | null }>(`SELECT kiosk, expires_at, used_at FROM kiosk_registration_codes WHERE code_hash = ?`),
    spend: db.prepare(`UPDATE kiosk_registration_codes SET used_at = ? WHERE code_hash = ?`),
    setToken: db.prepare(`UPDATE kiosks SET token_hash = ?, token_source = 'enrollment' WHERE id = ?`),
  }

  const createTx = db.transaction((k: NewKiosk) => {
    if (q.kiosk.get(k.id) !== undefined) throw new EnrollmentError('kiosk_exists', `kiosk '${k.id}' exists already (in the event set-up, made earlier, or retired): ask for a registration code for it instead`)
    if (q.booth.get(k.booth) === undefined) throw new EnrollmentError('unknown_booth', `booth '${k.booth}' is not in the event set-up`)
    if (k.profile !== undefined && q.profile.get(k.profile) === undefined) throw new EnrollmentError('unknown_profile', `till profile '${k.profile}' is not in the event set-up`)
    q.insertKiosk.run({
      id: k.id,
      booth: k.booth,
      // Nobody knows this token: the kiosk logs in only with the one its enrollment hands out.
      tokenHash: hashToken(randomBytes(TOKEN_BYTES).toString('base64url')),
      saleAllowed: k.saleAllowed ? 1 : 0,
      topupAllowed: k.topupAllowed ? 1 : 0,
      profile: k.profile ?? null,
    })
    openAccount(accountIds.cash(k.id), 'cash', k.id)
  })

  const issueTx = db.transaction((kioskId: string, code: string, nowMs: number, ttlMs: number) => {
    const kiosk = q.kiosk.get(kioskId)
    if (kiosk === undefined || kiosk.retired !== null) throw new EnrollmentError('unknown_kiosk', `kiosk '${kioskId}' does not take part (not in the event set-up, not made through the admin API, or retired)`)
    q.dropUnspent.run(kioskId)
    q.insertCode.run(hashToken(code), kioskId, nowMs, nowMs + ttlMs)
  })

  function checkCode(codeHash: string, nowMs: number): { ok: true; kiosk: { id: string; booth: string } } | Extract<Redemption, { ok: false }> {
    const row = q.code.get(codeHash)
    if (row === undefined) return { ok: false, refused: 'invalid' }
    if (row.used_at !== null) return { ok: false, refused: 'used' }
    if (nowMs >= row.expires_at) return { ok: false, refused: 'expired' }
    const kiosk = q.kiosk.get(row.kiosk)
    if (kiosk === undefined || kiosk.retired !== null) return { ok: false, refused: 'kiosk_retired' }
    return { ok: true, kiosk }
  }

  const redeemTx = db.transaction((codeHash: string, publicKey: string, nowMs: number, givenToken: string | undefined): Redemption => {
    const checked = checkCode(codeHash, nowMs)
    if (!checked.ok) return checked
    const { kiosk } = checked
    const token = givenToken ?? newKioskToken()
    q.setToken.run(hashToken(token), kiosk.id)
    const keyChange = enrollKioskKeyByAdmin(db, kiosk.id, publicKey, { source: 'registration_code', nowMs })
    q.spend.run(nowMs, codeHash)
    return { ok: true, kioskId: kiosk.id, booth: kiosk.booth, token, keyChange }
  })

  return {
    createKiosk: (kiosk) => createTx.immediate(kiosk),
    issueCode(kioskId, nowMs, ttlMs) {
      const code = newRegistrationCode()
      issueTx.immediate(kioskId, normaliseRegistrationCode(code)!, nowMs, ttlMs)
      return { code, expiresAt: nowMs + ttlMs }
    },
    redeem(typedCode, publicKey, nowMs, token) {
      const code = normaliseRegistrationCode(typedCode)
      if (code === undefined) return { ok: false, refused: 'invalid' }
      return redeemTx.immediate(hashToken(code), publicKey, nowMs, token)
    },
    check(typedCode, nowMs) {
      const code = normaliseRegistrationCode(typedCode)
      if (code === undefined) return { ok: false, refused: 'invalid' }
      const checked = checkCode(hashToken(code), nowMs)
      return checked.ok ? { ok: true, kioskId: checked.kiosk.id } : checked
    },
  }
}
