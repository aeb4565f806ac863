// Refund runs over HTTP on the gateway's own server (in-process, port 0): the
// admin routes with the operator's own credentials, four eyes by credentials,
// hostile input changing nothing, and the portal's refund route refusing a
// guest whose balance is in an open refund run. Real ledger, one body per
// engine (a SQLite file and a PostgreSQL database), the in-memory refunding
// provider.
import pino from 'pino'
import t, { type Test } from 'tap'
import { call, login, TEST_SECRET, fakeTopups } from '../../portal-api/testing/helpers.js'
import { createHttpServer } from '../http.js'
import { PIN, UID } from '../ledger/testing/test-helpers.js'
import { createPinAttempts } from '../pin-attempts.js'
import { OPERATOR_HEADER, operatorAccountsAuth } from '../payouts/payouts-admin.js'
import { portalMount } from '../portal-backend.js'
import { EVENT_CONFIG } from '../testing/portal-world.js'
import { cardRefundsAdmin, portalCardRefunds } from './refund-http.js'
import { createRefundRuns } from './refund-runs.js'
import { refundRunsAdmin } from './refund-runs-admin.js'
import { worldEngines } from '../testing/world-engines.js'
import { startRefundWorld, type RefundWorld } from './testing/refund-world.js'

const ADMIN_TOKEN = 'admin-token-0123456789abcdef0123'
const ANNA = 'anna:anna-token-0123456789abcdef'
const BEN = 'ben:ben-token-0123456789abcdef'

async function serve(t: Test, w: RefundWorld) {
  const logger = pino({ level: 'silent' })
  const parts = { ledger: w.world.ledger, db: w.world.db, clock: w.world.clock, logger, pinAttempts: createPinAttempts({ clock: w.world.clock, logger, limits: { perSourceWrongMax: 10_000 } }) }
  const operatorAuth = operatorAccountsAuth([
    { name: 'anna', token: 'anna-token-0123456789abcdef' },
    { name: 'ben', token: 'ben-token-0123456789abcdef' },
  ])
  const runs = createRefundRuns({ db: w.world.db, ledger: w.world.ledger, refunds: w.refunds, clock: w.world.clock, logger, allowedCountryCodes: () => null })
  const server = createHttpServer({
    logger,
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('unused')
    },
    adminPlugins: [refundRunsAdmin({ runs, operatorAuth }), cardRefundsAdmin({ refunds: w.refunds, operatorAuth })],
    plugins: [portalMount(parts, { eventConfig: EVENT_CONFIG, topups: fakeTopups(), authSecret: TEST_SECRET, rateLimit: { perIpMax: 10_000 }, cardRefunds: portalCardRefunds(w.refunds) })],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(() => server.close())
  const root = `http://127.0.0.1:${port}`
  const admin = async (method: string, path: string, operator?: string, body?: unknown) => {
    const answer = await call(root, method, `/admin${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(operator ? { [OPERATOR_HEADER]: operator } : {}) }, ...(body === undefined ? {} : { body }) })
    return { status: answer.status, body: answer.body as Record<string, unknown> & { type?: string } }
  }
  return { api: `${root}/api`, admin }
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: create, approve by another operator, execute once, over HTTP; the loop sends; the portal refuses while the run is open`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const h = await serve(t, w)
    await w.topUpOnline(UID.alice, 1000)
    await w.topUpOnline(UID.bob, 600)
    const alice = await login(h.api, PIN.alice)

    const created = await h.admin('POST', '/refund-runs', ANNA, { maxCount: 5 })
    t.equal(created.status, 201)
    t.match(created.body, { id: 1, state: 'created', createdBy: 'anna', itemCount: 2, itemSum: 1600, items: [{ uid: UID.alice, amount: 1000 }, { uid: UID.bob, amount: 600 }] })
    t.match(await call(h.api, 'POST', '/customer/card_refund', { token: alice, body: {} }), { status: 409, body: { type: 'refund_in_refund_run' } }, 'the guest is refused while the run is open')
    t.match(await h.admin('POST', `/wristbands/${UID.alice}/card-refund`, ANNA, {}), { status: 409, body: { type: 'refund_in_refund_run' } }, 'and so is an operator by hand')

    const self = await h.admin('POST', '/refund-runs/1/approve', ANNA)
    t.same([self.status, self.body.type], [403, 'approver_is_creator'], 'the creator cannot approve')
    const early = await h.admin('POST', '/refund-runs/1/execute', ANNA)
    t.same([early.status, early.body.type], [409, 'refund_run_not_executable'])
    t.match(await h.admin('POST', '/refund-runs/1/approve', BEN), { status: 200, body: { state: 'approved', approvedBy: 'ben' } })
    const twice = await h.admin('POST', '/refund-runs/1/approve', BEN)
    t.same([twice.status, twice.body.type], [409, 'refund_run_not_approvable'])

    const executed = await h.admin('POST', '/refund-runs/1/execute', ANNA)
    t.match(executed, { status: 200, body: { replay: false, run: { state: 'executed', executedBy: 'anna', bookedCount: 2, bookedSum: 1600, progress: { pending: 2 } } } })
    t.equal(w.provider.refundCalls.length, 0, 'the answer came before any provider call')
    const again = await h.admin('POST', '/refund-runs/1/execute', BEN)
    t.match(again, { status: 200, body: { replay: true, run: { bookedSum: 1600 } } })
    const cancel = await h.admin('POST', '/refund-runs/1/cancel', BEN)
    t.same([cancel.status, cancel.body.type], [409, 'refund_run_not_cancellable'])

    await w.refunds.recover()
    t.match(await h.admin('GET', '/refund-runs/1'), { status: 200, body: { progress: { refunded: 2, pending: 0 }, items: [{ refundState: 'refunded' }, { refundState: 'refunded' }] } })
    t.match(await h.admin('GET', '/refund-runs'), { status: 200, body: [{ id: 1, state: 'executed', bookedCount: 2 }] })
    const one = await h.admin('GET', '/refund-runs/1')
    t.same((one.body.events as Array<{ action: string; operator: string }>).map((e) => [e.action, e.operator]), [['created', 'anna'], ['refused', 'anna'], ['approved', 'ben'], ['executed', 'anna'], ['executed_again', 'ben']])
    t.match((await call(h.api, 'GET', '/customer/card_refund', { token: alice })).body, { refundable: 0, refunds: [{ amount: 10, state: 'refunded' }] }, 'the guest sees the refund on the portal')
    t.equal(w.provider.refundCalls.length, 2)
    w.assertSound(t)
  })

  t.test(`${engine.name}: hostile requests: no or wrong or unknown operator, a name in the body, unknown fields, bad limits and ids change nothing`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const h = await serve(t, w)
    await w.topUpOnline(UID.alice, 1000)
    for (const operator of [undefined, 'anna:guessed-token', 'anna', 'olga:olga-token-0123456789abcdef', ':anna-token-0123456789abcdef']) {
      const refused = await h.admin('POST', '/refund-runs', operator, {})
      t.same([refused.status, refused.body.type], [401, 'operator_credentials_required'], `operator ${String(operator)}`)
    }
    for (const body of [{ operator: 'ben' }, { maxCount: 0 }, { maxCount: -1 }, { maxCount: 1.5 }, { maxCount: '1e3' }, { maxSum: '100' }, { maxSum: -1 }, { maxSum: 1e16 }, { everyone: true }, []]) {
      const bad = await h.admin('POST', '/refund-runs', ANNA, body)
      t.same([bad.status, bad.body.type], [400, 'invalid_request'], `body ${JSON.stringify(body)}`)
    }
    for (const id of ['0', '-1', 'abc', '1e3', '99999999999999999999']) {
      const bad = await h.admin('POST', `/refund-runs/${id}/approve`, BEN)
      t.ok(bad.status === 400 || bad.status === 404, `run id ${id}: ${bad.status}`)
    }
    const unknown = await h.admin('GET', '/refund-runs/7')
    t.same([unknown.status, unknown.body.type], [404, 'unknown_refund_run'])
    t.same((await h.admin('GET', '/refund-runs')).body, [], 'no run was made')
    t.equal(w.balance(UID.alice), 1000)
    // A run with nobody in it is refused.
    w.world.ledger.registry.setWristbandBlocked(UID.alice, true)
    const empty = await h.admin('POST', '/refund-runs', ANNA, {})
    t.same([empty.status, empty.body.type], [409, 'empty_refund_run'])
    w.assertSound(t)
  })
}
