import { createRequire } from 'node:module'
import t from 'tap'
import { pino } from 'pino'
import { KioskError, type BalanceInfo, type Outcome, type SaleLine, type TicketSale } from './kiosk.js'
import type { StaffSession } from './staff-session.js'
import { createLocalApi } from './local-api.js'
import type { CardResolution, CardTopUpOutcome } from './card-topup.js'

const logger = pino({ level: 'silent' })
const ID = '01890000-0000-7000-8000-000000000001'
const CARD_ID = '01890000-0000-7000-8000-0000000000c1'

async function startApi(t: { teardown(fn: () => unknown): void }) {
  const calls: Array<[string, ...unknown[]]> = []
  let next: () => Outcome = () => ({ status: 'accepted', id: ID, seq: 1, amount: 450, balance: 550 })
  let nextCard: () => CardTopUpOutcome = () => ({ status: 'accepted', id: ID, seq: 1, amount: 2000, balance: 2000, cardPaymentId: CARD_ID })
  const kiosk = {
    async sale(lines: readonly SaleLine[]) {
      calls.push(['sale', [...lines]])
      return next()
    },
    async topUp(amount: number) {
      calls.push(['topup', amount])
      return next()
    },
    async cardTopUp(amount: number) {
      calls.push(['card', amount])
      return nextCard()
    },
    async resolveCardPayment(resolution: CardResolution) {
      calls.push(['resolve', resolution])
      return nextCard()
    },
    async cashOut() {
      calls.push(['cashout'])
      return next()
    },
    async sellTicket(sale: TicketSale) {
      calls.push(['ticket', sale])
      return next()
    },
    async switchTag(pin: string) {
      calls.push(['tag-switch', pin])
      return next()
    },
    async cancelLast() {
      calls.push(['cancel'])
      return next()
    },
    async checkBalance(): Promise<BalanceInfo> {
      calls.push(['balance'])
      return { uid: '04A1B2C3D4E5F6', balance: 1200, vouchers: 1, blocked: false, variant: null, debt: false, recent: [] }
    },
    async openShift(register: string, float: number) {
      calls.push(['shift-open', register, float])
      return next()
    },
    async closeShift(counted: number) {
      calls.push(['shift-close', counted])
      return next()
    },
    async login(pin?: string): Promise<StaffSession> {
      calls.push(pin === undefined ? ['login'] : ['login', pin])
      return { uid: '04AABBCCDD', name: 'Sam', roles: ['cashier'], since: 1, tagType: 'ntag215' }
    },
    logout() {
      calls.push(['logout'])
    },
    abort() {
      calls.push(['abort'])
      return true
    },
    async confirmChainRecovery() {
      calls.push(['recovery-confirm'])
      return { damage: { reason: 'behind' as const, localNextSeq: 1, gatewayNextSeq: 8, missing: 0, detectedAt: 1 }, gatewayNextSeq: 8, nextSeq: 8, kept: 0, resigned: [], sent: 0 }
    },
  }
  const api = createLocalApi({ kiosk, state: () => ({ kiosk: 'bar-1', connected: true }), logger, port: 0 })
  const { host, port } = await api.start()
  t.teardown(() => api.stop())
  const base = `http://${host}:${port}`
  const post = async (path: string, body: string, contentType = 'application/json') => {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': contentType }, body })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  return { calls, post, base, setNext: (fn: () => Outcome) => (next = fn), setNextCard: (fn: () => CardTopUpOutcome) => (nextCard = fn), host }
}

t.test('listens on loopback; sale, topup and state work', async (t) => {
  const { calls, post, base, host, setNext } = await startApi(t)
  t.equal(host, '127.0.0.1')
  const sale = await post('/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1 }] }))
  t.same(sale, { status: 200, body: { status: 'accepted', id: ID, seq: 1, amount: 450, balance: 550 } })
  setNext(() => ({ status: 'pending', id: ID, seq: 2, amount: 1000 }))
  const topup = await post('/topup', JSON.stringify({ amount: 1000 }))
  t.equal(topup.status, 202, 'pending is "accepted for processing", not a final answer')
  t.same(calls, [['sale', [{ product: 'beer', qty: 1 }]], ['topup', 1000]])
  const state = await fetch(`${base}/state`)
  t.same(await state.json(), { kiosk: 'bar-1', connected: true })
})

t.test('POST /recovery/confirm answers what the recovery did', async (t) => {
  const { calls, post } = await startApi(t)
  const confirmed = await post('/recovery/confirm', '{}')
  t.match(confirmed, { status: 200, body: { damage: { reason: 'behind' }, gatewayNextSeq: 8, nextSeq: 8, resigned: [] } })
  t.same(calls, [['recovery-confirm']])
})

t.test('bad bodies get 400 {type, id, message} and never reach the kiosk', async (t) => {
  const { calls, post } = await startApi(t)
  const bad: Array<[string, string]> = [
    ['/sale', '{"lines": [{"product": "beer", "qty": 1}'],
    ['/sale', ''],
    ['/sale', '[]'],
    ['/sale', JSON.stringify({})],
    ['/sale', JSON.stringify({ lines: 'beer' })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: '2' }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1.5 }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 0 }] })],
    ['/sale', JSON.stringify({ lines: [{ product: '', qty: 1 }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1, unitPrice: -1 }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1, unitPrice: '100' }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1, unitPrice: 1.5 }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1, unitPrice: 10_000_001 }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'cup', qty: -1001 }] })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1 }], amount: 1 })],
    ['/sale', JSON.stringify({ lines: Array.from({ length: 101 }, () => ({ product: 'beer', qty: 1 })) })],
    ['/sale', '{"__proto__": {"lines": []}}'],
    ['/topup', JSON.stringify({ amount: '1000' })],
    ['/topup', JSON.stringify({ amount: -1 })],
    ['/topup', JSON.stringify({ amount: 10.5 })],
    ['/topup', JSON.stringify({ amount: 1e300 })],
    ['/topup', JSON.stringify({ amount: 0 })],
    ['/topup', JSON.stringify({ amount: 100, tag: 'x' })],
    ['/topup/card', JSON.stringify({ amount: '2000' })],
    ['/topup/card', JSON.stringify({ amount: 0 })],
    ['/topup/card', JSON.stringify({ amount: 20.5 })],
    ['/topup/card', JSON.stringify({ amount: 10_000_001 })],
    ['/topup/card', JSON.stringify({ amount: 100, pan: '4761739001010119' })],
    ['/topup/card', '{}'],
    ['/topup/card/resolve', '{}'],
    ['/topup/card/resolve', JSON.stringify({ outcome: 'maybe' })],
    ['/topup/card/resolve', JSON.stringify({ outcome: 'approved', receiptNumber: 17 })],
    ['/topup/card/resolve', JSON.stringify({ outcome: 'approved', receiptNumber: '' })],
    ['/topup/card/resolve', JSON.stringify({ outcome: 'approved', traceNumber: '1"; DROP TABLE' })],
    ['/topup/card/resolve', JSON.stringify({ outcome: 'approved', terminalId: 'x'.repeat(65) })],
    ['/topup/card/resolve', JSON.stringify({ outcome: 'approved', amount: 100 })],
    ['/recovery/confirm', JSON.stringify({ nextSeq: 1 })],
    ['/recovery/confirm', '[]'],
  ]
  for (const [path, body] of bad) {
    const res = await post(path, body)
    t.equal(res.status, 400, `${path} ${body.slice(0, 60)}`)
    t.match(res.body, { type: 'bad_request', id: String, message: String })
    t.same(Object.keys(res.body).sort(), ['id', 'message', 'type'])
  }
  const wrongType = await post('/sale', 'lines=beer', 'application/x-www-form-urlencoded')
  t.equal(wrongType.status, 415)
  t.match(wrongType.body, { type: 'bad_request' })
  const huge = await post('/sale', JSON.stringify({ lines: [{ product: 'x'.repeat(100_000), qty: 1 }] }))
  t.equal(huge.status, 413)
  const notFound = await post('/refund', '{}')
  t.match(notFound, { status: 404, body: { type: 'not_found' } })
  t.same(calls, [], 'the kiosk saw none of it')
})

t.test('kiosk refusals map to clear HTTP errors; unexpected failures are 500 without details', async (t) => {
  const { post, setNext } = await startApi(t)
  const cases: Array<[KioskError, number]> = [
    [new KioskError('unknown_product', 'unknown product "wine"'), 400],
    [new KioskError('empty_cart', 'the cart is empty'), 400],
    [new KioskError('busy', 'another operation is in progress'), 409],
    [new KioskError('topup_not_allowed', 'no'), 403],
    [new KioskError('outbox_full', 'outbox full'), 503],
    [new KioskError('tap_timeout', 'no wristband'), 504],
  ]
  for (const [err, status] of cases) {
    setNext(() => {
      throw err
    })
    const res = await post('/sale', JSON.stringify({ lines: [] }))
    t.equal(res.status, status, err.type)
    t.match(res.body, { type: err.type, message: err.message, id: String })
  }
  setNext(() => {
    throw new Error('SQLITE_IOERR secret path /var/lib/x')
  })
  const res = await post('/topup', JSON.stringify({ amount: 100 }))
  t.equal(res.status, 500)
  t.equal(res.body.type, 'internal')
  t.notMatch(String(res.body.message), /SQLITE|secret/)
})

t.test('card top-up and supervisor resolve: final outcomes 200, pending and unresolved 202, refusals mapped', async (t) => {
  const { calls, post, setNextCard } = await startApi(t)
  const accepted = await post('/topup/card', JSON.stringify({ amount: 2000 }))
  t.same(accepted, { status: 200, body: { status: 'accepted', id: ID, seq: 1, amount: 2000, balance: 2000, cardPaymentId: CARD_ID } })
  for (const status of ['declined', 'aborted'] as const) {
    setNextCard(() => ({ status, amount: 2000, cardPaymentId: CARD_ID, resultCode: 5 }))
    const res = await post('/topup/card', JSON.stringify({ amount: 2000 }))
    t.equal(res.status, 200, `${status} is a final answer`)
    t.match(res.body, { status, resultCode: 5 })
  }
  for (const status of ['pending', 'unresolved'] as const) {
    setNextCard(() => ({ status, amount: 2000, cardPaymentId: CARD_ID }))
    t.equal((await post('/topup/card', JSON.stringify({ amount: 2000 }))).status, 202, `${status} is not final`)
  }
  const cases: Array<[KioskError, number]> = [
    [new KioskError('terminal_unavailable', 'no terminal'), 503],
    [new KioskError('card_payment_unresolved', 'resolve first'), 409],
  ]
  for (const [err, status] of cases) {
    setNextCard(() => {
      throw err
    })
    const res = await post('/topup/card', JSON.stringify({ amount: 2000 }))
    t.equal(res.status, status, err.type)
    t.match(res.body, { type: err.type, id: String, message: err.message })
  }
  setNextCard(() => ({ status: 'accepted', id: ID, seq: 2, amount: 2000, balance: 2000, cardPaymentId: CARD_ID }))
  const resolved = await post('/topup/card/resolve', JSON.stringify({ outcome: 'approved', receiptNumber: '0042', traceNumber: '000123' }))
  t.equal(resolved.status, 200)
  setNextCard(() => {
    throw new KioskError('no_unresolved_card_payment', 'nothing open')
  })
  t.match(await post('/topup/card/resolve', JSON.stringify({ outcome: 'declined' })), { status: 409, body: { type: 'no_unresolved_card_payment' } })
  t.same(calls.filter(([kind]) => kind === 'resolve'), [
    ['resolve', { outcome: 'approved', receiptNumber: '0042', traceNumber: '000123' }],
    ['resolve', { outcome: 'declined' }],
  ])
})

t.test('issue 5 routes: bodies go to the kiosk as typed, answers as the kiosk gives them', async (t) => {
  const { calls, post, setNext } = await startApi(t)
  t.equal((await post('/sale', JSON.stringify({ lines: [{ product: 'tip', qty: 1, unitPrice: 250 }, { product: 'cup', qty: -2 }] }))).status, 200)
  t.equal((await post('/cashout', '{}')).status, 200)
  t.equal((await post('/ticket', JSON.stringify({ lines: [{ product: 'day', qty: 1 }], topup: 1000 }))).status, 200)
  t.equal((await post('/tag-switch', JSON.stringify({ pin: 'K7M2Q9XW4R' }))).status, 200)
  t.equal((await post('/cancel-last', '{}')).status, 200)
  t.same(await post('/balance', '{}'), { status: 200, body: { uid: '04A1B2C3D4E5F6', balance: 1200, vouchers: 1, blocked: false, variant: null, debt: false, recent: [] } })
  t.equal((await post('/shift/open', JSON.stringify({ register: 'till-1', float: 0 }))).status, 200)
  t.equal((await post('/shift/close', JSON.stringify({ counted: 10480 }))).status, 200)
  t.match(await post('/staff/login', '{}'), { status: 200, body: { staff: { uid: '04AABBCCDD', name: 'Sam' } } })
  t.equal((await post('/staff/login', JSON.stringify({ pin: '2468' }))).status, 200)
  t.same(await post('/staff/logout', '{}'), { status: 200, body: { staff: null } })
  t.same(await post('/abort', '{}'), { status: 200, body: { aborted: true } })
  setNext(() => ({ status: 'offline', id: ID, seq: 3, amount: 450 }))
  t.match(await post('/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1 }] })), { status: 202, body: { status: 'offline' } }, 'offline is not booked yet')
  t.same(calls, [
    ['sale', [{ product: 'tip', qty: 1, unitPrice: 250 }, { product: 'cup', qty: -2 }]],
    ['cashout'],
    ['ticket', { lines: [{ product: 'day', qty: 1 }], topup: 1000 }],
    ['tag-switch', 'K7M2Q9XW4R'],
    ['cancel'],
    ['balance'],
    ['shift-open', 'till-1', 0],
    ['shift-close', 10480],
    ['login'],
    ['login', '2468'],
    ['logout'],
    ['abort'],
    ['sale', [{ product: 'beer', qty: 1 }]],
  ])
})

t.test('issue 5 routes: hostile bodies are 400 and never reach the kiosk', async (t) => {
  const { calls, post } = await startApi(t)
  const bad: Array<[string, string]> = [
    ['/cashout', JSON.stringify({ amount: 100 })],
    ['/cashout', '[]'],
    ['/cancel-last', JSON.stringify({ ref: ID })],
    ['/balance', JSON.stringify({ uid: '04A1B2C3D4E5F6' })],
    ['/abort', JSON.stringify({ now: true })],
    ['/staff/logout', 'null'],
    ['/ticket', JSON.stringify({ lines: [{ product: 'day', qty: 1 }] })],
    ['/ticket', JSON.stringify({ lines: [{ product: 'day', qty: -1 }], topup: 0 })],
    ['/ticket', JSON.stringify({ lines: [{ product: 'day', qty: 1, unitPrice: 0 }], topup: 0 })],
    ['/ticket', JSON.stringify({ lines: [{ product: 'day', qty: 1 }], topup: -5 })],
    ['/ticket', JSON.stringify({ lines: [{ product: 'day', qty: 1 }], topup: 1e300 })],
    ['/ticket', JSON.stringify({ lines: [{ product: 'day', qty: 1 }], topup: '100' })],
    ['/tag-switch', '{}'],
    ['/tag-switch', JSON.stringify({ pin: 12345678 })],
    ['/tag-switch', JSON.stringify({ pin: 'short' })],
    ['/tag-switch', JSON.stringify({ pin: 'K7M2Q9XW4R', tag: 'x' })],
    ['/tag-switch', JSON.stringify({ pin: "K7M2Q9XW4R' OR 1=1" })],
    ['/shift/open', JSON.stringify({ register: 'till-1' })],
    ['/shift/open', JSON.stringify({ register: 'till-1', float: -1 })],
    ['/shift/open', JSON.stringify({ register: 'till-1', float: 10.5 })],
    ['/shift/open', JSON.stringify({ register: 'till-1', float: 10_000_001 })],
    ['/shift/open', JSON.stringify({ register: 'Till 1', float: 0 })],
    ['/shift/open', JSON.stringify({ register: 'till-1', float: 0, staff: 'x' })],
    ['/shift/close', JSON.stringify({ counted: -1 })],
    ['/shift/close', JSON.stringify({ counted: 9e15 })],
    ['/shift/close', JSON.stringify({ counted: '100' })],
    ['/staff/login', JSON.stringify({ pin: 1234 })],
    ['/staff/login', JSON.stringify({ pin: '12' })],
    ['/staff/login', JSON.stringify({ pin: '1234', uid: '04AABBCCDD' })],
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: -0 }] })],
  ]
  for (const [path, body] of bad) {
    const res = await post(path, body)
    t.equal(res.status, 400, `${path} ${body.slice(0, 60)}`)
    t.match(res.body, { type: 'bad_request', id: String, message: String })
  }
  t.same(calls, [], 'the kiosk saw none of it')
})

t.test('issue 5 refusals map to HTTP statuses', async (t) => {
  const { post, setNext } = await startApi(t)
  const cases: Array<[KioskError, number]> = [
    [new KioskError('not_logged_in', 'log in'), 401],
    [new KioskError('wrong_staff_pin', 'wrong'), 401],
    [new KioskError('staff_not_allowed', 'no'), 403],
    [new KioskError('tag_blocked', 'blocked'), 403],
    [new KioskError('product_restricted', 'minor'), 403],
    [new KioskError('offline_limit', 'cap'), 403],
    [new KioskError('gateway_unreachable', 'offline'), 503],
    [new KioskError('nothing_to_cancel', 'none'), 409],
    [new KioskError('aborted', 'cancelled'), 409],
    [new KioskError('price_required', 'price'), 400],
  ]
  for (const [err, status] of cases) {
    setNext(() => {
      throw err
    })
    const res = await post('/cancel-last', '{}')
    t.equal(res.status, status, err.type)
    t.match(res.body, { type: err.type, message: err.message })
  }
})

t.test('bodies are checked by TypeBox, not ajv: ajv is never loaded, and a refusal names the field', async (t) => {
  const { post, calls } = await startApi(t)
  const res = await post('/sale', JSON.stringify({ lines: [{ product: 'beer', qty: '2' }] }))
  t.equal(res.status, 400)
  t.match(res.body, { type: 'bad_request', message: /^invalid request: body\/lines\/0\/qty / }, 'a validation error, worded by fastify from the first TypeBox error')
  t.same(calls, [])
  // fastify requires ajv (through its default validator compiler, and fast-json-stringify's for response schemas) only for its default compilers.
  const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => /[\\/]node_modules[\\/](ajv|ajv-formats|@fastify[\\/]ajv-compiler|@fastify[\\/]fast-json-stringify-compiler)[\\/]/.test(path))
  t.same(loaded, [], 'about 3 MB of the daemon\'s memory')
})

t.test('a route with a response schema fails at start instead of being sent unchecked', async (t) => {
  const api = createLocalApi({ kiosk: {} as Parameters<typeof createLocalApi>[0]['kiosk'], state: () => ({}), logger, port: 0 })
  t.teardown(() => api.stop())
  api.app.get('/typed', { schema: { response: { 200: { type: 'object', properties: { a: { type: 'integer' } } } } } }, async () => ({ a: 1 }))
  await t.rejects(api.start(), /no response schemas \(GET \/typed declares one\)/)
})
