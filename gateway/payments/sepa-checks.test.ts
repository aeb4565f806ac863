// SEPA checks of payout data: the guest saves it on the portal (the gateway's
// portal backend over HTTP, a real SQLite file), the check runs afterwards
// against the provider simulator over real HTTP (or a hostile fake provider),
// the portal tells the guest what it found and payout runs leave out or flag
// guests by it. The guest's save never waits for the provider nor fails with
// it, and neither the holder name nor the full IBAN reaches the log.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { call, login } from '../../portal-api/testing/helpers.js'
import { startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import type { ProviderSim } from '../../simulators/provider-sim/index.js'
import { createPayoutRuns } from '../payouts/payout-runs.js'
import { PIN, UID, startPortalWorld, type PortalWorld } from '../testing/portal-world.js'
import { silentLogger } from '../ledger/testing/test-helpers.js'
import { createStancerClient, type StancerClient } from './stancer-client.js'
import { SEPA_CHECK_MAX_RETRY_MS, createSepaChecks, maskIban, portalPayoutCheck, sepaCheckOf, type SepaChecks } from './sepa-checks.js'

const IBAN = 'DE89370400440532013000'
const OTHER_IBAN = 'AT611904300234573201'
const NAME = 'Alice Verylongsurname'
const DATA = { iban: IBAN, account_name: NAME, email: 'alice@example.org' }

interface CheckWorld {
  w: PortalWorld
  checks: SepaChecks
  token: string
  logs: string[]
}

/** The portal world with SEPA checks asked of `client` (the simulator's by default). */
async function checkWorld(t: Test, client: Pick<StancerClient, 'createSepaCheck' | 'getSepaCheck'>): Promise<CheckWorld> {
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  let checks: SepaChecks | undefined
  const w = await startPortalWorld(t, {
    logger,
    payoutCheck: (world) => {
      checks = createSepaChecks({ db: world.db, client, clock: world.clock, logger })
      return portalPayoutCheck(checks)
    },
  })
  const token = await login(w.base, PIN.alice)
  return { w, checks: checks!, token, logs }
}

const simClient = (sim: ProviderSim) => createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, timeoutMs: 5_000 })
const row = (cw: CheckWorld) => cw.w.world.db.prepare(`SELECT * FROM sepa_checks WHERE uid = ?`).get(UID.alice) as Record<string, unknown> | undefined
const portalCheck = async (cw: CheckWorld) => (await call(cw.w.base, 'GET', '/customer/payout_check', { token: cw.token })).body
const save = async (cw: CheckWorld, data: object = DATA) => (await call(cw.w.base, 'POST', '/customer_info', { token: cw.token, body: data })).status
const checkRequests = (sim: ProviderSim) => sim.controls.requests().filter((r) => r.path.startsWith('/v2/sepa_check'))

function noPersonalData(t: Test, cw: CheckWorld) {
  const text = cw.logs.join('')
  t.notOk(text.includes(NAME), 'the holder name is never logged')
  t.notOk(text.includes(IBAN) || text.includes(OTHER_IBAN), 'the IBAN is never logged in full')
}

function balanced(t: Test, cw: CheckWorld) {
  t.same(cw.w.ledger.checkInvariants(), [], 'ledger invariants hold')
  t.equal(cw.w.ledger.sumOfAllBalances(), 0, 'all balances sum to zero')
}

t.test('maskIban keeps the country, check digits and last four', async (t) => {
  t.equal(maskIban('DE89 3704 0044 0532 0130 00'), 'DE89**************3000')
  t.equal(maskIban('short'), '****')
})

t.test('a matching name: the check runs after the save and the portal says the account is fine', async (t) => {
  const sim = await startSim(t)
  const cw = await checkWorld(t, simClient(sim))
  t.same(await portalCheck(cw), { state: 'none', message: 'No payout account entered yet.' }, 'nothing to check before the guest enters data')
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'matched', score: 1, attempts: 0 })
  t.match(await portalCheck(cw), { state: 'ok' })
  const [create] = checkRequests(sim)
  t.match(create, { method: 'POST', path: '/v2/sepa_check' })
  t.match(cw.logs.join(''), /DE89\*+3000/, 'the log shows the masked IBAN')
  noPersonalData(t, cw)

  // The same data saved again is not checked again (each check may cost a fee).
  const asked = checkRequests(sim).length
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  t.equal(checkRequests(sim).length, asked)
  t.match(row(cw), { state: 'matched' })
})

t.test('a mismatch: the guest is told to correct their data and a payout run leaves them out with the reason', async (t) => {
  const sim = await startSim(t)
  const cw = await checkWorld(t, simClient(sim))
  sim.controls.mismatchNextChecks(1)
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'mismatch', score: 0.1 })
  const shown = await portalCheck(cw)
  t.equal(shown.state, 'needs_correction')
  t.match(shown.message, /correct the account holder name or the IBAN/)

  // Bob has data too, checked and matched: he is in the run, alice is not.
  const bobToken = await login(cw.w.base, PIN.bob)
  t.equal((await call(cw.w.base, 'POST', '/customer_info', { token: bobToken, body: { iban: OTHER_IBAN, account_name: 'Bob Example', email: 'bob@example.org' } })).status, 204)
  await cw.checks.runDue()
  const db = cw.w.world.db
  const runs = createPayoutRuns({ db, ledger: cw.w.ledger, clock: cw.w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE', 'AT'], sepaCheck: sepaCheckOf(db) })
  const run = runs.create({ operator: 'anna' })
  t.same(run.items.map((i) => [i.uid, i.sepaCheck]), [[UID.bob, 'matched']])
  t.same(run.skipped, [{ uid: UID.alice, reason: 'the SEPA check found that the account holder name does not match the IBAN; the portal asks the guest to correct it' }])
  t.equal(cw.w.ledger.balanceOf(UID.alice), 2100, "alice's money stays on the wristband")
  noPersonalData(t, cw)
  balanced(t, cw)
})

t.test('pending: the check is completed by a later pass, also by a gateway started again', async (t) => {
  const sim = await startSim(t)
  const client = simClient(sim)
  const cw = await checkWorld(t, client)
  sim.controls.pendingNextChecks(1)
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  const pending = row(cw)!
  t.match(pending, { state: 'pending', check_id: /^chck_/ })
  t.equal((await portalCheck(cw)).state, 'checking')
  const bobToken = await login(cw.w.base, PIN.bob)
  t.equal((await call(cw.w.base, 'POST', '/customer_info', { token: bobToken, body: { iban: OTHER_IBAN, account_name: 'Bob Example', email: 'bob@example.org' } })).status, 204)
  await cw.checks.runDue()

  // A pending (or not yet answered) check does not keep the guest out of a run by default: the item is flagged.
  const db = cw.w.world.db
  const runs = createPayoutRuns({ db, ledger: cw.w.ledger, clock: cw.w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE', 'AT'], sepaCheck: sepaCheckOf(db) })
  const strict = runs.create({ operator: 'anna', requireSepaCheck: true })
  t.same(strict.skipped, [{ uid: UID.alice, reason: 'the SEPA check is not answered yet (pending) and this run requires one' }], 'requireSepaCheck leaves them out')
  t.same(strict.items.map((i) => [i.uid, i.sepaCheck]), [[UID.bob, 'matched']])
  runs.cancel(strict.id, 'anna')
  const flagged = runs.create({ operator: 'anna' })
  t.same(flagged.items.map((i) => [i.uid, i.sepaCheck]), [[UID.alice, 'pending'], [UID.bob, 'matched']], 'the operator sees the check is not answered')
  runs.cancel(flagged.id, 'anna')

  // Nothing is due before its pause is over; then the provider still says pending.
  const asked = checkRequests(sim).length
  await cw.checks.runDue()
  t.equal(checkRequests(sim).length, asked, 'not asked again before its time')
  cw.w.world.clock.advance(SEPA_CHECK_MAX_RETRY_MS)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'pending', check_id: pending.check_id, attempts: 2 }, 'read again, still pending')

  // The provider completes it; a new worker on the same file (a restart) finds the row and reads the answer.
  sim.controls.completeCheck(pending.check_id as string)
  cw.w.world.clock.advance(SEPA_CHECK_MAX_RETRY_MS)
  const restarted = createSepaChecks({ db, client, clock: cw.w.world.clock, logger: silentLogger })
  await restarted.start(60_000).stop()
  t.match(row(cw), { state: 'matched', check_id: pending.check_id, score: 1 })
  t.equal(checkRequests(sim).filter((r) => r.method === 'POST').length, 2, 'one check created for each guest, none again')
  t.equal((await portalCheck(cw)).state, 'ok')
  balanced(t, cw)
})

t.test('provider down: the save succeeds, the check is unknown and tried again later', async (t) => {
  const sim = await startSim(t)
  const cw = await checkWorld(t, simClient(sim))
  sim.controls.failNext('/v2/sepa_check', { count: 1, method: 'POST', statusCode: 503 })
  t.equal(await save(cw), 204, "the guest's save succeeded")
  t.match((await call(cw.w.base, 'GET', '/customer', { token: cw.token })).body, { iban: IBAN, account_name: NAME, has_entered_info: true })
  await cw.checks.runDue()
  t.match(row(cw), { state: 'unknown', check_id: null, attempts: 1, last_error: /503/ })
  t.equal((await portalCheck(cw)).state, 'checking')
  cw.w.world.clock.advance(SEPA_CHECK_MAX_RETRY_MS)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'matched', last_error: null })
  noPersonalData(t, cw)
  balanced(t, cw)
})

t.test('provider unreachable (connection refused): unknown, and the save still succeeded', async (t) => {
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const cw = await checkWorld(t, createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2_000 }))
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'unknown', attempts: 1 })
  noPersonalData(t, cw)
})

t.test('changing the payout data starts a new check: the old result no longer applies', async (t) => {
  const sim = await startSim(t)
  const cw = await checkWorld(t, simClient(sim))
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  const first = row(cw)!
  t.equal(first.state, 'matched')

  sim.controls.pendingNextChecks(1)
  sim.controls.mismatchNextChecks(1)
  // Saved without waiting for the pass: the old match is gone at once.
  const status = await save(cw, { ...DATA, account_name: 'Somebody Else' })
  t.equal(status, 204)
  t.not(row(cw)!.fingerprint, first.fingerprint)
  const db = cw.w.world.db
  t.equal(sepaCheckOf(db)(UID.alice, { iban: IBAN, accountName: NAME }), undefined, 'nothing is known of the old data any more')
  await cw.checks.runDue()
  const second = row(cw)!
  t.match(second, { state: 'pending', score: null })
  t.not(second.check_id, first.check_id, 'a new check at the provider')
  t.equal((await portalCheck(cw)).state, 'checking')
  sim.controls.completeCheck(second.check_id as string)
  cw.w.world.clock.advance(SEPA_CHECK_MAX_RETRY_MS)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'mismatch' })
  t.equal((await portalCheck(cw)).state, 'needs_correction')

  // Corrected: checked again and fine.
  t.equal(await save(cw, { ...DATA, account_name: 'Alice Corrected' }), 204)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'matched' })
  t.equal((await portalCheck(cw)).state, 'ok')
})

/** A fake provider: POST /v2/sepa_check answers `create`, GET answers `read` (or the defaults of a good provider). */
async function hostileProvider(t: Test, answers: { create?: (res: ServerResponse) => void; read?: (req: IncomingMessage, res: ServerResponse) => void }) {
  const goodId = 'chck_' + 'a'.repeat(24)
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.method === 'POST') return answers.create ? answers.create(res) : json(res, 200, { id: goodId })
      if (answers.read) return answers.read(req, res)
      json(res, 200, { id: goodId, status: 'succeeded', check_type: 'person', person: { name: 'x', score_name: 1 }, company: null, created: 1 })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 2_000 })
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

const html = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>maintenance</body></html>')
const checkAnswer = (over: object) => (_req: IncomingMessage, res: ServerResponse) =>
  json(res, 200, { id: 'chck_' + 'a'.repeat(24), status: 'succeeded', check_type: 'person', person: { name: 'x', score_name: 1 }, company: null, created: 1, ...over })

t.test('hostile provider answers never crash and never make a check succeed', async (t) => {
  const cases: Array<[string, Parameters<typeof hostileProvider>[1]]> = [
    ['a created id that is not one', { create: (res) => json(res, 200, { id: 'chck_short' }) }],
    ['a 500 on create', { create: (res) => json(res, 500, { error: 'boom' }) }],
    ['HTML on create', { create: html }],
    ['a 500 on read', { read: (_req, res) => json(res, 500, { error: 'boom' }) }],
    ['HTML on read', { read: (_req, res) => html(res) }],
    ['another check read back', { read: checkAnswer({ id: 'chck_' + 'b'.repeat(24) }) }],
    ['succeeded without a score', { read: checkAnswer({ person: { name: 'x', score_name: null } }) }],
    ['a score above 1', { read: checkAnswer({ person: { name: 'x', score_name: 7 } }) }],
    ['a score as text', { read: checkAnswer({ person: { name: 'x', score_name: '1' } }) }],
    ['a company answer to a person check', { read: checkAnswer({ person: null, company: { name: 'x', score_name: 1 } }) }],
    ['a status we do not know', { read: checkAnswer({ status: 'matched' }) }],
    ['an error quoting the IBAN and the name', { create: (res) => json(res, 400, { error: `no account ${IBAN} for ${NAME}` }) }],
  ]
  for (const [what, answers] of cases) {
    await t.test(what, async (t) => {
      const cw = await checkWorld(t, await hostileProvider(t, answers))
      t.equal(await save(cw), 204, "the guest's save succeeded")
      await cw.checks.runDue()
      t.match(row(cw), { state: 'unknown', attempts: 1 }, 'unknown, to be tried again')
      t.equal((await portalCheck(cw)).state, 'checking')
      const lastError = String(row(cw)!.last_error)
      t.notOk(lastError.includes(IBAN) || lastError.includes(NAME), 'the recorded reason names neither')
      noPersonalData(t, cw)
    })
  }
})

t.test('data saved before the checks were configured is queued at start', async (t) => {
  const sim = await startSim(t)
  const cw = await checkWorld(t, simClient(sim))
  cw.w.world.db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, ?, ?, ?, 1) ON CONFLICT(uid) DO UPDATE SET iban = excluded.iban, account_name = excluded.account_name`).run(UID.alice, IBAN, NAME, 'alice@example.org')
  t.equal(row(cw), undefined)
  t.equal((await portalCheck(cw)).state, 'checking', 'unchecked data shows as being checked')
  const worker = cw.checks.start(60_000)
  await worker.stop()
  t.match(row(cw), { state: 'matched' })
  t.equal(cw.checks.queueUnchecked(), 0, 'nothing left unchecked')
})

t.test('without SEPA checks the portal route answers payout_check_unavailable and nothing else changes', async (t) => {
  const w = await startPortalWorld(t)
  const token = await login(w.base, PIN.alice)
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: DATA })).status, 204)
  t.match(await call(w.base, 'GET', '/customer/payout_check', { token }), { status: 404, body: { type: 'payout_check_unavailable' } })
  const runs = createPayoutRuns({ db: w.world.db, ledger: w.ledger, clock: w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })
  const run = runs.create({ operator: 'anna', requireSepaCheck: true })
  t.same(run.items.map((i) => [i.uid, 'sepaCheck' in i]), [[UID.alice, false]], 'no check, no flag, nobody left out')
  t.same(w.world.db.prepare(`SELECT count(*) AS n FROM sepa_checks`).get(), { n: 0 })
  t.same(w.ledger.checkInvariants(), [])
  t.equal(w.ledger.sumOfAllBalances(), 0)
})

t.test('data changed without the portal is checked as it is now, never under the old check', async (t) => {
  const sim = await startSim(t)
  const cw = await checkWorld(t, simClient(sim))
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  const first = row(cw)!
  cw.w.world.db.prepare(`UPDATE portal_customers SET iban = ? WHERE uid = ?`).run('DE44500105175407324931', UID.alice)
  t.equal(sepaCheckOf(cw.w.world.db)(UID.alice, { iban: 'DE44500105175407324931', accountName: NAME }), undefined, 'the old match does not apply to the new IBAN')
  t.equal((await portalCheck(cw)).state, 'checking')
  t.equal(cw.checks.queueUnchecked(), 1)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'matched' })
  t.not(row(cw)!.fingerprint, first.fingerprint)
  t.equal(checkRequests(sim).filter((r) => r.method === 'POST').length, 2)
})

t.test('a pending check whose data changed without the portal is dropped for a check of the data as it is now', async (t) => {
  const sim = await startSim(t)
  const cw = await checkWorld(t, simClient(sim))
  sim.controls.pendingNextChecks(1)
  t.equal(await save(cw), 204)
  await cw.checks.runDue()
  const pending = row(cw)!
  t.equal(pending.state, 'pending')
  sim.controls.completeCheck(pending.check_id as string)
  cw.w.world.db.prepare(`UPDATE portal_customers SET iban = ? WHERE uid = ?`).run('DE44500105175407324931', UID.alice)
  cw.w.world.clock.advance(SEPA_CHECK_MAX_RETRY_MS)
  await cw.checks.runDue()
  const restarted = row(cw)!
  t.not(restarted.fingerprint, pending.fingerprint, 'the old check is not read for the new data')
  t.not(restarted.check_id, pending.check_id)
  await cw.checks.runDue()
  t.match(row(cw), { state: 'matched' })
  t.equal(checkRequests(sim).filter((r) => r.method === 'POST').length, 2, 'a new check for the new data')
})
