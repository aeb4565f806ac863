import t from 'tap'
import { GENESIS_HASH } from '../../device-protocol/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { openLedgerDatabase } from './db.js'
import { createSqliteLedgerStore } from './sqlite-store.js'
import { STORE_CONTRACT_FIXTURE, storeContract } from './testing/store-contract.js'

storeContract(
  t,
  'sqlite store',
  () => {
    const db = openLedgerDatabase(':memory:')
    migrateGatewayDatabase(db)
    // The registry's rows that the store's foreign keys name (the registry writes them at import):
    // transactions.kiosk and shifts.kiosk name kiosks (whose rows carry the cursors, so ensureKiosk
    // wants them), kiosks.booth names booths, shifts.register names cash_registers.
    const booth = db.prepare(`INSERT INTO booths (id, name) VALUES (?, ?)`)
    for (const id of STORE_CONTRACT_FIXTURE.booths) booth.run(id, id)
    const kiosk = db.prepare(`INSERT INTO kiosks (id, booth, token_hash, sale_allowed, topup_allowed, last_hash) VALUES (?, ?, ?, 1, 1, ?)`)
    for (const k of STORE_CONTRACT_FIXTURE.kiosks) kiosk.run(k.id, k.booth, 'not-a-token', GENESIS_HASH)
    const register = db.prepare(`INSERT INTO cash_registers (id, name) VALUES (?, ?)`)
    for (const id of STORE_CONTRACT_FIXTURE.registers) register.run(id, id)
    return { store: createSqliteLedgerStore(db), close: () => db.close() }
  }
)
