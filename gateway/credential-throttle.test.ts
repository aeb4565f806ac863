// Wrong credentials on the admin API and the card-terminal API are throttled
// per source address (issue 9, point 6): after `authFailuresMax` wrong tokens
// in a window an address is answered 429 with Retry-After, without its token
// being looked at; other addresses and right tokens are not affected.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createGateway } from './app.js'
import { resolveConfig } from './config.js'
import { createHttpServer, type HttpDeps, type StatsReply } from './http.js'

const ADMIN_TOKEN = 'admin-token-0123456789'
const KIOSK_TOKEN = 'token-bar-1-0123456789'
const STATS: StatsReply = {
  ledger: { accepted: 0, rejected: 0, rejectedByReason: {}, revenueByBooth: {}, cashByKiosk: {}, cashByRegister: {}, depositsByBooth: {}, openDebts: { count: 0, cents: 0 }, customerBalances: 0 },
  ingest: {},
  broker: {},
  gateway: {},
}

function adminServer(t: Test, limits: HttpDeps['limits'] = {}) {
  const server = createHttpServer({
    logger: pino({ level: 'silent' }),
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => STATS,
    limits,
  })
  t.teardown(() => server.close())
  return server
}

interface Answer {
  status: number
  retryAfter: string | undefined
  body: any
}

/** One request on its own connection, from `localAddress` (any 127.x address is this machine). */
function call(port: number, path: string, token: string, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, localAddress, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: text ? JSON.parse(text) : undefined }))
    })
    req.on('error', reject)
    req.end()
  })
}

function countStatuses(answers: readonly Answer[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1
  return counts
}

t.test('300 wrong admin tokens at once from one address: 20 are checked, 280 answered 429; a right token from another address works', async (t) => {
  // A long window, so that it cannot run out during the test.
  const server = adminServer(t, { authFailuresWindowMs: 10 * 60_000 })
  const { port } = await server.listen('127.0.0.1', 0)

  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => call(port, '/admin/stats', `wrong-token-${i}-0123456789`)))
  t.same(countStatuses(answers), { 401: 20, 429: 280 }, 'the default allows 20 wrong tokens per address and minute')
  const throttled = answers.filter((a) => a.status === 429)
  t.ok(throttled.every((a) => a.body.type === 'rate_limited'), 'each 429 has an error body of type rate_limited')
  t.ok(throttled.every((a) => Number(a.retryAfter) >= 1 && Number(a.retryAfter) <= 600), 'each 429 has Retry-After: the rest of the window in seconds')

  // The right token from the throttled address is not even looked at: a guess learns nothing.
  t.equal((await call(port, '/admin/stats', ADMIN_TOKEN)).status, 429)
  // Another address has its own count.
  const other = await call(port, '/admin/stats', ADMIN_TOKEN, '127.0.0.2')
  t.equal(other.status, 200)
  t.same(other.body, STATS)
  t.equal((await call(port, '/admin/stats', 'wrong-token-0123456789', '127.0.0.3')).status, 401, 'a wrong token from a fresh address is checked')
})

t.test('IPv6 addresses count by their /64', async (t) => {
  const server = adminServer(t, { authFailuresMax: 3 })
  const inject = (remoteAddress: string, token: string) => server.app.inject({ method: 'GET', url: '/admin/stats', remoteAddress, headers: { authorization: `Bearer ${token}` } })
  for (const host of ['2001:db8::1', '2001:db8::2', '2001:db8::ffff:3']) t.equal((await inject(host, 'wrong-token-0123456789')).statusCode, 401)
  t.equal((await inject('2001:db8::abcd', 'wrong-token-0123456789')).statusCode, 429, 'another address in the same /64 is throttled')
  t.equal((await inject('2001:db8::abcd', ADMIN_TOKEN)).statusCode, 429)
  t.equal((await inject('2001:db8:0:1::1', ADMIN_TOKEN)).statusCode, 200, 'the next /64 is not')
})

t.test('behind a trusted reverse proxy the client is counted, never the proxy; nobody else can name an address', async (t) => {
  const wrong = 'wrong-token-0123456789'
  const server = adminServer(t, { authFailuresMax: 2, trustedProxies: ['127.0.0.1'] })
  const via = (remoteAddress: string, client: string, token: string) =>
    server.app.inject({ method: 'GET', url: '/admin/stats', remoteAddress, headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': client } })
  for (let i = 0; i < 2; i++) t.equal((await via('127.0.0.1', '198.51.100.1', wrong)).statusCode, 401)
  t.equal((await via('127.0.0.1', '198.51.100.1', wrong)).statusCode, 429, 'the guesser behind the proxy is throttled')
  t.equal((await via('127.0.0.1', '198.51.100.2', ADMIN_TOKEN)).statusCode, 200, 'another client behind the same proxy is not')
  // A client that is not the proxy cannot escape its limit by naming other addresses.
  for (let i = 0; i < 2; i++) t.equal((await via('192.0.2.9', `203.0.113.${i}`, wrong)).statusCode, 401)
  t.equal((await via('192.0.2.9', '203.0.113.77', wrong)).statusCode, 429, 'X-Forwarded-For from an untrusted address is ignored')

  const direct = adminServer(t, { authFailuresMax: 2 })
  for (let i = 0; i < 2; i++) {
    await direct.app.inject({ method: 'GET', url: '/admin/stats', remoteAddress: '192.0.2.10', headers: { authorization: `Bearer ${wrong}`, 'x-forwarded-for': `203.0.113.${i}` } })
  }
  const third = await direct.app.inject({ method: 'GET', url: '/admin/stats', remoteAddress: '192.0.2.10', headers: { authorization: `Bearer ${wrong}`, 'x-forwarded-for': '203.0.113.99' } })
  t.equal(third.statusCode, 429, 'without trustedProxies the header is ignored')
})

t.test('right tokens do not count; the count starts again after the window', async (t) => {
  const server = adminServer(t, { authFailuresMax: 3, authFailuresWindowMs: 200 })
  const inject = (token: string) => server.app.inject({ method: 'GET', url: '/admin/stats', remoteAddress: '192.0.2.7', headers: { authorization: `Bearer ${token}` } })
  for (let i = 0; i < 50; i++) t.equal((await inject(ADMIN_TOKEN)).statusCode, 200)
  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push((await inject('wrong-token-0123456789')).statusCode)
  t.same(statuses, [401, 401, 401, 429, 429], 'three wrong tokens are checked despite 50 right ones before')
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal((await inject(ADMIN_TOKEN)).statusCode, 200, 'once the window has passed the address is served again')
})

t.test('the card-terminal API throttles wrong kiosk tokens the same way', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-throttle-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const eventFile = join(dir, 'event.json')
  writeFileSync(
    eventFile,
    JSON.stringify({
      event: { name: 'Throttle Fest', currency: 'EUR' },
      booths: [{ id: 'bar', name: 'Bar' }],
      products: [],
      kiosks: [{ id: 'bar-1', booth: 'bar', token: KIOSK_TOKEN, saleAllowed: true, topupAllowed: false }],
      wristbands: [],
    }),
    { mode: 0o600 },
  )
  const config = resolveConfig({
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0, authFailuresWindowMs: 10 * 60_000 },
    dataDir: join(dir, 'data'),
    eventFile,
    adminToken: ADMIN_TOKEN,
    logLevel: 'silent',
    // Never called: a configuration request without a cart needs no Stripe call.
    payments: { stripe: { baseUrl: 'http://127.0.0.1:9', secretKey: 'sk_test_throttle_0123', publishableKey: 'pk_test_throttle_0123', webhookSecret: 'whsec_throttle_0123' } },
  })
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const { port } = gateway.httpAddress!
  const path = '/api/stripe/v1/configuration/'

  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => call(port, path, `bar-1:wrong-token-${i}-0123456789`)))
  t.same(countStatuses(answers), { 401: 20, 429: 10 })
  t.ok(answers.filter((a) => a.status === 429).every((a) => Number(a.retryAfter) >= 1), 'every 429 says when to come back')
  t.equal((await call(port, path, `bar-1:${KIOSK_TOKEN}`)).status, 429, 'the right token from the throttled address is not checked')
  const other = await call(port, path, `bar-1:${KIOSK_TOKEN}`, '127.0.0.2')
  t.equal(other.status, 200, 'the kiosk at another address is served')
  t.equal(other.body.stripe_publishable_api_key, 'pk_test_throttle_0123')
  t.equal((await call(port, '/admin/stats', 'wrong-admin-token-0123')).status, 401, 'the admin API keeps its own count')
})
