// A refund run through the whole gateway, in-process: the gateway (its SQLite
// file, or a PostgreSQL database as its `store`: one body per engine; MQTT and
// HTTP on 127.0.0.1:0) configured with the stancer provider
// pointing at the provider simulator over real HTTP, and two operator
// accounts. Guests top up on the portal; one registers payout data. Two
// operators create, approve and execute a run at /admin/refund-runs; the
// execution answers with the refunds booked and the gateway's refund service
// sends them to the provider in the background.
import t from 'tap'
import type { EventSetup } from '../event-setup.js'
import { startStancerGateway } from './testing/stancer-gateway.js'
import { worldEngines } from '../testing/world-engines.js'
import { waitFor as waitForPolls } from '../testing/wait.js'

const waitFor = (condition: () => boolean | Promise<boolean>, what: string) => waitForPolls(condition, what, { polls: 3000 })

const GUESTS = [
  { uid: '04AEF00D000001', pin: 'RFNDAAAA22' },
  { uid: '04AEF00D000002', pin: 'RFNDBBBB22' },
]
const ADMIN_TOKEN = 'admin-token-of-the-refund-run-test-0123'
const ANNA = 'anna:anna-token-of-the-refund-run-test'
const BEN = 'ben:ben-token-of-the-refund-run-test'

const setup: EventSetup = {
  event: { name: 'Refund Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-of-bar-1-for-the-refund-run-test', saleAllowed: true, topupAllowed: false }],
  wristbands: GUESTS,
}

for (const engine of await worldEngines(t)) {
  t.test(`${engine.name}: two operators run a refund run on the gateway; the refunds reach the provider in the background`, async (t) => {
    const { sim, gateway, json } = await startStancerGateway(t, engine, {
      setup,
      dirPrefix: 'wristpay-refund-runs-gw-',
      config: { adminToken: ADMIN_TOKEN, operators: [ANNA, BEN].map((account) => ({ name: account.split(':')[0]!, token: account.split(':')[1]! })) },
    })
    const admin = (method: string, path: string, operator?: string, body?: unknown) =>
      json(method, `/admin${path}`, body, { authorization: `Bearer ${ADMIN_TOKEN}`, ...(operator ? { 'wristpay-operator': operator } : {}) })

    // Both guests top up on the portal; the second registers an IBAN: a payout run pays them, not this one.
    const auths: Array<Record<string, string>> = []
    for (const [i, guest] of GUESTS.entries()) {
      const login = await json('POST', '/api/auth/login', { pin: guest.pin })
      const auth = { authorization: `Bearer ${login.body.access_token}` }
      auths.push(auth)
      const checkout = await json('POST', '/api/sumup/create-checkout', { amount: 20 + i }, auth)
      t.equal(checkout.status, 200)
      const intent = [...sim.state.paymentIntents.values()].find((p) => p.order_id === checkout.body.checkout_id)!
      sim.controls.payIntent(intent.id, 'paid')
      t.same((await json('POST', '/api/sumup/check-checkout', { order_uuid: checkout.body.order_uuid }, auth)).body, { status: 'PAID' })
      if (i === 1) t.equal((await json('POST', '/api/customer_info', { iban: 'DE89370400440532013000', account_name: 'Bea Guest', email: 'bea@example.org', donation: 0 }, auth)).status, 204)
    }
    t.same(GUESTS.map((g) => gateway.ledger.balanceOf(g.uid)), [2000, 2100])

    const created = await admin('POST', '/refund-runs', ANNA, {})
    t.equal(created.status, 201)
    t.match(created.body, { state: 'created', itemCount: 1, itemSum: 2000, items: [{ uid: GUESTS[0]!.uid, amount: 2000 }] })
    // The portal shows the guest in the run as in a payout run (their balance is being paid back; the page locks the payout form).
    t.match((await json('GET', '/api/payout_info', undefined, auths[0])).body, { in_payout_run: true, payout_date: new Date(created.body.createdAt).toISOString() })
    t.match((await json('GET', '/api/payout_info', undefined, auths[1])).body, { in_payout_run: false, payout_date: null })
    t.equal((await admin('POST', `/refund-runs/${created.body.id}/approve`, ANNA)).body.type, 'approver_is_creator')
    t.equal((await admin('POST', `/refund-runs/${created.body.id}/approve`, BEN)).status, 200)
    const executed = await admin('POST', `/refund-runs/${created.body.id}/execute`, ANNA)
    t.match(executed, { status: 200, body: { replay: false, run: { state: 'executed', bookedCount: 1, bookedSum: 2000 } } })
    t.equal(gateway.ledger.balanceOf(GUESTS[0]!.uid), 0, 'booked before the provider is called')

    // The gateway's refund service sends it without anyone waiting on an HTTP request.
    await waitFor(() => sim.state.refunds.size === 1, 'the refund at the provider')
    t.match([...sim.state.refunds.values()][0], { amount: 2000 })
    t.equal((await admin('POST', `/refund-runs/${created.body.id}/execute`, BEN)).body.replay, true)
    t.equal(sim.state.refunds.size, 1, 'sent once')
    t.equal(gateway.ledger.balanceOf(GUESTS[1]!.uid), 2100, 'the guest with payout data keeps the balance for the payout run')
    t.same(gateway.ledger.checkInvariants(), [], 'ledger invariants hold')
    t.equal(gateway.ledger.sumOfAllBalances(), 0)
  })
}
