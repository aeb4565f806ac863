// The payout runs' admin routes over HTTP: the admin token and the operator's
// own credentials, four eyes by credentials (not by a name in the body), the
// error catalogue's answers, hostile input changing nothing.
import t, { type Test } from 'tap'
import { createHttpServer } from '../http.js'
import { accountIds } from '../ledger/index.js'
import { UID, makeWorld, silentLogger } from '../ledger/testing/test-helpers.js'
import { renderPayoutFiles } from './payout-files.js'
import { createPayoutRuns } from './payout-runs.js'
import { OPERATOR_HEADER, operatorAccountsAuth, payoutsAdmin } from './payouts-admin.js'

const ADMIN_TOKEN = 'admin-token-0123456789'
const ANNA = 'anna:anna-token-0123456789'
const BEN = 'ben:ben-token-0123456789'

async function start(t: Test) {
  const world = makeWorld()
  world.ledger.ensureAccount('clearing', 'sumup')
  for (const [uid, amount] of [[UID.alice, 3000], [UID.bob, 1000]] as const) {
    world.ledger.bookExternal({ ref: `setup:${uid}`, kind: 'topup_online', postings: [{ account: accountIds.clearing('sumup'), amount: -amount }, { account: accountIds.customer(uid), amount }] })
    world.db
      .prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, donation_cents, has_entered_info) VALUES (?, 'DE89370400440532013000', 'Guest', 'g@example.org', 0, 1)`)
      .run(uid)
  }
  const runs = createPayoutRuns({ db: world.db, ledger: world.ledger, clock: world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })
  const server = createHttpServer({
    logger: silentLogger,
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not used')
    },
    adminPlugins: [
      payoutsAdmin({
        runs,
        operatorAuth: operatorAccountsAuth([
          { name: 'anna', token: 'anna-token-0123456789' },
          { name: 'ben', token: 'ben-token-0123456789' },
        ]),
      }),
    ],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await server.close()
    world.close()
  })
  const call = async (method: string, path: string, operator: string | undefined, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(operator === undefined ? {} : { [OPERATOR_HEADER]: operator }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { type?: string } }
  }
  return { world, call }
}

t.test('create, approve by another operator, export once, over HTTP', async (t) => {
  const h = await start(t)
  const created = await h.call('POST', '/payout-runs', ANNA, { maxCount: 5 })
  t.equal(created.status, 201)
  t.match(created.body, { id: 1, state: 'created', createdBy: 'anna', payoutCount: 2, payoutSum: 4000 })

  const self = await h.call('POST', '/payout-runs/1/approve', ANNA)
  t.same([self.status, self.body.type], [403, 'approver_is_creator'], 'the creator cannot approve')
  const approved = await h.call('POST', '/payout-runs/1/approve', BEN)
  t.match(approved, { status: 200, body: { state: 'approved', approvedBy: 'ben' } })
  const twice = await h.call('POST', '/payout-runs/1/approve', BEN)
  t.same([twice.status, twice.body.type], [409, 'payout_run_not_approvable'])

  const exported = await h.call('POST', '/payout-runs/1/export', ANNA)
  t.match(exported, { status: 200, body: { replay: false, run: { state: 'exported', exportedBy: 'anna' } } })
  const again = await h.call('POST', '/payout-runs/1/export', ANNA)
  t.match(again, { status: 200, body: { replay: true } })
  t.equal(h.world.ledger.accountBalance(accountIds.payout('sepa')), 4000, 'booked once')
  const cancel = await h.call('POST', '/payout-runs/1/cancel', BEN)
  t.same([cancel.status, cancel.body.type], [409, 'payout_run_not_cancellable'])

  const list = await h.call('GET', '/payout-runs', undefined)
  t.equal(list.status, 200)
  t.match(list.body, [{ id: 1, state: 'exported' }])
  const one = await h.call('GET', '/payout-runs/1', undefined)
  t.same((one.body.events as Array<{ operator: string }>).map((e) => e.operator), ['anna', 'anna', 'ben', 'anna', 'anna'])
  t.same(h.world.ledger.checkInvariants(), [])
})

t.test('hostile requests: no or wrong operator credentials, a name in the body, bad ids and limits change nothing', async (t) => {
  const h = await start(t)
  const none = await h.call('POST', '/payout-runs', undefined, {})
  t.same([none.status, none.body.type], [401, 'operator_credentials_required'])
  const wrong = await h.call('POST', '/payout-runs', 'anna:guessed-token', {})
  t.same([wrong.status, wrong.body.type], [401, 'operator_credentials_required'])
  const noColon = await h.call('POST', '/payout-runs', 'anna', {})
  t.equal(noColon.status, 401)
  const named = await h.call('POST', '/payout-runs', ANNA, { operator: 'ben' })
  t.same([named.status, named.body.type], [400, 'invalid_request'], 'the operator cannot be named in the body')
  for (const body of [{ maxCount: 0 }, { maxCount: 1.5 }, { maxSum: -1 }, { maxSum: '100' }, []]) {
    const bad = await h.call('POST', '/payout-runs', ANNA, body)
    t.equal(bad.status, 400, `limits ${JSON.stringify(body)}`)
  }
  for (const id of ['0', '-1', 'abc', '1e3', '99999999999999999999']) {
    const bad = await h.call('POST', `/payout-runs/${id}/approve`, BEN)
    t.ok(bad.status === 400 || bad.status === 404, `run id ${id}: ${bad.status}`)
  }
  const unknown = await h.call('GET', '/payout-runs/7', undefined)
  t.same([unknown.status, unknown.body.type], [404, 'unknown_payout_run'])
  t.same((await h.call('GET', '/payout-runs', undefined)).body, [], 'no run was made')
  t.equal(h.world.ledger.balanceOf(UID.alice), 3000)
  t.same(h.world.ledger.checkInvariants(), [])
})

t.test('an export whose bank files cannot be written books nothing and answers which payout is at fault; create names who it left out', async (t) => {
  const world = makeWorld()
  world.ledger.ensureAccount('clearing', 'sumup')
  const addGuest = (uid: string, cents: number, name: string) => {
    world.ledger.bookExternal({ ref: `setup:${uid}`, kind: 'topup_online', postings: [{ account: accountIds.clearing('sumup'), amount: -cents }, { account: accountIds.customer(uid), amount: cents }] })
    world.db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, 'DE89370400440532013000', ?, 'g@example.org', 1)`).run(uid, name)
  }
  addGuest(UID.alice, 700, 'Guest')
  addGuest(UID.bob, 300, 'Борис')
  // The run holding Bob's name was made without the creation check, as by a gateway before it.
  const unchecked = createPayoutRuns({ db: world.db, ledger: world.ledger, clock: world.clock, logger: silentLogger, allowedCountryCodes: () => null, payeeProblem: () => null })
  const runs = createPayoutRuns({ db: world.db, ledger: world.ledger, clock: world.clock, logger: silentLogger, allowedCountryCodes: () => null })
  const server = createHttpServer({
    logger: silentLogger,
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not used')
    },
    adminPlugins: [
      payoutsAdmin({
        runs,
        operatorAuth: operatorAccountsAuth([{ name: 'anna', token: 'anna-token-0123456789' }, { name: 'ben', token: 'ben-token-0123456789' }]),
        renderFiles: (run) => renderPayoutFiles(run, { debtor: { holder: 'Test Fest e.V.', iban: 'DE02120300000000202051' }, eventName: 'Test Fest' }),
      }),
    ],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await server.close()
    world.close()
  })
  const call = async (method: string, path: string, operator: string) => {
    const response = await fetch(`http://127.0.0.1:${port}/admin${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, [OPERATOR_HEADER]: operator } })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }
  const old = unchecked.create({ operator: 'anna' })
  runs.approve(old.id, 'ben')
  const bobItem = old.items.find((i) => i.uid === UID.bob)!
  const refused = await call('POST', `/payout-runs/${old.id}/export`, ANNA)
  t.match(refused, { status: 409, body: { type: 'payout_files_unrenderable', message: /nothing was booked/ } })
  t.match(refused.body.message, `wristband ${UID.bob} (end-to-end id ${bobItem.endToEndId}): the account holder name: has a character SEPA does not allow (U+0411)`)
  t.notMatch(refused.body.message, 'Борис', 'the message does not quote the name')
  t.equal(world.ledger.accountBalance(accountIds.payout('sepa')) ?? 0, 0, 'nothing booked')
  t.same([world.ledger.balanceOf(UID.alice), world.ledger.balanceOf(UID.bob)], [700, 300])
  t.match((await call('GET', `/payout-runs/${old.id}`, ANNA)).body, { state: 'approved', items: [{ payoutBooking: null }, { payoutBooking: null }] })

  t.equal((await call('POST', `/payout-runs/${old.id}/cancel`, BEN)).status, 200)
  const created = await fetch(`http://127.0.0.1:${port}/admin/payout-runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, [OPERATOR_HEADER]: ANNA, 'content-type': 'application/json' },
    body: JSON.stringify({}),
  })
  t.equal(created.status, 201)
  const next = (await created.json()) as { id: number; payoutCount: number; skipped: unknown }
  t.match(next, { payoutCount: 1, skipped: [{ uid: UID.bob, reason: /U\+0411/ }] }, 'the create answer says who was left out and why')
  t.equal((await call('POST', `/payout-runs/${next.id}/approve`, BEN)).status, 200)
  const exported = await call('POST', `/payout-runs/${next.id}/export`, ANNA)
  t.match(exported, { status: 200, body: { replay: false, run: { state: 'exported' } } })
  const files = exported.body.files as Record<string, string>
  t.match(files[`payout-run-${next.id}.pain.001.001.09.xml`], '<CtrlSum>7.00</CtrlSum>')
  const again = await call('POST', `/payout-runs/${next.id}/export`, BEN)
  t.match(again, { status: 200, body: { replay: true } })
  t.same(again.body.files, files, 'exporting again gives the same files')
  t.equal(world.ledger.accountBalance(accountIds.payout('sepa')), 700)
  t.same(world.ledger.checkInvariants(), [])
})
