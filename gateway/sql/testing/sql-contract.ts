// What the gateway's modules may rely on of a SqlDatabase, as one suite that
// better-sqlite3 and the PostgreSQL facade must both pass (as every ledger
// store passes store-contract.ts): binding, results, row counts, RETURNING,
// transactions and savepoints, and refusals of what cannot be stored exactly.
import type { Test } from 'tap'
import type { SqlDatabase } from '../database.js'

export interface SqlContractSubject {
  db: SqlDatabase
  close(): void
}

/**
 * `open` gives a fresh, empty database with the table `items` made by the
 * engine's own DDL: id (an integer key the database assigns), name (text, unique),
 * cents (integer), data (bytes, nullable).
 */
export function sqlContract(t: Test, engine: string, open: () => SqlContractSubject): void {
  const withDb = (name: string, body: (db: SqlDatabase, t: Test) => void | Promise<void>): void => {
    void t.test(`${engine}: ${name}`, async (t) => {
      const subject = open()
      t.teardown(() => subject.close())
      await body(subject.db, t)
    })
  }

  withDb('anonymous and named parameters bind; get, all and iterate read', (db, t) => {
    const insert = db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?)')
    const insertNamed = db.prepare<{ name: string; cents: number }>('INSERT INTO items (name, cents) VALUES (@name, @cents)')
    t.equal(insert.run('beer', 450).changes, 1)
    t.equal(insertNamed.run({ name: 'cup', cents: 200 }).changes, 1)
    const byName = db.prepare<[string], { name: string; cents: number }>('SELECT name, cents FROM items WHERE name = ?')
    t.same(byName.get('beer'), { name: 'beer', cents: 450 })
    t.equal(byName.get('water'), undefined, 'no row: undefined')
    const all = db.prepare<[], { name: string }>('SELECT name FROM items ORDER BY name').all()
    t.same(all, [{ name: 'beer' }, { name: 'cup' }])
    t.same([...db.prepare<[], { name: string }>('SELECT name FROM items ORDER BY name').iterate()], all)
  })

  withDb('integers come back as numbers, sums and counts too; text compares by bytes', (db, t) => {
    const insert = db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?)')
    insert.run('a', 2 ** 40)
    insert.run('B', -5)
    const totals = db.prepare<[], { total: number; n: number; biggest: number }>('SELECT SUM(cents) AS total, COUNT(*) AS n, MAX(cents) AS biggest FROM items').get()
    t.same(totals, { total: 2 ** 40 - 5, n: 2, biggest: 2 ** 40 })
    t.equal(typeof totals?.total, 'number')
    t.same(db.prepare<[], { name: string }>('SELECT name FROM items ORDER BY name').all(), [{ name: 'B' }, { name: 'a' }], 'upper case sorts first, as bytes do')
  })

  withDb('a comparison or EXISTS in the select list is 1 or 0, as SQLite answers it', (db, t) => {
    db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?)').run('beer', 450)
    const row = db
      .prepare<[string, string], { found: number; missing: number; cheap: number }>(
        'SELECT EXISTS (SELECT 1 FROM items WHERE name = ?) AS found, EXISTS (SELECT 1 FROM items WHERE name = ?) OR 1 = 2 AS missing, cents < 500 AS cheap FROM items',
      )
      .get('beer', 'water')
    t.same(row, { found: 1, missing: 0, cheap: 1 })
  })

  withDb('bytes go in and come out as Buffers', (db, t) => {
    const bytes = Buffer.from([0, 1, 0xfe, 0xff, 0x5c, 0x78])
    db.prepare<[string, number, Buffer]>('INSERT INTO items (name, cents, data) VALUES (?, ?, ?)').run('blob', 0, bytes)
    const row = db.prepare<[string], { data: Buffer }>('SELECT data FROM items WHERE name = ?').get('blob')
    t.ok(Buffer.isBuffer(row?.data))
    t.same(row?.data, bytes)
  })

  withDb('run says how many rows changed; RETURNING gives the key the database assigned', (db, t) => {
    const insert = db.prepare<[string, number], { id: number }>('INSERT INTO items (name, cents) VALUES (?, ?) RETURNING id')
    const first = insert.get('x', 1)
    const second = insert.get('y', 2)
    t.equal(typeof first?.id, 'number')
    t.ok(second!.id > first!.id, 'keys grow')
    t.equal(db.prepare<[number]>('UPDATE items SET cents = cents + ?').run(10).changes, 2)
    t.equal(db.prepare<[string]>('DELETE FROM items WHERE name = ?').run('nobody').changes, 0)
    t.equal(db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run('x', 5).changes, 0, 'a conflict that does nothing changes nothing')
    t.same(db.prepare<[string], { cents: number }>('SELECT cents FROM items WHERE name = ?').get('x'), { cents: 11 })
  })

  withDb('a transaction commits what its function wrote, and rolls all of it back when it throws', (db, t) => {
    const insert = db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?)')
    const count = () => db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM items').get()!.n
    const both = db.transaction((a: string, b: string) => {
      insert.run(a, 1)
      insert.run(b, 2)
      return 'done'
    })
    t.equal(both('one', 'two'), 'done')
    t.equal(count(), 2)
    t.throws(() => both('three', 'one'), 'the second insert breaks the unique name')
    t.equal(count(), 2, 'the first insert of the failed transaction is gone too')
    t.equal(db.inTransaction, false)
    const failing = db.transaction(() => {
      insert.run('four', 4)
      throw new Error('changed my mind')
    })
    t.throws(() => failing.immediate(), { message: 'changed my mind' })
    t.equal(count(), 2)
  })

  withDb('a transaction inside a transaction is a savepoint: its failure undoes only itself', (db, t) => {
    const insert = db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?)')
    const inner = db.transaction((name: string) => {
      insert.run(name, 1)
      if (name === 'bad') throw new Error('inner failed')
    })
    const outer = db.transaction(() => {
      t.equal(db.inTransaction, true)
      inner('good')
      t.throws(() => inner('bad'), { message: 'inner failed' })
      insert.run('after', 3)
    })
    outer()
    t.same(db.prepare<[], { name: string }>('SELECT name FROM items ORDER BY name').all(), [{ name: 'after' }, { name: 'good' }])
  })

  withDb('what a database cannot hold exactly is refused, and nothing is written', (db, t) => {
    const insert = db.prepare<[string, unknown]>('INSERT INTO items (name, cents) VALUES (?, ?)')
    t.throws(() => insert.run('undefined', undefined))
    t.throws(() => insert.run('object', { cents: 1 } as unknown as number))
    t.throws(() => db.prepare<[string]>('INSERT INTO items (name, cents) VALUES (?, ?)').run('too few' as never))
    t.equal(db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM items').get()!.n, 0)
  })
}
