// Retiring by the event set-up, on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts):
// the statements alone, on a bare database; retirement.test.ts tests it through the whole ledger on SQLite.
import t from 'tap'
import type { EventSetup } from '../event-setup.js'
import { migrateGatewayDatabase } from '../migrations.js'
import type { SqlDatabase } from '../sql/database.js'
import { sqlEngines, type SqlEngine } from '../testing/sql-engines.js'
import { applySetupRetirement, createRetirementControls } from './retirement.js'

const engines = await sqlEngines(t)

/** The parts of a set-up that retirement reads. */
const setupOf = (kiosks: string[], wristbands: Array<{ uid: string; blocked?: boolean }>) =>
  ({ kiosks: kiosks.map((id) => ({ id })), wristbands: wristbands.map((w) => ({ blocked: false, ...w })) }) as unknown as EventSetup

function seed(engine: SqlEngine, db: SqlDatabase): void {
  migrateGatewayDatabase(db)
  db.prepare(`INSERT INTO booths (id, name) VALUES ('bar', 'Bar')`).run()
  // A kiosk's chain cursor is a column of its row on SQLite only (postgres/gateway-schema.ts).
  const chain = engine.name === 'sqlite' ? { columns: ', last_hash', values: ", 'genesis'" } : { columns: '', values: '' }
  const kiosk = db.prepare(`INSERT INTO kiosks (id, booth, token_hash, sale_allowed, topup_allowed, origin${chain.columns}) VALUES (?, 'bar', 'h', 1, 0, ?${chain.values})`)
  kiosk.run('bar-1', null)
  kiosk.run('bar-2', null)
  kiosk.run('made-by-admin', 'admin')
  const account = db.prepare(`INSERT INTO accounts (id, kind, ref, balance) VALUES (?, 'customer', ?, ?)`)
  const band = db.prepare(`INSERT INTO wristbands (uid, pin_lookup, account, in_setup, retired, blocked, blocked_before_retired) VALUES (?, ?, ?, ?, ?, ?, ?)`)
  const wristband = (uid: string, balance: number, inSetup: number, retired: string | null = null, blocked = 0, before: number | null = null) => {
    account.run(`customer:${uid}`, uid, balance)
    band.run(uid, `pin-${uid}`, `customer:${uid}`, inSetup, retired, blocked, before)
  }
  wristband('GONE', 700, 1)
  wristband('BACK', 200, 1, 'removed_from_setup', 1, 0)
  wristband('SOLD-AT-TILL', 300, 0)
  for (let i = 0; i < 1000; i++) wristband(`W${String(i).padStart(4, '0')}`, 0, 0)
}

const listed = Array.from({ length: 1000 }, (_, i) => ({ uid: `W${String(i).padStart(4, '0')}` }))

for (const engine of engines) {
  t.test(`${engine.name}: an import retires what the file no longer lists and restores what it lists again`, async (t) => {
    const db = engine.open(t)
    seed(engine, db)
    const importing = db.transaction((setup: EventSetup) => applySetupRetirement(db, setup, []))
    // More uids than one insert of the set-up's ids holds.
    const first = importing(setupOf(['bar-1'], [...listed, { uid: 'BACK' }]))
    t.same(first, { kiosksRetired: ['bar-2'], kiosksRestored: [], kiosksWithNewToken: [], wristbandsRetired: 1, wristbandsRestored: 1, retiredBalanceCents: 700 })
    const controls = createRetirementControls(db)
    t.same(controls.retiredKiosks(), [{ id: 'bar-2', reason: 'removed_from_setup' }], 'a kiosk an operator made is not retired for being absent')
    t.same(controls.retiredWristbands(), [{ uid: 'GONE', reason: 'removed_from_setup', balance: 700 }], 'nor a wristband sold at a till')
    t.same(db.prepare(`SELECT blocked, blocked_before_retired FROM wristbands WHERE uid = 'BACK'`).get(), { blocked: 0, blocked_before_retired: null }, 'restored as it was')
    t.same(db.prepare(`SELECT COUNT(*) AS n FROM wristbands WHERE in_setup = 1`).get(), { n: 1002 }, "the file's wristbands are marked as the file's")

    const second = importing(setupOf(['bar-1', 'bar-2'], [{ uid: 'GONE', blocked: true }]))
    t.same(second.kiosksRestored, ['bar-2'])
    t.equal(second.wristbandsRestored, 1)
    t.equal(second.wristbandsRetired, 1001, 'the ids of the first import were not kept')
    t.same(db.prepare(`SELECT blocked, retired FROM wristbands WHERE uid = 'GONE'`).get(), { blocked: 1, retired: null }, 'the file says blocked')
  })

  t.test(`${engine.name}: a failed import keeps nothing of its retirement`, async (t) => {
    const db = engine.open(t)
    seed(engine, db)
    const failing = db.transaction((setup: EventSetup) => {
      applySetupRetirement(db, setup, [])
      throw new Error('the import failed after retiring')
    })
    t.throws(() => failing(setupOf([], [])), /failed after retiring/)
    const controls = createRetirementControls(db)
    t.same(controls.retiredKiosks(), [])
    t.same(controls.retiredWristbands(), [{ uid: 'BACK', reason: 'removed_from_setup', balance: 200 }])
    const next = db.transaction((setup: EventSetup) => applySetupRetirement(db, setup, []))(setupOf(['bar-1', 'bar-2'], [...listed, { uid: 'GONE' }]))
    t.same(next.kiosksRetired, [])
    t.equal(next.wristbandsRetired, 0)
  })
}
