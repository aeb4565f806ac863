// better-sqlite3 is a SqlDatabase as it is: the contract the PostgreSQL
// facade is held to (gateway/postgres/sql-database.test.ts) is first of all
// what SQLite does.
import Database from 'better-sqlite3'
import t from 'tap'
import type { SqlDatabase } from './database.js'
import { sqlContract } from './testing/sql-contract.js'

sqlContract(t, 'better-sqlite3', () => {
  const sqlite = new Database(':memory:')
  sqlite.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, cents INTEGER NOT NULL, data BLOB)')
  // The assignment is the check that matters here: a better-sqlite3 Database is a SqlDatabase.
  const db: SqlDatabase = sqlite
  return { db, close: () => sqlite.close() }
})
