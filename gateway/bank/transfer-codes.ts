// The transfer code of each wristband, kept in bank_transfer_codes: drawn at
// random the first time a guest (or the users API) asks for it, unique, and
// never changed, so a reference printed or sent once keeps working.
import type { SqlDatabase } from '../sql/database.js'
import type { Clock } from '../../device-protocol/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { newTransferCode, transferReferenceOf } from './transfer-reference.js'

export interface TransferReference {
  /** `RF47ABCDEFGH`: what the bank statement carries. */
  compact: string
  /** `RF47 ABCD EFGH`: what a guest types. */
  display: string
}

export interface TransferCodes {
  /** The wristband's reference, drawing its code on first use. */
  referenceOf(uid: string): TransferReference
  /** The wristband a code belongs to; undefined for a code nobody has. */
  uidOfCode(code: string): string | undefined
}

export function createTransferCodes({ db, clock, drawCode = newTransferCode }: { db: SqlDatabase; clock: Clock; drawCode?: () => string }): TransferCodes {
  migrateGatewayDatabase(db)
  const q = {
    byUid: db.prepare<[string], { code: string }>(`SELECT code FROM bank_transfer_codes WHERE uid = ?`),
    byCode: db.prepare<[string], { uid: string }>(`SELECT uid FROM bank_transfer_codes WHERE code = ?`),
    insert: db.prepare<[string, string, number]>(`INSERT INTO bank_transfer_codes (uid, code, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
  }
  function codeOf(uid: string): string {
    const existing = q.byUid.get(uid)
    if (existing) return existing.code
    // A clash with another band's code (1 in 2^40 per band) draws again.
    for (let attempt = 0; attempt < 5; attempt++) {
      q.insert.run(uid, drawCode(), clock.now())
      const row = q.byUid.get(uid)
      if (row) return row.code
    }
    throw new Error('could not draw an unused transfer code')
  }
  return {
    referenceOf: (uid) => transferReferenceOf(codeOf(uid)),
    uidOfCode: (code) => q.byCode.get(code)?.uid,
  }
}
