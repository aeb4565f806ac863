// Test code only: a gateway ledger filled with real signed traffic of every
// kind the audit checks (cash top-ups, sales with deposits and a cup
// returned, a rejected sale, an offline sale that leaves a debt, an online
// top-up as an external booking with its online_topups record): a SQLite file
// written and closed, or any database the caller holds (PostgreSQL), so a test
// can damage it with plain SQL and audit it.
import { join } from 'node:path'
import { openLedgerDatabase } from '../../ledger/db.js'
import type { SqlDatabase } from '../../sql/database.js'
import { createLedger } from '../../ledger/ledger.js'
import { L, OPS_UID, STAFF, StaffedKiosk, opsSetup } from '../../ledger/testing/operations-fixtures.js'
import { fixedClock, silentLogger } from '../../ledger/testing/test-helpers.js'
import { accountIds } from '../../ledger/types.js'

/** Ids of the audited ledger's transactions, by what they are. */
export interface AuditedLedgerIds {
  aliceTopup: string
  beerWithCup: string
  cupReturn: string
  rejectedSale: string
  offlineSale: string
  secondBarSale: string
  onlineTopup: string
}

export interface AuditedLedgerFile {
  path: string
  ids: AuditedLedgerIds
}

/** Writes the ledger into `dir`/ledger.db and closes it. */
export function writeAuditedLedger(dir: string): AuditedLedgerFile {
  const path = join(dir, 'ledger.db')
  const db = openLedgerDatabase(path)
  try {
    return { path, ids: fillAuditedLedger(db) }
  } finally {
    db.close()
  }
}

/** Books the traffic into `db` (an empty database: the ledger migrates it); the caller keeps and closes it. */
export function fillAuditedLedger(db: SqlDatabase): AuditedLedgerIds {
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger })
  const bar = new StaffedKiosk('bar-1', STAFF.cashier)
  const desk = new StaffedKiosk('desk-1', STAFF.supervisor)
  const others = { cash: new StaffedKiosk('cash-1', STAFF.topup), food: new StaffedKiosk('food-1', STAFF.supervisor) }
  ledger.registry.importEventSetup(opsSetup({ 'bar-1': bar.keys, 'desk-1': desk.keys, 'cash-1': others.cash.keys, 'food-1': others.food.keys }))
  const book = (envelope: ReturnType<typeof bar.next>, expected: 'accepted' | 'rejected' = 'accepted'): string => {
    const [outcome] = ledger.applyBatch([{ envelope }])
    if (outcome?.kind !== 'result' || outcome.result.status !== expected) throw new Error(`expected ${expected}: ${JSON.stringify(outcome)}`)
    return envelope.tx.id
  }
  const aliceTopup = book(desk.topup(OPS_UID.alice, 2000))
  book(desk.topup(OPS_UID.bob, 300))
  const beerWithCup = book(bar.cart(OPS_UID.alice, [L.beer(), L.cup()]))
  const cupReturn = book(bar.cart(OPS_UID.alice, [L.cup(-1)]))
  const rejectedSale = book(bar.cart(OPS_UID.bob, [L.beer(), L.beer()]), 'rejected')
  const offlineSale = book(bar.cart(OPS_UID.bob, [L.beer()], { offline: true }))
  const secondBarSale = book(bar.cart(OPS_UID.alice, [L.water()]))
  const online = ledger.bookExternal({
    ref: 'sumup:checkout-1',
    kind: 'topup_online',
    customerUid: OPS_UID.alice,
    postings: [
      { account: ledger.ensureAccount('clearing', 'sumup'), amount: -1500 },
      { account: accountIds.customer(OPS_UID.alice), amount: 1500 },
    ],
  })
  const onlineTopup = online.id
  db.prepare(
    `INSERT INTO online_topups (id, provider, provider_checkout_id, uid, amount, currency, status, booking_id, created_at, updated_at)
     VALUES ('topup-1', 'sumup', 'checkout-1', ?, 1500, 'EUR', 'paid', ?, 0, 0)`,
  ).run(OPS_UID.alice, onlineTopup)
  const invariants = ledger.checkInvariants()
  if (invariants.length > 0) throw new Error(`the test ledger is not clean: ${invariants.join('; ')}`)
  return { aliceTopup, beerWithCup, cupReturn, rejectedSale, offlineSale, secondBarSale, onlineTopup }
}
