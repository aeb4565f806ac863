// GET /metrics on the gateway's HTTP server (app.inject): who may scrape, with
// and without a token, and what a refusal looks like.
import t, { type Test } from 'tap'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { createHttpServer, type HttpLimits } from '../http.js'
import { createGatewayMetrics } from './collectors.js'
import { metricsMount } from './route.js'
import { parseExposition, sampleValue } from './testing/exposition.js'

const TOKEN = 'metrics-token-for-tests-0123'

async function server(t: Test, options: { token?: string; limits?: Partial<HttpLimits> } = {}): Promise<FastifyInstance> {
  const metrics = createGatewayMetrics()
  metrics.observePortalLogin('success')
  const http = createHttpServer({
    logger: pino({ level: 'silent' }),
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('not used')
    },
    ...(options.limits ? { limits: options.limits } : {}),
    plugins: [metricsMount({ registry: metrics.registry, ...(options.token === undefined ? {} : { token: options.token }) })],
  })
  t.teardown(() => http.close())
  await http.app.ready()
  return http.app
}

t.test('without a token, this machine is answered and every other address refused', async (t) => {
  const app = await server(t)
  for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.0.1.1']) {
    const res = await app.inject({ method: 'GET', url: '/metrics', remoteAddress })
    t.equal(res.statusCode, 200, remoteAddress)
  }
  const ok = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(ok.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(ok.headers['cache-control'], 'no-store')
  t.equal(sampleValue(parseExposition(ok.body), 'wristpay_portal_logins_total'), 1, 'the registry given is the one answered')

  for (const remoteAddress of ['10.0.0.7', '192.168.1.20', '2001:db8::1', '::ffff:10.0.0.7']) {
    const res = await app.inject({ method: 'GET', url: '/metrics', remoteAddress })
    t.equal(res.statusCode, 403, remoteAddress)
    t.match(res.json(), { type: 'metrics_local_only', id: /./ })
    t.notMatch(res.body, /wristpay_/, 'no metric in a refusal')
  }
  // A token means nothing when none is configured: the address decides.
  const withHeader = await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.0.0.7', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(withHeader.statusCode, 403)
})

t.test('a forwarded-for header counts only from a trusted proxy, and a proxied client is not this machine', async (t) => {
  const untrusted = await server(t)
  // A reverse proxy on this machine that nobody listed in trustedProxies: it still says whom it forwards.
  for (const headers of [{ 'x-forwarded-for': '10.0.0.7' }, { 'x-forwarded-for': '127.0.0.1, 10.0.0.7' }, { forwarded: 'for=10.0.0.7;proto=https' }, { forwarded: 'for="[2001:db8::1]:4711"' }, { 'x-real-ip': '10.0.0.7' }]) {
    const forwarded = await untrusted.inject({ method: 'GET', url: '/metrics', headers })
    t.equal(forwarded.statusCode, 403, `forwarded for someone else: ${JSON.stringify(headers)}`)
  }
  for (const headers of [{ 'x-forwarded-for': '127.0.0.1' }, { forwarded: 'for=127.0.0.1' }, { forwarded: 'for="[::1]"' }]) {
    const local = await untrusted.inject({ method: 'GET', url: '/metrics', headers })
    t.equal(local.statusCode, 200, `a local client through a local proxy: ${JSON.stringify(headers)}`)
  }
  const remoteSpoofing = await untrusted.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.0.0.7', headers: { 'x-forwarded-for': '127.0.0.1' } })
  t.equal(remoteSpoofing.statusCode, 403, 'a remote client cannot claim to be loopback')

  // A reverse proxy on this machine, trusted: what it forwards from elsewhere is not local.
  const proxied = await server(t, { limits: { trustedProxies: ['127.0.0.1'] } })
  const fromFestival = await proxied.inject({ method: 'GET', url: '/metrics', headers: { 'x-forwarded-for': '10.0.0.7' } })
  t.equal(fromFestival.statusCode, 403)
  const fromHere = await proxied.inject({ method: 'GET', url: '/metrics', headers: { 'x-forwarded-for': '127.0.0.1' } })
  t.equal(fromHere.statusCode, 200, 'a local client through the local proxy')
  // A trusted proxy elsewhere naming 127.0.0.1 names its own machine, not ours.
  const remoteProxy = await server(t, { limits: { trustedProxies: ['10.0.0.2'] } })
  const viaRemote = await remoteProxy.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': '127.0.0.1' } })
  t.equal(viaRemote.statusCode, 403)
})

t.test('with a token, a scrape needs it (from any address) and anything else is 401', async (t) => {
  const app = await server(t, { token: TOKEN })
  const refused: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['a wrong token', { authorization: 'Bearer metrics-token-for-tests-0124' }],
    ['a prefix of it', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['it and more', { authorization: `Bearer ${TOKEN}x` }],
    ['another scheme', { authorization: `Basic ${TOKEN}` }],
    ['no scheme', { authorization: TOKEN }],
  ]
  for (const [what, headers] of refused) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers })
    t.equal(res.statusCode, 401, what)
    t.match(res.json(), { type: 'metrics_unauthorized' }, what)
    t.notOk(res.body.includes(TOKEN.slice(0, 12)), 'the token is never echoed')
  }
  for (const remoteAddress of ['127.0.0.1', '10.0.0.7']) {
    const res = await app.inject({ method: 'GET', url: '/metrics', remoteAddress, headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(res.statusCode, 200, remoteAddress)
    t.equal(sampleValue(parseExposition(res.body), 'wristpay_portal_logins_total'), 1)
  }
})

t.test('wrong tokens are throttled per address like the admin API', async (t) => {
  const app = await server(t, { token: TOKEN, limits: { authFailuresMax: 3 } })
  const wrong = { authorization: 'Bearer not-the-metrics-token-0' }
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.0.0.9', headers: wrong })).statusCode)
  t.same(statuses, [401, 401, 401, 429])
  const right = await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.0.0.10', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(right.statusCode, 200, 'another address is not affected')
})
