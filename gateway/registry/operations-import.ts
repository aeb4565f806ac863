// The parts of an event set-up that run the tills: till profiles, staff (PINs
// kept only as scrypt hashes), cash registers with their drawer accounts, the
// offline policy, and the accounts a catalog books to (deposits, vouchers,
// the vault and the imbalance account, opened in the ledger's store). Runs
// inside the import's SQLite transaction.
import type { SqlDatabase } from '../sql/database.js'
import { staffPinHash, verifyStaffPin } from '../../device-protocol/index.js'
import type { EventSetup } from '../event-setup.js'
import { accountIds, type AccountKind } from '../ledger/types.js'

export function importOperations(db: SqlDatabase, setup: EventSetup, openAccount: (id: string, kind: AccountKind, ref: string) => void): void {
  const setMeta = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`)

  for (const booth of setup.booths) openAccount(accountIds.deposit(booth.id), 'deposit', booth.id)
  openAccount(accountIds.voucher(), 'voucher', 'event')
  openAccount(accountIds.vault(), 'vault', 'event')
  openAccount(accountIds.imbalance(), 'imbalance', 'event')

  // Profiles are replaced as a whole, like the catalog; a kiosk's profile column names one of them.
  db.prepare(`DELETE FROM till_profiles`).run()
  const insertProfile = db.prepare(`INSERT INTO till_profiles (id, spec) VALUES (?, ?)`)
  for (const p of setup.tillProfiles ?? []) insertProfile.run(p.id, JSON.stringify(p))
  const setProfile = db.prepare(`UPDATE kiosks SET profile = ? WHERE id = ?`)
  for (const k of setup.kiosks) setProfile.run(k.profile ?? null, k.id)

  // Staff: a PIN that still verifies keeps its hash (and salt), so the kiosk configs do not change on every import.
  const storedHash = db.prepare<[string], { pin_hash: string | null }>(`SELECT pin_hash FROM staff WHERE uid = ?`)
  const staff = setup.staff ?? []
  const keep = new Map<string, string | null>()
  for (const m of staff) {
    const old = storedHash.get(m.uid)?.pin_hash ?? null
    keep.set(m.uid, m.pin === undefined ? null : old !== null && verifyStaffPin(m.pin, old) ? old : staffPinHash(m.pin))
  }
  db.prepare(`DELETE FROM staff`).run()
  const insertStaff = db.prepare(`INSERT INTO staff (uid, name, roles, pin_hash) VALUES (?, ?, ?, ?)`)
  for (const m of staff) insertStaff.run(m.uid, m.name, JSON.stringify(m.roles), keep.get(m.uid) ?? null)
  setMeta.run('staff_required', setup.staff === undefined ? '0' : '1')

  // Registers are never deleted (shifts name them); a re-import renames them.
  const upsertRegister = db.prepare(`INSERT INTO cash_registers (id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name`)
  for (const r of setup.cashRegisters ?? []) {
    upsertRegister.run(r.id, r.name)
    openAccount(accountIds.register(r.id), 'register', r.id)
  }

  setMeta.run('offline_policy', JSON.stringify(setup.offline ?? { allowed: false, perTagCapCents: 0, kioskTotalCapCents: 0 }))
  // Gateway-only: how far a transaction's `at` may be from the gateway's clock (the ledger's default when absent).
  if (setup.transactionTime === undefined) db.prepare(`DELETE FROM meta WHERE key = 'transaction_time'`).run()
  else setMeta.run('transaction_time', JSON.stringify(setup.transactionTime))
}
