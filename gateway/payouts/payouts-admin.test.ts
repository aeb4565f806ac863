// The payout runs' admin routes over HTTP: the admin token and the operator's
// own credentials, four eyes by credentials (not by a name in the body), the
// error catalogue's answers, hostile input changing nothing.
import t, { type Test } from 'tap'
import { createHttpServer } from '../http.js'
import { accountIds } from '../ledger/index.js'
import { UID, makeWorld, silentLogger } from '../ledger/testing/test-helpers.js'
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

t.test('bank files that cannot be written do not hide that the payouts are booked', async (t) => {
  const world = makeWorld()
  world.ledger.ensureAccount('clearing', 'sumup')
  world.ledger.bookExternal({ ref: 'setup:alice', kind: 'topup_online', postings: [{ account: accountIds.clearing('sumup'), amount: -700 }, { account: accountIds.customer(UID.alice), amount: 700 }] })
  world.db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, 'DE89370400440532013000', 'Guest', 'g@example.org', 1)`).run(UID.alice)
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
        renderFiles: () => {
          throw new Error('payments[0].name: no Latin spelling')
        },
      }),
    ],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(async () => {
    await server.close()
    world.close()
  })
  runs.create({ operator: 'anna' })
  runs.approve(1, 'ben')
  const response = await fetch(`http://127.0.0.1:${port}/admin/payout-runs/1/export`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, [OPERATOR_HEADER]: ANNA } })
  t.equal(response.status, 200)
  t.match(await response.json(), { replay: false, run: { state: 'exported' }, filesError: /no Latin spelling/ })
  t.equal(world.ledger.accountBalance(accountIds.payout('sepa')), 700)
  t.same(world.ledger.checkInvariants(), [])
})
