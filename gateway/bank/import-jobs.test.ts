// Bank import jobs through the seed's API (app.inject) with the queue, the
// matching and the operator's admin routes; hostile inputs make a transaction
// invalid or the request 400, never the job `error`, never a crash.
import t, { type Test } from 'tap'
import { UID } from '../ledger/testing/test-helpers.js'
import { API_TOKEN, bankWorld, JOBS_PATH, ORGANIZER } from './testing/bank-world.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

const tx = (amount: string, reference: string, more: Record<string, unknown> = {}) => ({ payer: 'Alice Guest', reference, amount, date: '2026-07-01', ...more })

onEveryEngine('a transfer with a wristband\'s reference books a bank top-up once; payer and reference are forgotten', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  const ref = w.codes.referenceOf(UID.alice)
  const before = w.balance(UID.alice)
  const job = await w.run([tx('23.50', `GUTSCHRIFT\r\n${ref.display}\r\nEREF: NOTPROVIDED`, { iban: 'DE02120300000000202051', unknown_field: 1 })])
  t.equal(job.state, 'completed')
  t.equal(job.event, ORGANIZER)
  t.match(job.created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
  const [one] = job.transactions
  t.same(Object.keys(one).sort(), ['amount', 'bic', 'checksum', 'comment', 'date', 'external_id', 'iban', 'message', 'order', 'payer', 'reference', 'state'])
  t.match(one, { state: 'valid', amount: '23.50', date: '2026-07-01', payer: '', reference: '', order: ref.compact })
  t.match(one.checksum, /^[0-9a-f]{40}$/)
  t.equal(w.balance(UID.alice), before + 2350)
  t.equal(w.account('clearing:bank'), -2350)

  // The same transfer in the next statement (other line breaks, other case) is `already` and books nothing.
  const again = await w.run([tx('23.50', `gutschrift ${ref.display.toLowerCase()} eref: notprovided`, { payer: 'ALICE GUEST' })])
  t.match(again.transactions[0], { state: 'already', payer: '', reference: '' })
  t.equal(again.transactions[0].checksum, one.checksum)
  t.equal(w.balance(UID.alice), before + 2350)
})

onEveryEngine('a typo in the reference, a reference of nobody, a debit: nomatch, nothing booked', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  const ref = w.codes.referenceOf(UID.alice).compact
  const typo = ref.slice(0, 6) + (ref[6] === 'A' ? 'B' : 'A') + ref.slice(7)
  const job = await w.run([tx('10.00', typo), tx('10.00', 'RF18539007547034'), tx('-5.00', ref), tx('11.00', 'just some text')])
  t.same(job.transactions.map((x: any) => x.state), ['nomatch', 'nomatch', 'nomatch', 'nomatch'])
  t.equal(job.transactions[0].reference, typo, 'nomatch keeps the reference for the operator')
  t.equal(w.account('clearing:bank'), 0)
})

onEveryEngine('hostile amounts, dates and currencies make a transaction invalid, never the job error', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  const ref = w.codes.referenceOf(UID.bob).display
  const bad = ['1e3', '-0.00', '0.00', '12,34', '1.234', ' ', '+5.00', '1,000.00', 'NaN', 'Infinity', '0x10', '10000000.01', '١٢٫٣٤']
  const job = await w.run([
    ...bad.map((amount) => tx(amount, ref)),
    tx('5.00', ref, { date: '31.02.2026' }),
    tx('5.00', ref, { date: 'yesterday' }),
    tx('5.00', ref, { date: '' }),
    tx('5.00', ref, { currency: 'XBT' }),
    tx('5.00', ref, { currency: { $gt: '' } }),
    { payer: 'x', reference: ref, amount: 5, date: '2026-07-01' },
    { reference: ref, date: '2026-07-01' },
    tx('5.00', ref, { payer: 'x'.repeat(5000) }),
    tx('5.00', ref, { date: '01.07.2026', currency: 'eur' }),
  ])
  t.equal(job.state, 'completed')
  const states = job.transactions.map((x: any) => x.state)
  t.same(states.slice(0, -1), Array(states.length - 1).fill('invalid'))
  t.equal(states.at(-1), 'valid', 'DD.MM.YYYY and a lower-case event currency are fine')
  for (const x of job.transactions.slice(0, -1)) t.not(x.message, '', `${x.amount}: says why`)
  t.equal(w.balance(UID.bob), 500, 'only the valid one is booked')
})

onEveryEngine('a returned payout goes back to the guest, marks the payout and alerts; once', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  // A payout of 30.00 was booked earlier by the payout module: customer -> payout:sepa.
  const payout = w.world.ledger.ensureAccount('payout', 'sepa')
  w.world.ledger.bookExternal({ ref: 'prep:alice', kind: 'prepayment', postings: [{ account: w.world.ledger.ensureAccount('clearing', 'test'), amount: -3000 }, { account: `customer:${UID.alice}`, amount: 3000 }] })
  w.world.ledger.bookExternal({ ref: 'payout:alice', kind: 'payout', postings: [{ account: `customer:${UID.alice}`, amount: -3000 }, { account: payout, amount: 3000 }] })
  const before = w.balance(UID.alice)
  w.payouts.payouts.set('WP-RUN1-0001', { uid: UID.alice, amountCents: 3000 })
  const job = await w.run([
    tx('30.00', 'RETOURE AC04 Konto aufgeloest EREF: WP-RUN1-0001', { external_id: null }),
    tx('30.00', 'second return line', { external_id: 'WP-RUN1-0001', date: '2026-07-02' }),
    tx('31.00', 'EREF WP-RUN1-0001', { date: '2026-07-03' }),
  ])
  t.same(job.transactions.map((x: any) => x.state), ['valid', 'already', 'nomatch'])
  t.equal(job.transactions[0].order, 'WP-RUN1-0001')
  t.equal(w.balance(UID.alice), before + 3000)
  t.equal(w.account(payout), 0)
  t.same(w.payouts.returned, ['WP-RUN1-0001'])
  t.equal(w.alerts.length, 1)
  t.match(w.alerts[0], { kind: 'payout_returned', message: /WP-RUN1-0001/ })
  t.ok(w.logs.some((l) => l.includes('came back')), 'logged')
})

onEveryEngine('a debit naming an exported payout with its amount is that payout leaving: valid, nothing booked; another amount or payout is nomatch', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  const payout = w.world.ledger.ensureAccount('payout', 'sepa')
  w.world.ledger.bookExternal({ ref: 'prep:alice', kind: 'prepayment', postings: [{ account: w.world.ledger.ensureAccount('clearing', 'test'), amount: -3000 }, { account: `customer:${UID.alice}`, amount: 3000 }] })
  w.world.ledger.bookExternal({ ref: 'payout:alice', kind: 'payout', postings: [{ account: `customer:${UID.alice}`, amount: -3000 }, { account: payout, amount: 3000 }] })
  const before = w.balance(UID.alice)
  w.payouts.payouts.set('WP-RUN1-0001', { uid: UID.alice, amountCents: 3000 })
  const job = await w.run([
    tx('-30.00', 'SEPA-UEBERWEISUNG EREF: WP-RUN1-0001', { payer: 'Alice Guest' }),
    tx('-29.00', 'EREF WP-RUN1-0001', { date: '2026-07-02' }),
    tx('-30.00', 'EREF WP-RUN9-0009', { date: '2026-07-03' }),
  ])
  t.same(job.transactions.map((x: any) => x.state), ['valid', 'nomatch', 'nomatch'])
  t.match(job.transactions[0], { order: 'WP-RUN1-0001', message: /payout WP-RUN1-0001 left the account/, payer: '', reference: '' })
  t.match(job.transactions[1].message, /amount differs/)
  t.equal(w.balance(UID.alice), before, 'the payout was booked at export: the debit books nothing')
  t.equal(w.account(payout), 3000)
  t.same(w.payouts.returned, [], 'a payout leaving is not a return')
  t.equal(w.alerts.length, 0)
  t.same(w.world.ledger.checkInvariants(), [])
})

onEveryEngine('an operator matches a nomatch transaction to a wristband or discards it', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  const job = await w.run([tx('12.00', 'for my band please'), tx('13.00', 'not for us'), tx('1e3', 'bad'), tx('-4.00', 'a debit')])
  const admin = (url: string, payload: unknown) =>
    w.http.app.inject({ method: 'POST', url: `/admin/bank/import-jobs/${job.id}/transactions/${url}`, headers: { authorization: `Bearer ${API_TOKEN}` }, payload: payload as object })
  const matched = await admin('0/match', { uid: UID.bob, operator: 'finance-anna' })
  t.equal(matched.statusCode, 200, matched.body)
  t.match(matched.json(), { state: 'valid', payer: '', reference: '', message: 'matched by finance-anna' })
  t.equal(w.balance(UID.bob), 1200)
  t.equal((await admin('0/match', { uid: UID.bob })).json().type, 'bank_transaction_decided', 'not twice')
  t.equal(w.balance(UID.bob), 1200)
  t.equal((await admin('1/match', { uid: UID.stranger })).statusCode, 404, 'unknown wristband')
  t.equal((await admin('2/match', { uid: UID.bob })).statusCode, 409, 'an invalid one is only discarded')
  t.equal((await admin('3/match', { uid: UID.bob })).json().type, 'bank_transaction_debit')
  t.equal((await admin('9/match', { uid: UID.bob })).statusCode, 404)
  t.equal((await admin('1/match', { uid: UID.bob, extra: 1 })).statusCode, 400)
  const discarded = await admin('1/discard', { comment: 'sponsor payment, booked elsewhere' })
  t.match(discarded.json(), { state: 'discarded', payer: '', reference: '', comment: 'sponsor payment, booked elsewhere' })
  t.equal((await admin('2/discard', {})).json().state, 'discarded')
  t.equal(w.balance(UID.bob), 1200)
  const noAuth = await w.http.app.inject({ method: 'POST', url: `/admin/bank/import-jobs/${job.id}/transactions/3/discard`, payload: {} })
  t.equal(noAuth.statusCode, 401)
  const reference = await w.http.app.inject({ method: 'GET', url: `/admin/wristbands/${UID.alice}/transfer-reference`, headers: { authorization: `Bearer ${API_TOKEN}` } })
  t.equal(reference.json().reference, w.codes.referenceOf(UID.alice).compact)
})

onEveryEngine('the API as the seed has it: auth, organizer, list, filters, pages, 404', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  const get = (url: string, authorization: string | null = `Token ${API_TOKEN}`) =>
    w.http.app.inject({ method: 'GET', url, headers: authorization !== null ? { authorization } : {} })
  t.equal((await get(JOBS_PATH, null)).statusCode, 401)
  t.equal((await get(JOBS_PATH, 'Token wrong-token')).statusCode, 401)
  t.equal((await get(JOBS_PATH, `Bearer ${API_TOKEN}`)).statusCode, 401)
  t.equal((await get('/api/v1/organizers/other/bankimportjobs/')).statusCode, 403)
  const unauth = await w.http.app.inject({ method: 'POST', url: JOBS_PATH, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ transactions: [tx('1.00', 'x')] }) })
  t.equal(unauth.statusCode, 401)
  t.same(await get(JOBS_PATH).then((r) => r.json()), { count: 0, next: null, previous: null, results: [] })

  const created = await w.upload({ event: ORGANIZER, transactions: [tx('1.00', 'x')] })
  t.equal(created.statusCode, 201)
  t.match(created.json, { state: 'pending', event: ORGANIZER, transactions: [] })
  await w.queue.drained()
  const noEvent = await w.upload({ transactions: [tx('2.00', 'y')] })
  t.equal(noEvent.json.event, null)
  await w.queue.drained()
  for (let i = 0; i < 50; i++) await w.upload({ event: ORGANIZER, transactions: [tx('1.00', `page filler ${i}`)] })
  await w.queue.drained()

  const page1 = (await get(JOBS_PATH)).json()
  t.equal(page1.count, 52)
  t.equal(page1.results.length, 50)
  t.equal(page1.previous, null)
  t.match(page1.next, /\/bankimportjobs\/\?page=2$/)
  const page2 = (await get(`${JOBS_PATH}?page=2`)).json()
  t.equal(page2.results.length, 2)
  t.equal(page2.next, null)
  t.match(page2.previous, /page=1$/)
  t.equal((await get(`${JOBS_PATH}?page=3`)).statusCode, 404)
  t.equal((await get(`${JOBS_PATH}?page=-1`)).statusCode, 404)
  t.equal((await get(`${JOBS_PATH}?event=${ORGANIZER}`)).json().count, 51)
  t.equal((await get(`${JOBS_PATH}?event=nope`)).json().count, 0)
  t.equal((await get(`${JOBS_PATH}?state=completed`)).json().count, 52)
  t.equal((await get(`${JOBS_PATH}?state=pending`)).json().count, 0)
  t.equal((await get(`${JOBS_PATH}?state=bogus`)).statusCode, 400)
  t.equal((await get(`${JOBS_PATH}1/`)).json().id, 1)
  t.equal((await get(`${JOBS_PATH.slice(0, -1)}/1`)).json().id, 1, 'without the trailing slash too')
  t.equal((await get(`${JOBS_PATH}999/`)).statusCode, 404)
  t.equal((await get(`${JOBS_PATH}abc/`)).statusCode, 404)
})

onEveryEngine('bad uploads are 400 and store nothing; 50 MB is refused unread', async (t, engine) => {
  const w = await bankWorld(t, { database: engine.database(t) })
  for (const body of [[], 'x', null, { transactions: [] }, { transactions: 'x' }, { transactions: [1] }, { transactions: [null] }, { event: 'other', transactions: [tx('1.00', 'x')] }, { event: 5, transactions: [tx('1.00', 'x')] }])
    t.equal((await w.upload(body)).statusCode, 400, JSON.stringify(body))
  const notJson = await w.http.app.inject({ method: 'POST', url: JOBS_PATH, headers: { authorization: `Token ${API_TOKEN}`, 'content-type': 'application/json' }, payload: '{"transactions": [' })
  t.equal(notJson.statusCode, 400)
  t.notOk(notJson.body.includes('transactions'), 'the body is not quoted')
  const huge = Buffer.alloc(50 * 1024 * 1024, 0x20)
  const big = await w.http.app.inject({ method: 'POST', url: JOBS_PATH, headers: { authorization: `Token ${API_TOKEN}`, 'content-type': 'application/json' }, payload: huge })
  t.equal(big.statusCode, 400)
  t.equal(big.json().type, 'ctp_body_too_large')
  t.equal(w.jobs.list({ offset: 0, limit: 10 }).count, 0)
})
