// `wristpay-gateway refund-run ...` against a gateway's admin routes over HTTP
// (in-process, port 0): the operator comes from WRISTPAY_OPERATOR, four eyes
// hold across two operators' shells, hostile arguments are usage errors that
// send nothing; on SQLite and on PostgreSQL (one body per engine).
import t, { type Test } from 'tap'
import { createHttpServer } from '../http.js'
import { UID, silentLogger } from '../ledger/testing/test-helpers.js'
import { adminHttpTransport } from '../payouts/payout-command.js'
import { operatorAccountsAuth } from '../payouts/payouts-admin.js'
import { parseRefundRunArgs, runRefundRunCommand, RefundRunUsageError } from './refund-run-command.js'
import { createRefundRuns } from './refund-runs.js'
import { refundRunsAdmin } from './refund-runs-admin.js'
import { startRefundWorld } from './testing/refund-world.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const ADMIN_TOKEN = 'admin-token-0123456789'
const ANNA = 'anna:anna-token-0123456789'
const BEN = 'ben:ben-token-0123456789'

async function start(t: Test, engine: WorldEngine) {
  const w = await startRefundWorld(t, { engine })
  const runs = createRefundRuns({ db: w.world.db, ledger: w.world.ledger, refunds: w.refunds, clock: w.world.clock, logger: silentLogger, allowedCountryCodes: () => null })
  const server = createHttpServer({
    logger: silentLogger,
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not used')
    },
    adminPlugins: [refundRunsAdmin({ runs, operatorAuth: operatorAccountsAuth([{ name: 'anna', token: 'anna-token-0123456789' }, { name: 'ben', token: 'ben-token-0123456789' }]) })],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(() => server.close())
  let sent = 0
  const as = async (operator: string, ...args: string[]) => {
    let stdout = ''
    let stderr = ''
    const env = { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN, WRISTPAY_OPERATOR: operator }
    const code = await runRefundRunCommand([...args, '--url', `http://127.0.0.1:${port}`], env, {
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
      transport: (base, token, op) => {
        const real = adminHttpTransport(base, token, op)
        return (request) => {
          sent++
          return real(request)
        }
      },
    })
    return { code, stdout, stderr }
  }
  return { w, as, sent: () => sent }
}

testOnEngines(t, engines, 'a whole run from two operators\' shells', async (t, engine) => {
  const h = await start(t, engine)
  await h.w.topUpOnline(UID.alice, 2550)
  await h.w.topUpOnline(UID.bob, 1000)
  h.w.sellBeer(UID.bob, 1)
  const created = await h.as(ANNA, 'create', '--max-sum', '100.50')
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /^run 1: created, 2 refunds, 31\.00 EUR; created by anna/)
  const self = await h.as(ANNA, 'approve', '1')
  t.match([self.code, self.stderr], [1, /403 approver_is_creator/])
  t.equal((await h.as(BEN, 'approve', '1')).code, 0)
  const executed = await h.as(BEN, 'execute', '1')
  t.equal(executed.code, 0, executed.stderr)
  t.match(executed.stdout, /^run 1: executed, 2 refunds, 31\.00 EUR, 2 booked for 31\.00 EUR; created by anna, approved by ben, executed by ben/)
  t.match(executed.stderr, /the gateway sends the refunds now/)
  t.match((await h.as(ANNA, 'execute', '1')).stderr, /nothing booked now/)
  await h.w.refunds.recover()
  const shown = await h.as(ANNA, 'show', '1')
  t.match(JSON.parse(shown.stdout), { progress: { refunded: 2 }, items: [{ uid: UID.alice, booked: 2550 }, { uid: UID.bob, booked: 550 }] })
  t.match((await h.as(ANNA, 'list')).stdout, /run 1: executed/)
  const forged = await h.as('ben:not-his-token', 'cancel', '1')
  t.match([forged.code, forged.stderr], [1, /401 operator_credentials_required/])
  t.same([h.w.balance(UID.alice), h.w.balance(UID.bob)], [0, 0])
  h.w.assertSound(t)
})

testOnEngines(t, engines, 'hostile arguments and environments are refused before anything is sent', async (t, engine) => {
  const h = await start(t, engine)
  for (const args of [[], ['pay'], ['approve'], ['approve', '0'], ['approve', '1e3'], ['execute', '-1'], ['approve', '1', '2'], ['list', '1'], ['create', '--max-count', '0'], ['create', '--max-count', '1e3'], ['create', '--max-sum', '1e3'], ['create', '--max-sum', '-5'], ['execute', '1', '--max-count', '3'], ['create', '--operator', 'ben']]) {
    t.throws(() => parseRefundRunArgs(args), RefundRunUsageError, JSON.stringify(args))
    t.equal((await h.as(ANNA, ...args)).code, 2, `exit 2: ${JSON.stringify(args)}`)
  }
  const noOperator = await runRefundRunCommand(['list'], { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }, { stdout: () => {}, stderr: () => {} })
  t.equal(noOperator, 2, 'no WRISTPAY_OPERATOR')
  t.equal(h.sent(), 0, 'nothing was sent')
  t.same(parseRefundRunArgs(['create', '--max-count', '10', '--max-sum', '12.5']), { action: 'create', maxCount: 10, maxSum: 1250 })
})
