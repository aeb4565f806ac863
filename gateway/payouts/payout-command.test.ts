// `wristpay-gateway payout ...` against a gateway's admin routes over HTTP:
// the operator comes from WRISTPAY_OPERATOR, four eyes hold across two
// operators' shells, hostile arguments are usage errors that send nothing; on
// SQLite and on PostgreSQL (one body per engine).
import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHttpServer } from '../http.js'
import { accountIds } from '../ledger/index.js'
import { UID, makeWorld, silentLogger } from '../ledger/testing/test-helpers.js'
import { centsOfEuros, parsePayoutArgs, runPayoutCommand, PayoutUsageError } from './payout-command.js'
import { renderPayoutFiles } from './payout-files.js'
import { createPayoutRuns, type RenderPayoutFiles } from './payout-runs.js'
import { operatorAccountsAuth, payoutsAdmin } from './payouts-admin.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const ADMIN_TOKEN = 'admin-token-0123456789'

async function start(t: Test, engine: WorldEngine, renderFiles?: RenderPayoutFiles) {
  const world = makeWorld(engine.database(t))
  world.ledger.ensureAccount('clearing', 'sumup')
  world.ledger.bookExternal({ ref: 'setup:alice', kind: 'topup_online', postings: [{ account: accountIds.clearing('sumup'), amount: -2550 }, { account: accountIds.customer(UID.alice), amount: 2550 }] })
  world.db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, 'DE89370400440532013000', 'Alice', 'a@example.org', 1)`).run(UID.alice)
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
    adminPlugins: [payoutsAdmin({ runs, operatorAuth: operatorAccountsAuth([{ name: 'anna', token: 'anna-token-0123456789' }, { name: 'ben', token: 'ben-token-0123456789' }]), ...(renderFiles ? { renderFiles } : {}) })],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-payout-cli-'))
  t.teardown(async () => {
    await server.close()
    world.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const as = async (operator: string, ...args: string[]) => {
    let stdout = ''
    let stderr = ''
    const env = { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN, WRISTPAY_OPERATOR: operator }
    const code = await runPayoutCommand([...args, '--url', `http://127.0.0.1:${port}`], env, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
    return { code, stdout, stderr }
  }
  return { world, as, dir }
}

testOnEngines(t, engines, 'a whole run from two operators\' shells', async (t, engine) => {
  const h = await start(t, engine)
  const anna = 'anna:anna-token-0123456789'
  const ben = 'ben:ben-token-0123456789'
  const created = await h.as(anna, 'create', '--max-sum', '100.50')
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /^run 1: created, 1 payouts, 25\.50 EUR, donations 0\.00 EUR; created by anna/)
  const self = await h.as(anna, 'approve', '1')
  t.equal(self.code, 1)
  t.match(self.stderr, /403 approver_is_creator/)
  t.equal((await h.as(ben, 'approve', '1')).code, 0)
  const out = join(h.dir, 'run-1.json')
  const exported = await h.as(ben, 'export', '1', '--out', out)
  t.equal(exported.code, 0, exported.stderr)
  t.match(exported.stderr, /1 payouts booked/)
  t.match(JSON.parse(readFileSync(out, 'utf8')), { replay: false, run: { state: 'exported', items: [{ uid: UID.alice, amount: 2550 }] } })
  t.equal(statSync(out).mode & 0o777, 0o600, 'the file holds IBANs: only its owner reads it')
  t.match((await h.as(anna, 'export', '1', '--out', out)).stderr, /nothing booked now/)
  t.match((await h.as(anna, 'list')).stdout, /run 1: exported.*approved by ben, exported by ben/)
  const forged = await h.as('ben:not-his-token', 'cancel', '1')
  t.match([forged.code, forged.stderr], [1, /401 operator_credentials_required/])
  t.equal(h.world.ledger.accountBalance(accountIds.payout('sepa')), 2550)
  t.same(h.world.ledger.checkInvariants(), [])
})

testOnEngines(t, engines, 'hostile arguments and environments are refused before anything is sent', async (t, engine) => {
  const h = await start(t, engine)
  for (const args of [[], ['pay'], ['approve'], ['approve', '0'], ['approve', '1e3'], ['approve', '1', '2'], ['list', '1'], ['create', '--max-count', '0'], ['create', '--max-sum', '1e3'], ['create', '--max-sum', '12,34'], ['create', '--max-sum', '-5'], ['approve', '1', '--max-count', '3'], ['create', '--operator', 'ben']]) {
    const r = await h.as('anna:anna-token-0123456789', ...args)
    t.equal(r.code, 2, `usage: ${args.join(' ')}`)
  }
  t.equal((await h.as('', 'list')).code, 2, 'no operator')
  t.equal((await h.as('anna', 'list')).code, 2, 'an operator without a token')
  t.same(h.world.db.prepare('SELECT COUNT(*) AS n FROM payout_runs').get(), { n: 0 })
  t.equal(centsOfEuros('0.5'), 50)
  t.equal(centsOfEuros('1500'), 150_000)
  t.throws(() => centsOfEuros('0.00'), PayoutUsageError)
  t.same(parsePayoutArgs(['create', '--max-count', '10']), { action: 'create', maxCount: 10 })
})

testOnEngines(t, engines, 'create names who it left out; an export whose files cannot be written books nothing and writes no file', async (t, engine) => {
  const h = await start(t, engine, (run) => renderPayoutFiles(run, { debtor: { holder: 'Test Fest e.V.', iban: 'DE02120300000000202051' }, eventName: 'Test Fest' }))
  const anna = 'anna:anna-token-0123456789'
  const ben = 'ben:ben-token-0123456789'
  h.world.ledger.bookExternal({ ref: 'setup:bob', kind: 'topup_online', postings: [{ account: accountIds.clearing('sumup'), amount: -1000 }, { account: accountIds.customer(UID.bob), amount: 1000 }] })
  h.world.db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, 'DE89370400440532013000', 'Ἀλέξανδρος', 'b@example.org', 1)`).run(UID.bob)

  // A run made without the creation check (as by a gateway before it) holds Bob's name.
  const unchecked = createPayoutRuns({ db: h.world.db, ledger: h.world.ledger, clock: h.world.clock, logger: silentLogger, allowedCountryCodes: () => null, payeeProblem: () => null })
  const old = unchecked.create({ operator: 'anna' })
  t.equal((await h.as(ben, 'approve', String(old.id))).code, 0)
  const out = join(h.dir, 'run-old.json')
  const refused = await h.as(ben, 'export', String(old.id), '--out', out)
  t.equal(refused.code, 1)
  t.match(refused.stderr, `409 payout_files_unrenderable`)
  t.match(refused.stderr, `wristband ${UID.bob}`)
  t.notOk(existsSync(out), 'no file written')
  t.equal(h.world.ledger.accountBalance(accountIds.payout('sepa')) ?? 0, 0, 'nothing booked')
  t.equal((await h.as(ben, 'cancel', String(old.id))).code, 0)

  const created = await h.as(anna, 'create')
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /^run 2: created, 1 payouts, 25\.50 EUR/)
  t.match(created.stdout, new RegExp(`\\n  left out ${UID.bob}: the account holder name: has a character SEPA does not allow \\(U\\+1F08\\)\\n`))
  t.equal((await h.as(ben, 'approve', '2')).code, 0)
  const exported = await h.as(ben, 'export', '2', '--out', out)
  t.equal(exported.code, 0, exported.stderr)
  t.match(Object.keys(JSON.parse(readFileSync(out, 'utf8')).files), ['payout-run-2.pain.001.001.09.xml', 'payout-run-2.pain.001.001.03.xml', 'payout-run-2.csv'])
  t.equal(h.world.ledger.balanceOf(UID.bob), 1000)
  t.same(h.world.ledger.checkInvariants(), [])
})
