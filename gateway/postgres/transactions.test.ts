// The ledger store and the SqlDatabase facade on one PostgreSQL connection
// share its one transaction (transactions.ts): whichever opens it, the other
// nests inside as a savepoint, an inner part that throws is undone alone, and
// an outer part that throws takes everything with it.
import t, { type Test } from 'tap'
import { pgLedgerStoreOn } from '../ledger/pg-store.js'
import { accountIds } from '../ledger/types.js'
import { migrateGatewayDatabase } from '../migrations.js'
import type { SqlDatabase } from '../sql/database.js'
import { sqlEngines } from '../testing/sql-engines.js'
import { pgConnectionOf } from './sql-database.js'

const postgres = (await sqlEngines(t)).find((engine) => engine.name === 'postgres')

if (postgres === undefined) {
  t.comment('PostgreSQL not installed: skipped; CI installs it')
} else {
  /** A migrated gateway database, its facade and the ledger store on the facade's connection. */
  function world(t: Test) {
    const db = postgres!.open(t)
    migrateGatewayDatabase(db)
    const store = pgLedgerStoreOn(pgConnectionOf(db)!)
    const setMeta = (key: string) => db.prepare(`INSERT INTO meta (key, value) VALUES (?, 'x')`).run(key)
    const metaKeys = () => db.prepare<[], { key: string }>(`SELECT key FROM meta WHERE key LIKE 'k-%' ORDER BY key`).all().map((r) => r.key)
    const account = (name: string) => accountIds.customer(name)
    const accounts = () =>
      db
        .prepare<[], { ref: string }>(`SELECT ref FROM accounts ORDER BY ref`)
        .all()
        .map((r) => r.ref)
    return { db, store, setMeta, metaKeys, account, accounts }
  }
  const fails = (fn: () => void): void => {
    try {
      fn()
    } catch {
      // expected: the inner part's own failure
    }
  }
  /** Whether the server still has a transaction open on the facade's connection (it must not after the outer part ends). */
  const serverInTransaction = (db: SqlDatabase): boolean => pgConnectionOf(db)!.transactionStatus() !== 'I'

  t.test('a facade transaction inside a store batch joins it: committed with the batch, undone alone when it throws', async (t) => {
    const w = world(t)
    w.store.batch(() => {
      w.store.ensureAccount(w.account('a'), 'customer', 'a')
      w.db.transaction(() => w.setMeta('k-joined'))()
      t.ok(w.db.inTransaction, 'the facade sees the batch as its transaction')
      fails(() =>
        w.db.transaction(() => {
          w.setMeta('k-undone')
          throw new Error('inner refusal')
        })(),
      )
      w.store.ensureAccount(w.account('b'), 'customer', 'b')
    })
    t.same(w.metaKeys(), ['k-joined'], 'the inner part that threw is undone, the other kept')
    t.same(w.accounts(), ['a', 'b'])
    t.notOk(serverInTransaction(w.db), 'the batch committed: no transaction is left open')
  })

  t.test('a store batch that throws takes the facade writes made inside it along', async (t) => {
    const w = world(t)
    t.throws(() =>
      w.store.batch(() => {
        w.store.ensureAccount(w.account('a'), 'customer', 'a')
        // Before the shared state the facade began its own transaction here, and its COMMIT committed the batch's part early.
        w.db.transaction(() => w.setMeta('k-inner'))()
        throw new Error('the batch fails after the registry wrote')
      }),
    /the batch fails/)
    t.same(w.metaKeys(), [], 'nothing of the facade part is kept')
    t.same(w.accounts(), [], 'nothing of the store part is kept')
    t.notOk(serverInTransaction(w.db))
  })

  t.test('a store batch inside a facade transaction (an import, an admin booking) joins it', async (t) => {
    const w = world(t)
    w.db.transaction(() => {
      w.setMeta('k-outer')
      w.store.ensureAccount(w.account('a'), 'customer', 'a')
      fails(() =>
        w.store.batch(() => {
          w.store.ensureAccount(w.account('undone'), 'customer', 'undone')
          throw new Error('inner batch refused')
        }),
      )
      w.store.batch(() => w.store.ensureAccount(w.account('b'), 'customer', 'b'))
    })()
    t.same(w.metaKeys(), ['k-outer'])
    t.same(w.accounts(), ['a', 'b'], 'the inner batch that threw is undone, the others kept')

    t.throws(() =>
      w.db.transaction(() => {
        w.setMeta('k-failed')
        w.store.batch(() => w.store.ensureAccount(w.account('c'), 'customer', 'c'))
        throw new Error('the import fails after booking')
      })(),
    /import fails/)
    t.same(w.metaKeys(), ['k-outer'], 'the failed outer transaction left nothing')
    t.same(w.accounts(), ['a', 'b'], 'nor the batch inside it')
    t.notOk(serverInTransaction(w.db))
  })

  t.test('a statement that failed inside, its error caught, fails the outer part instead of a silent partial commit', async (t) => {
    const w = world(t)
    t.throws(
      () =>
        w.db.transaction(() => {
          w.setMeta('k-first')
          fails(() => w.setMeta('k-first'))
        })(),
      /a statement of this transaction failed .*nothing of the transaction was written/,
    )
    t.same(w.metaKeys(), [])
    t.throws(
      () =>
        w.store.batch(() => {
          w.store.ensureAccount(w.account('a'), 'customer', 'a')
          fails(() => w.setMeta('k-x') && w.setMeta('k-x'))
        }),
      /nothing of the batch was written/,
      'a facade statement failing inside a batch, outside a nested transaction, fails the batch',
    )
    t.same(w.accounts(), [])
    t.notOk(serverInTransaction(w.db))
  })
}
