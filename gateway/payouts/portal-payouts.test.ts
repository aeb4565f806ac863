// What a guest sees of payout runs on the portal, over HTTP on the gateway's
// backend: payout_info says in_payout_run with the run's date, and
// get_payout_transactions lists the guest's payouts in the fields the vendored
// OpenAPI names (PayoutTransaction), and nobody else's. On SQLite and on
// PostgreSQL (one body per engine).
import t, { type Test } from 'tap'
import { call, login } from '../../portal-api/testing/helpers.js'
import { orderIntegerId } from '../portal-backend.js'
import { PIN, startPortalWorld } from '../testing/portal-world.js'
import { silentLogger } from '../ledger/testing/test-helpers.js'
import { createPayoutReturns } from './payout-returns.js'
import { createPayoutRuns } from './payout-runs.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

onEveryEngine('payout_info and get_payout_transactions follow the run', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const token = await login(w.base, PIN.alice)
  const bobToken = await login(w.base, PIN.bob)
  const info = { iban: 'DE89370400440532013000', account_name: 'Alice Example', email: 'alice@example.org' }
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...info, donation: 1 } })).status, 204)
  const runs = createPayoutRuns({ db: w.world.db, ledger: w.ledger, clock: w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })

  const run = runs.create({ operator: 'anna' })
  const inRun = (await call(w.base, 'GET', '/payout_info', { token })).body
  t.same(inRun, { in_payout_run: true, payout_date: new Date(run.createdAt).toISOString() })
  t.same((await call(w.base, 'GET', '/payout_info', { token: bobToken })).body, { in_payout_run: false, payout_date: null }, 'bob registered nothing')
  t.same((await call(w.base, 'GET', '/get_payout_transactions', { token })).body, [], 'nothing paid before export')

  runs.approve(run.id, 'ben')
  w.world.clock.advance(60_000)
  const { run: exported } = runs.export(run.id, 'ben')
  const paid = (await call(w.base, 'GET', '/get_payout_transactions', { token })).body
  const booking = w.ledger.externalBooking(exported.items[0]!.payoutBooking!)!
  t.same(paid, [
    {
      amount: 20,
      booked_at: new Date(exported.exportedAt!).toISOString(),
      target_account_name: 'Alice Example',
      target_account_type: 'sepa',
      transaction_id: orderIntegerId(booking.receiptId),
    },
  ])
  t.same(Object.keys(paid[0]).sort(), ['amount', 'booked_at', 'target_account_name', 'target_account_type', 'transaction_id'], 'exactly the OpenAPI fields')
  t.same((await call(w.base, 'GET', '/payout_info', { token })).body, { in_payout_run: true, payout_date: new Date(exported.exportedAt!).toISOString() })
  t.same((await call(w.base, 'GET', '/get_payout_transactions', { token: bobToken })).body, [], "another guest sees none of alice's")
  t.same(w.ledger.checkInvariants(), [])
})

onEveryEngine('a payout the bank sent back is no payout: the guest is in no run and the portal asks for new data', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const token = await login(w.base, PIN.alice)
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { iban: 'DE89370400440532013000', account_name: 'Alice Example', email: 'alice@example.org' } })).status, 204)
  const runs = createPayoutRuns({ db: w.world.db, ledger: w.ledger, clock: w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })
  const run = runs.create({ operator: 'anna' })
  runs.approve(run.id, 'ben')
  const { run: exported } = runs.export(run.id, 'ben')
  t.equal((await call(w.base, 'GET', '/get_payout_transactions', { token })).body.length, 1)

  // The bank import books the money back (not needed for what the portal reads) and marks the payout returned.
  createPayoutReturns({ db: w.world.db, clock: w.world.clock }).markPayoutReturned(exported.items[0]!.endToEndId, { amountCents: exported.items[0]!.amount, checksum: 'c0ffee' })
  t.same((await call(w.base, 'GET', '/payout_info', { token })).body, { in_payout_run: false, payout_date: null }, 'the portal page unlocks the payout form')
  t.same((await call(w.base, 'GET', '/get_payout_transactions', { token })).body, [], 'no payout reached the guest')
  t.match((await call(w.base, 'GET', '/customer', { token })).body, { iban: null, has_entered_info: false })
  t.same(w.ledger.checkInvariants(), [])
})
