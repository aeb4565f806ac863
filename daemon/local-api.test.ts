import t from 'tap'
import { pino } from 'pino'
import { KioskError, type Outcome, type SaleLine } from './kiosk.js'
import { createLocalApi } from './local-api.js'
import type { CardResolution, CardTopUpOutcome } from './card-topup.js'

const logger = pino({ level: 'silent' })
const ID = '01890000-0000-7000-8000-000000000001'
const CARD_ID = '01890000-0000-7000-8000-0000000000c1'

async function startApi(t: { teardown(fn: () => unknown): void }) {
  const calls: Array<['sale', SaleLine[]] | ['topup', number] | ['card', number] | ['resolve', CardResolution]> = []
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
    ['/sale', JSON.stringify({ lines: [{ product: 'beer', qty: 1, unitPrice: 0 }] })],
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
    [new KioskError('tap_timeout', 'no wristband'), 408],
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
