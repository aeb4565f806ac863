// Users, login and tokens of the users and payments API over real HTTP; the
// tests that store users run on SQLite and on PostgreSQL (one body per engine).
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { openLedgerDatabase } from '../ledger/index.js'
import { createUsersStore } from './store.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { JWT_SECRET, startHarness } from './testing/harness.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

const PASSWORD = 'correct horse battery'

onEveryEngine('register, login and the seed status codes', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const reg = await h.api('POST', '/user/register', { userName: 'Alan Turing', email: 'ATuring@Example.org', password: PASSWORD })
  t.equal(reg.status, 201)
  t.type(reg.body.access_token, 'string')
  t.same(Object.keys(reg.body), ['access_token'])

  const login = await h.api('POST', '/user/login', { email: 'aturing@example.org', password: PASSWORD })
  t.equal(login.status, 201, 'email matched case-insensitively')
  t.type(login.body.access_token, 'string')

  const me = await h.api('GET', '/user', undefined, login.body.access_token)
  t.equal(me.status, 200)
  t.equal(me.body.length, 1)
  t.match(me.body[0], { userName: 'Alan Turing', email: 'aturing@example.org', userId: /^[0-9a-f]{24}$/ })
  t.notOk('customerId' in me.body[0], 'no Stripe customer before the first payment (as the seed says)')

  const wrong = await h.api('POST', '/user/login', { email: 'aturing@example.org', password: 'wrong password' })
  t.equal(wrong.status, 401)
  t.match(wrong.body, { type: 'invalid_credentials', id: String, message: String })
  const unknown = await h.api('POST', '/user/login', { email: 'nobody@example.org', password: PASSWORD })
  t.equal(unknown.status, 401)
  t.equal(unknown.body.type, 'invalid_credentials', 'unknown email answers like a wrong password')

  const dup = await h.api('POST', '/user/register', { userName: 'Other', email: 'aturing@EXAMPLE.org', password: PASSWORD })
  t.equal(dup.status, 409)
  t.equal(dup.body.type, 'email_taken')
})

t.test('passwords are stored as salted scrypt hashes, never in clear', async (t) => {
  const h = await startHarness(t)
  const a = await h.register('a@example.org')
  const b = await h.register('b@example.org')
  const hashA = h.store.userById(a.userId)!.passwordHash
  const hashB = h.store.userById(b.userId)!.passwordHash
  t.match(hashA, /^scrypt\$/)
  t.notOk(hashA.includes(PASSWORD))
  t.not(hashA, hashB, 'same password, different salt')
})

onEveryEngine('hostile bodies get a clear 400 and create nothing', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const bad: Array<[string, unknown]> = [
    ['missing password', { userName: 'x', email: 'x@example.org' }],
    ['extra field', { userName: 'x', email: 'x@example.org', password: PASSWORD, role: 'admin' }],
    ['password too short', { userName: 'x', email: 'x@example.org', password: 'short' }],
    ['password too long', { userName: 'x', email: 'x@example.org', password: 'p'.repeat(129) }],
    ['not an email', { userName: 'x', email: 'not-an-email', password: PASSWORD }],
    ['blank name', { userName: '   ', email: 'x@example.org', password: PASSWORD }],
    ['number as name', { userName: 42, email: 'x@example.org', password: PASSWORD }],
    ['array body', [{ userName: 'x', email: 'x@example.org', password: PASSWORD }]],
    ['null body', null],
    ['broken JSON', '{"userName": "x", '],
  ]
  for (const [name, body] of bad) {
    const res = await h.api('POST', '/user/register', body)
    t.equal(res.status, 400, name)
    t.match(res.body, { type: String, id: String, message: String }, `${name}: error body`)
  }
  const proto = await h.api('POST', '/user/register', '{"userName":"x","email":"x@example.org","password":"correct horse","__proto__":{"admin":true}}')
  t.equal(proto.status, 400, '__proto__ key refused')
  t.equal((h.world.db.prepare('SELECT COUNT(*) AS n FROM users_api_users').get() as { n: number }).n, 0, 'no user created')
  const login = await h.api('POST', '/user/login', { email: 'x@example.org' })
  t.equal(login.status, 400)
})

t.test('bearer tokens: missing, forged, expired, other audience, alg none', async (t) => {
  const h = await startHarness(t, { tokenTtlSeconds: 60 })
  const { token } = await h.register('a@example.org')
  const me = await h.api('GET', '/user', undefined, token)
  t.equal(me.status, 200)
  const userId = me.body[0].userId

  t.equal((await h.api('GET', '/user')).status, 401, 'no token')
  t.equal((await h.api('GET', '/user', undefined, 'garbage')).status, 401, 'garbage token')
  t.equal((await h.api('GET', '/user', undefined, undefined, { authorization: `Basic ${token}` })).status, 401, 'not bearer')

  const now = Math.floor(h.world.clock.now() / 1000)
  const forged = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuer('wristpay')
    .setAudience('wristpay-users-api')
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(new TextEncoder().encode('another-secret-of-32-bytes-at-least-!!'))
  t.equal((await h.api('GET', '/user', undefined, forged)).status, 401, 'signed with another key')

  const otherAudience = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuer('wristpay')
    .setAudience('wristpay-portal')
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(new TextEncoder().encode(JWT_SECRET))
  t.equal((await h.api('GET', '/user', undefined, otherAudience)).status, 401, 'token for another API')

  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
  const payload = Buffer.from(JSON.stringify({ sub: userId, iss: 'wristpay', aud: 'wristpay-users-api', exp: now + 60 })).toString('base64url')
  t.equal((await h.api('GET', '/user', undefined, `${header}.${payload}.`)).status, 401, 'alg none')

  h.world.clock.advance(61_000)
  const expired = await h.api('GET', '/user', undefined, token)
  t.equal(expired.status, 401, 'expired')
  t.equal(expired.body.type, 'unauthorized')
})

t.test('an unauthenticated request is refused before its body is looked at', async (t) => {
  const h = await startHarness(t)
  const res = await h.api('POST', '/payment', { cuid: 'not valid at all!' })
  t.equal(res.status, 401)
})

onEveryEngine('a user reads and changes only their own account and the accounts they created', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const b = await h.register('b@example.org')

  const own = await h.api('GET', `/user/${a.userId}`, undefined, a.token)
  t.equal(own.status, 200)
  t.equal(own.body.email, 'a@example.org')

  for (const [method, body] of [
    ['GET', undefined],
    ['PATCH', { userName: 'Mallory' }],
    ['DELETE', undefined],
  ] as const) {
    const res = await h.api(method, `/user/${b.userId}`, body, a.token)
    t.equal(res.status, 403, `${method} another user`)
    t.equal(res.body.type, 'forbidden')
  }
  for (const [method, body] of [
    ['GET', undefined],
    ['PATCH', { userName: 'Nobody' }],
    ['DELETE', undefined],
  ] as const) {
    const nonexistent = await h.api(method, '/user/000000000000000000000000', body, a.token)
    t.equal(nonexistent.status, 404, `${method} an id that does not exist`)
    t.equal(nonexistent.body.type, 'unknown_user')
  }
  const list = await h.api('GET', '/user', undefined, a.token)
  t.same(
    list.body.map((u: { userId: string }) => u.userId),
    [a.userId],
    'GET /user lists only the caller',
  )
  const bAfter = await h.api('GET', `/user/${b.userId}`, undefined, b.token)
  t.equal(bAfter.body.userName, 'b', 'b unchanged')
})

t.test('PATCH /user/{id}: name and email; customerId cannot be taken over', async (t) => {
  const h = await startHarness(t)
  const a = await h.register('a@example.org')
  await h.register('b@example.org')

  const renamed = await h.api('PATCH', `/user/${a.userId}`, { userName: 'Ada', email: 'Ada@Example.org' }, a.token)
  t.equal(renamed.status, 200)
  t.match(renamed.body, { userId: a.userId, userName: 'Ada', email: 'ada@example.org' })
  t.equal((await h.api('POST', '/user/login', { email: 'ada@example.org', password: PASSWORD })).status, 201, 'login with the new email')

  const taken = await h.api('PATCH', `/user/${a.userId}`, { email: 'b@example.org' }, a.token)
  t.equal(taken.status, 409)
  t.equal(taken.body.type, 'email_taken')

  const takeover = await h.api('PATCH', `/user/${a.userId}`, { customerId: 'cus_someoneElse123' }, a.token)
  t.equal(takeover.status, 403)
  t.equal(takeover.body.type, 'customer_id_immutable')

  await h.prepay(a.token, 'cuid-for-customer-01')
  const withCustomer = await h.api('GET', `/user/${a.userId}`, undefined, a.token)
  t.match(withCustomer.body.customerId, /^cus_/)
  const sameCustomer = await h.api('PATCH', `/user/${a.userId}`, { customerId: withCustomer.body.customerId, userName: 'Ada L' }, a.token)
  t.equal(sameCustomer.status, 200, 'its own customer id is accepted unchanged')
  t.equal(sameCustomer.body.userName, 'Ada L')

  const hostile = await h.api('PATCH', `/user/${a.userId}`, { email: 'x@example.org', isAdmin: true }, a.token)
  t.equal(hostile.status, 400)
  t.equal((await h.api('GET', `/user/${a.userId}`, undefined, a.token)).body.email, 'ada@example.org', 'unchanged by the refused request')
})

t.test('POST /user creates another account that can log in', async (t) => {
  const h = await startHarness(t)
  const a = await h.register('a@example.org')
  const created = await h.api('POST', '/user', { userName: 'Grace', email: 'grace@example.org', password: PASSWORD }, a.token)
  t.equal(created.status, 201)
  t.match(created.body, { userName: 'Grace', email: 'grace@example.org', userId: /^[0-9a-f]{24}$/ })
  t.not(created.body.userId, a.userId)
  t.equal((await h.api('POST', '/user/login', { email: 'grace@example.org', password: PASSWORD })).status, 201)
  t.equal((await h.api('POST', '/user', { userName: 'G', email: 'grace@example.org', password: PASSWORD }, a.token)).status, 409)
  t.equal((await h.api('POST', '/user', { userName: 'G', email: 'g2@example.org', password: PASSWORD })).status, 401, 'needs a token')
})

onEveryEngine('DELETE /user/{id}: refused while money is prepaid; afterwards the token stops working', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const rich = await h.register('rich@example.org')
  await h.prepay(rich.token, 'cuid-rich-000001', 1500)
  const refused = await h.api('DELETE', `/user/${rich.userId}`, undefined, rich.token)
  t.equal(refused.status, 409)
  t.equal(refused.body.type, 'balance_not_zero')
  t.equal((await h.api('GET', '/user', undefined, rich.token)).status, 200, 'still there')

  const poor = await h.register('poor@example.org')
  const open = await h.api('POST', '/payment', { cuid: 'cuid-open-0000001' }, poor.token)
  t.equal(open.status, 201)
  const deleted = await h.api('DELETE', `/user/${poor.userId}`, undefined, poor.token)
  t.equal(deleted.status, 200)
  t.equal(deleted.body.userId, poor.userId)
  t.equal((h.sim.control.object(open.body.id) as unknown as { status: string }).status, 'canceled', 'its open payment intent was canceled')
  t.equal((await h.api('GET', '/user', undefined, poor.token)).status, 401, 'token of a deleted user is refused')
  t.equal((await h.api('POST', '/user/login', { email: 'poor@example.org', password: PASSWORD })).status, 401)
  t.equal((await h.api('POST', '/user/register', { userName: 'again', email: 'poor@example.org', password: PASSWORD })).status, 201, 'email free again')
  t.same(h.world.ledger.checkInvariants(), [])
})

t.test('login and register are rate limited per client', async (t) => {
  const h = await startHarness(t, { authRateLimit: { max: 3, timeWindowMs: 60_000 } })
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await h.api('POST', '/user/login', { email: 'x@example.org', password: 'guess' + i })).status)
  t.same(statuses, [401, 401, 401, 429, 429])
  const limited = await h.api('POST', '/user/login', { email: 'x@example.org', password: 'guess' })
  t.match(limited.body, { type: 'rate_limited', id: String, message: String })
})

t.test('an account sees and manages the users it created with POST /user, and nobody else does', async (t) => {
  const h = await startHarness(t)
  const organiser = await h.register('organiser@example.org')
  const stranger = await h.register('stranger@example.org')
  const created = await h.api('POST', '/user', { userName: 'Grace', email: 'grace@example.org', password: PASSWORD }, organiser.token)
  t.equal(created.status, 201)
  const graceId = created.body.userId as string

  const list = await h.api('GET', '/user', undefined, organiser.token)
  t.same(list.body.map((u: { userId: string }) => u.userId), [organiser.userId, graceId], 'GET /user: the caller, then the users it created')
  const got = await h.api('GET', `/user/${graceId}`, undefined, organiser.token)
  t.equal(got.status, 200)
  t.same(got.body, created.body)
  const patched = await h.api('PATCH', `/user/${graceId}`, { userName: 'Grace Hopper' }, organiser.token)
  t.equal(patched.status, 200)
  t.equal(patched.body.userName, 'Grace Hopper')

  for (const [method, body] of [
    ['GET', undefined],
    ['PATCH', { userName: 'Mallory' }],
    ['DELETE', undefined],
  ] as const) {
    const res = await h.api(method, `/user/${graceId}`, body, stranger.token)
    t.equal(res.status, 403, `${method}: a stranger may not`)
    t.equal(res.body.type, 'forbidden')
  }
  t.same((await h.api('GET', '/user', undefined, stranger.token)).body.map((u: { userId: string }) => u.userId), [stranger.userId])

  // Grace logs in herself: she sees herself, not her creator.
  const graceLogin = await h.api('POST', '/user/login', { email: 'grace@example.org', password: PASSWORD })
  const grace = graceLogin.body.access_token as string
  t.same((await h.api('GET', '/user', undefined, grace)).body.map((u: { userId: string }) => u.userId), [graceId])
  t.equal((await h.api('GET', `/user/${organiser.userId}`, undefined, grace)).status, 403, 'a created user does not manage its creator')

  const deleted = await h.api('DELETE', `/user/${graceId}`, undefined, organiser.token)
  t.equal(deleted.status, 200)
  t.equal(deleted.body.userName, 'Grace Hopper')
  t.equal((await h.api('GET', `/user/${graceId}`, undefined, organiser.token)).status, 404, 'gone')
  t.same((await h.api('GET', '/user', undefined, organiser.token)).body.map((u: { userId: string }) => u.userId), [organiser.userId])
  t.equal((await h.api('GET', '/user', undefined, grace)).status, 401, "the deleted user's token stops working")
})

t.test('PATCH /user/{id} takes the whole user as returned, and the document example with the own customerId', async (t) => {
  const h = await startHarness(t)
  const a = await h.register('a@example.org')
  await h.prepay(a.token, 'cuid-for-customer-02')
  const me = (await h.api('GET', `/user/${a.userId}`, undefined, a.token)).body
  t.match(me.customerId, /^cus_/)
  const whole = await h.api('PATCH', `/user/${a.userId}`, { ...me, userName: 'Alan Turing' }, a.token)
  t.equal(whole.status, 200, 'the returned user sent back with a change')
  t.same(whole.body, { ...me, userName: 'Alan Turing' })
  const example = await h.api('PATCH', `/user/${a.userId}`, { userName: 'Alan Turing', email: 'aturing@gmail.com', customerId: me.customerId }, a.token)
  t.equal(example.status, 200)
  t.same(example.body, { userId: a.userId, userName: 'Alan Turing', email: 'aturing@gmail.com', customerId: me.customerId })
  const otherId = await h.api('PATCH', `/user/${a.userId}`, { ...me, userId: '0123456789abcdef01234567' }, a.token)
  t.equal(otherId.status, 400, 'a userId that is not the one of the path')
  t.equal(otherId.body.type, 'user_id_mismatch')
  t.equal((await h.api('GET', `/user/${a.userId}`, undefined, a.token)).body.email, 'aturing@gmail.com', 'unchanged by the refused request')
})

t.test('a users table from before created_by gets the column on open and keeps its rows', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  db.exec(`CREATE TABLE users_api_users (id TEXT PRIMARY KEY, user_name TEXT NOT NULL, email TEXT UNIQUE, password_hash TEXT NOT NULL,
    customer_id TEXT UNIQUE, linked_uid TEXT UNIQUE, linked_at INTEGER, created_at INTEGER NOT NULL, deleted_at INTEGER) STRICT`)
  db.prepare(`INSERT INTO users_api_users (id, user_name, email, password_hash, created_at) VALUES ('u1', 'Old', 'old@example.org', 'x', 1)`).run()
  const store = createUsersStore(db)
  t.equal(store.userById('u1')?.createdBy, null, 'an old user was registered, created by nobody')
  store.insertUser({ id: 'u2', userName: 'New', email: 'new@example.org', passwordHash: 'x', createdAt: 2, createdBy: 'u1' })
  migrateGatewayDatabase(db)
  t.same(createUsersStore(db).usersCreatedBy('u1').map((u) => u.id), ['u2'], 'opening again changes nothing')
})
