// The check every authenticated portal request makes (session active, then the
// wristband's customer) read by the gateway's backend in one SQLite read
// transaction (sessionCustomer), with the same answers as sessionActive and
// customer asked one after the other, and over HTTP the same refusals.
import t from 'tap'
import { pino } from 'pino'
import { call, login } from '../portal-api/testing/helpers.js'
import type { PortalLedger } from './portal-backend.js'
import { createPortalBackend } from './portal-backend.js'
import { EVENT_CONFIG, PIN, UID, startPortalWorld } from './testing/portal-world.js'

t.test('sessionCustomer answers as sessionActive then customer do', async (t) => {
  const w = await startPortalWorld(t, { tokenTtlS: 3600 })
  const now = w.world.clock.now()
  const b = w.backend
  b.createSession({ jti: 'jti-alice', uid: UID.alice, createdAtMs: now, expiresAtMs: now + 60_000 })
  b.createSession({ jti: 'jti-stranger', uid: UID.stranger, createdAtMs: now, expiresAtMs: now + 60_000 })
  b.createSession({ jti: 'jti-revoked', uid: UID.alice, createdAtMs: now, expiresAtMs: now + 60_000 })
  b.revokeSession('jti-revoked', now)

  const cases: [string, string, number][] = [
    ['jti-alice', UID.alice, now],
    ['jti-alice', UID.bob, now],
    ['jti-alice', UID.alice, now + 60_000],
    ['jti-revoked', UID.alice, now],
    ['jti-unknown', UID.alice, now],
    ['jti-stranger', UID.stranger, now],
  ]
  for (const [jti, uid, at] of cases) {
    const oneByOne = b.sessionActive(jti, uid, at) ? b.customer(uid) : 'session_ended'
    t.same(b.sessionCustomer!(jti, uid, at), oneByOne, `${jti} as ${uid} at +${at - now} ms`)
  }
  t.match(b.sessionCustomer!('jti-alice', UID.alice, now), { uid: UID.alice, balanceCents: 2100, blocked: false })
  t.equal(b.sessionCustomer!('jti-revoked', UID.alice, now), 'session_ended')
  t.equal(b.sessionCustomer!('jti-stranger', UID.stranger, now), undefined, 'an active session of a wristband the ledger does not know')
})

t.test('its reads run inside one read transaction', async (t) => {
  const w = await startPortalWorld(t)
  const now = w.world.clock.now()
  const seen: boolean[] = []
  // The ledger's wristband read is the second of the check's reads: inside the transaction the session read opened.
  const ledger: PortalLedger = {
    ...w.ledger,
    registry: w.ledger.registry,
    wristband: (uid) => {
      seen.push(w.world.db.inTransaction)
      return w.ledger.wristband(uid)
    },
    customerOrders: (uid) => w.ledger.customerOrders(uid),
    receipt: (id) => w.ledger.receipt(id),
  }
  const backend = createPortalBackend({ db: w.world.db, ledger, clock: w.world.clock, logger: pino({ level: 'silent' }), eventConfig: EVENT_CONFIG, topups: w.topups })
  backend.createSession({ jti: 'jti-1', uid: UID.alice, createdAtMs: now, expiresAtMs: now + 60_000 })
  t.match(backend.sessionCustomer!('jti-1', UID.alice, now), { uid: UID.alice })
  t.same(seen, [true])
  t.notOk(w.world.db.inTransaction, 'and the transaction is over when it returns')
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
