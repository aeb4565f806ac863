// The check every authenticated portal request makes (session active, then the
// wristband's customer) read by the gateway's backend in one statement
// (sessionCustomer), on SQLite and on PostgreSQL, with the same answers as
// sessionActive and customer asked one after the other, and over HTTP the
// same refusals.
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { call, login } from '../portal-api/testing/helpers.js'
import { createRetirementControls } from './registry/retirement.js'
import { createPortalBackend } from './portal-backend.js'
import type { SqlDatabase } from './sql/database.js'
import { EVENT_CONFIG, PIN, UID, startPortalWorld } from './testing/portal-world.js'
import { testOnEngines, worldEngines, type WorldEngine } from './testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

const portalRows = (db: SqlDatabase, uid: string) => db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM portal_customers WHERE uid = ?`).get(uid)!.n

onEveryEngine('sessionCustomer answers as sessionActive then customer do', async (t, engine) => {
  const w = await startPortalWorld(t, { tokenTtlS: 3600, database: engine.database(t) })
  const now = w.world.clock.now()
  const b = w.backend
  b.createSession({ jti: 'jti-alice', uid: UID.alice, createdAtMs: now, expiresAtMs: now + 60_000 })
  b.createSession({ jti: 'jti-bob', uid: UID.bob, createdAtMs: now, expiresAtMs: now + 60_000 })
  b.createSession({ jti: 'jti-stranger', uid: UID.stranger, createdAtMs: now, expiresAtMs: now + 60_000 })
  b.createSession({ jti: 'jti-revoked', uid: UID.alice, createdAtMs: now, expiresAtMs: now + 60_000 })
  b.revokeSession('jti-revoked', now)

  // Bob has no portal row before his first request: the check makes it, as customer() does.
  t.equal(portalRows(w.world.db, UID.bob), 0)
  t.match(b.sessionCustomer!('jti-bob', UID.bob, now), { uid: UID.bob, balanceCents: 50, blocked: false, iban: null, hasEnteredInfo: false })
  t.equal(portalRows(w.world.db, UID.bob), 1)

  const cases: [string, string, number][] = [
    ['jti-alice', UID.alice, now],
    ['jti-alice', UID.bob, now],
    ['jti-alice', UID.alice, now + 59_999],
    ['jti-alice', UID.alice, now + 60_000],
    ['jti-revoked', UID.alice, now],
    ['jti-unknown', UID.alice, now],
    ['jti-stranger', UID.stranger, now],
    ['jti-bob', UID.bob, now],
  ]
  const compare = (when: string) => {
    for (const [jti, uid, at] of cases) {
      const oneByOne = b.sessionActive(jti, uid, at) ? b.customer(uid) : 'session_ended'
      t.same(b.sessionCustomer!(jti, uid, at), oneByOne, `${when}: ${jti} as ${uid} at +${at - now} ms`)
    }
  }
  compare('as set up')
  // Strictly, types included: PostgreSQL answers in text, and its facade must have made numbers of them.
  t.strictSame(b.sessionCustomer!('jti-alice', UID.alice, now), b.customer(UID.alice))
  t.strictSame(b.sessionCustomer!('jti-bob', UID.bob, now), b.customer(UID.bob))
  t.match(b.sessionCustomer!('jti-alice', UID.alice, now), { uid: UID.alice, balanceCents: 2100, blocked: false })
  t.equal(b.sessionCustomer!('jti-alice', UID.alice, now + 60_000), 'session_ended', 'expired')
  t.equal(b.sessionCustomer!('jti-revoked', UID.alice, now), 'session_ended')
  t.equal(b.sessionCustomer!('jti-stranger', UID.stranger, now), undefined, 'an active session of a wristband the ledger does not know')

  // What the guest entered, a blocked wristband, then a retired one: each as the ledger and the portal row say.
  b.updateCustomerInfo(UID.alice, { iban: 'DE02120300000000202051', accountName: 'Alice', email: 'alice@example.org', donationCents: 100 })
  w.ledger.registry.setWristbandBlocked(UID.alice, true)
  compare('alice blocked, her payout details entered')
  t.match(b.sessionCustomer!('jti-alice', UID.alice, now), { blocked: true, iban: 'DE02120300000000202051', accountName: 'Alice', donationCents: 100, hasEnteredInfo: true })
  w.ledger.registry.setWristbandBlocked(UID.alice, false)
  t.ok(createRetirementControls(w.world.db).setWristbandDisabled(UID.alice, true))
  compare('alice disabled by an operator')
  t.equal(b.sessionCustomer!('jti-alice', UID.alice, now), undefined, 'a retired wristband is unknown to the portal, as to the ledger')
})

onEveryEngine('the check is one statement, no transaction', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const now = w.world.clock.now()
  const calls: string[] = []
  // The world's database, noting each statement the backend runs and each transaction it opens.
  const real = w.world.db
  const noted =
    (kind: string, fn: (...params: unknown[]) => unknown) =>
    (...params: unknown[]) => {
      calls.push(kind)
      return fn(...params)
    }
  // A proxy, not a copy: the migrations know the database by its class (SQLite) or its brand (PostgreSQL).
  const db = new Proxy(real, {
    get(target, name) {
      if (name === 'prepare')
        return (source: string) => {
          const statement = target.prepare(source)
          return {
            run: noted('statement', statement.run.bind(statement)),
            get: noted('statement', statement.get.bind(statement)),
            all: noted('statement', statement.all.bind(statement)),
            iterate: statement.iterate.bind(statement),
          }
        }
      if (name === 'transaction')
        return (fn: (...params: unknown[]) => unknown) => {
          const tx = target.transaction(fn)
          return Object.assign(noted('transaction', tx), { deferred: noted('transaction', tx.deferred), immediate: noted('transaction', tx.immediate) })
        }
      const value: unknown = Reflect.get(target, name, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const backend = createPortalBackend({ db, ledger: w.ledger, clock: w.world.clock, logger: pino({ level: 'silent' }), eventConfig: EVENT_CONFIG, topups: w.topups })
  backend.createSession({ jti: 'jti-1', uid: UID.alice, createdAtMs: now, expiresAtMs: now + 60_000 })
  t.match(backend.sessionCustomer!('jti-1', UID.alice, now), { uid: UID.alice, balanceCents: 2100 })
  calls.length = 0
  t.match(backend.sessionCustomer!('jti-1', UID.alice, now), { uid: UID.alice, balanceCents: 2100 })
  t.same(calls, ['statement'], 'one statement, and no transaction around it')
  t.notOk(real.inTransaction)
})

t.test('over HTTP: a logged-out session, a wristband blocked after login', async (t) => {
  const w = await startPortalWorld(t)
  const token = await login(w.base, PIN.alice)
  t.equal((await call(w.base, 'GET', '/customer', { token })).status, 200)
  w.ledger.registry.setWristbandBlocked(UID.alice, true)
  const blocked = await call(w.base, 'GET', '/customer', { token })
  t.equal(blocked.status, 403)
  t.equal(blocked.body.type, 'wristband_blocked')
  w.ledger.registry.setWristbandBlocked(UID.alice, false)
  t.equal((await call(w.base, 'POST', '/auth/logout', { token })).status, 204)
  const ended = await call(w.base, 'GET', '/customer', { token })
  t.equal(ended.status, 401)
  t.equal(ended.body.type, 'session_ended')
})
