import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import { pino } from 'pino'
import { publicKeyFromBase64Url, publicKeyToBase64Url } from '../device-protocol/index.js'
import { createHttpServer, type HttpDeps, type StatsReply } from './http.js'

const ADMIN_TOKEN = 'admin-token-0123456789'

const STATS: StatsReply = {
  ledger: { accepted: 3, rejected: 1, rejectedByReason: { insufficient_balance: 1 }, revenueByBooth: { bar: 1200 }, cashByKiosk: {}, cashByRegister: { desk: 5000 }, depositsByBooth: {}, openDebts: { count: 0, cents: 0 }, customerBalances: 800 },
  ingest: { received: 4 },
  broker: { deniedPublishes: 0 },
  gateway: { publishErrors: 0 },
}

interface Fake {
  base: string
  enrolled: Map<string, string>
  health: { mqtt: boolean; db: boolean }
}

async function start(t: Test, overrides: Partial<HttpDeps> = {}): Promise<Fake> {
  const enrolled = new Map<string, string>()
  const health = { mqtt: true, db: true }
  const server = createHttpServer({
    logger: pino({ level: 'silent' }),
    adminToken: ADMIN_TOKEN,
    health: () => health,
    kioskExists: (id) => id === 'bar-1',
    enrollKiosk: (id, key) => {
      publicKeyFromBase64Url(key)
      // Stands in for the ledger refusing a key that passes the schema pattern.
      if (key.startsWith('AAAA')) throw new Error(`kiosk '${id}': public key is not Ed25519`)
      enrolled.set(id, key)
    },
    stats: () => STATS,
    ...overrides,
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(() => server.close())
  return { base: `http://127.0.0.1:${port}`, enrolled, health }
}

function newPublicKey(): string {
  return publicKeyToBase64Url(generateKeyPairSync('ed25519').publicKey)
}

async function put(url: string, body: unknown, token: string | null = ADMIN_TOKEN): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== null) headers.authorization = `Bearer ${token}`
  const res = await fetch(url, { method: 'PUT', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

async function get(url: string, token: string | null = ADMIN_TOKEN): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() }
}

t.test('/healthz reports mqtt and db, 503 when one is down', async (t) => {
  const f = await start(t)
  t.same(await get(`${f.base}/healthz`, null), { status: 200, body: { status: 'ok', mqtt: 'up', db: 'up' } })
  f.health.mqtt = false
  t.same(await get(`${f.base}/healthz`, null), { status: 503, body: { status: 'degraded', mqtt: 'down', db: 'up' } })
})

t.test('admin routes need the bearer token', async (t) => {
  const f = await start(t)
  const key = newPublicKey()
  for (const token of [null, 'wrong-token-0123456789', '', `${ADMIN_TOKEN}x`]) {
    const res = await put(`${f.base}/admin/kiosks/bar-1/public-key`, { publicKey: key }, token)
    t.equal(res.status, 401, `token ${JSON.stringify(token)}`)
    t.equal(res.body.type, 'unauthorized')
    t.type(res.body.id, 'string')
    t.notMatch(JSON.stringify(res.body), ADMIN_TOKEN, 'the token is never echoed')
  }
  t.equal((await get(`${f.base}/admin/stats`, null)).status, 401)
  const basic = await fetch(`${f.base}/admin/stats`, { headers: { authorization: `Basic ${Buffer.from(`a:${ADMIN_TOKEN}`).toString('base64')}` } })
  t.equal(basic.status, 401)
  t.equal(f.enrolled.size, 0, 'nothing was enrolled')
})

t.test('without an admin token the admin API is disabled', async (t) => {
  const f = await start(t, { adminToken: undefined })
  const res = await get(`${f.base}/admin/stats`)
  t.equal(res.status, 503)
  t.equal(res.body.type, 'admin_disabled')
})

t.test('enrolling a kiosk key', async (t) => {
  const f = await start(t)
  const key = newPublicKey()
  const ok = await put(`${f.base}/admin/kiosks/bar-1/public-key`, { publicKey: key })
  t.same(ok, { status: 200, body: { kiosk: 'bar-1', enrolled: true } })
  t.equal(f.enrolled.get('bar-1'), key)

  const unknown = await put(`${f.base}/admin/kiosks/bar-9/public-key`, { publicKey: key })
  t.equal(unknown.status, 404)
  t.equal(unknown.body.type, 'unknown_kiosk')

  const badId = await put(`${f.base}/admin/kiosks/BAR..1/public-key`, { publicKey: key })
  t.equal(badId.status, 400)
  t.equal(badId.body.type, 'invalid_request')
})

t.test('malformed enrollment bodies change nothing', async (t) => {
  const f = await start(t)
  const url = `${f.base}/admin/kiosks/bar-1/public-key`
  const cases: Array<[string, unknown, number]> = [
    ['missing key', {}, 400],
    ['key too short', { publicKey: 'abc' }, 400],
    ['key with bad characters', { publicKey: '+'.repeat(43) }, 400],
    ['extra property', { publicKey: newPublicKey(), admin: true }, 400],
    ['key as number', { publicKey: 42 }, 400],
    ['not JSON', '{"publicKey":', 400],
    ['array', [], 400],
  ]
  for (const [name, body, status] of cases) {
    const res = await put(url, body)
    t.equal(res.status, status, name)
    t.type(res.body.type, 'string', name)
    t.type(res.body.message, 'string', name)
  }
  const notAKey = await put(url, { publicKey: 'A'.repeat(43) })
  t.equal(notAKey.status, 400)
  t.equal(notAKey.body.type, 'invalid_public_key')

  const tooBig = await put(url, { publicKey: 'x'.repeat(100_000) })
  t.equal(tooBig.status, 413)
  const wrongType = await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/xml' }, body: '<a/>' })
  t.equal(wrongType.status, 415)
  const text = await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' }, body: 'hello' })
  t.equal(text.status, 400)
  t.equal(f.enrolled.size, 0)
})

t.test('stats', async (t) => {
  const f = await start(t)
  t.same(await get(`${f.base}/admin/stats`), { status: 200, body: STATS })
})

t.test('a failing dependency is a 500 without details', async (t) => {
  const f = await start(t, {
    stats: () => {
      throw new Error('disk on fire /secret/path')
    },
  })
  const res = await get(`${f.base}/admin/stats`)
  t.equal(res.status, 500)
  t.same(Object.keys(res.body).sort(), ['id', 'message', 'type'])
  t.equal(res.body.type, 'internal')
  t.notMatch(res.body.message, /secret/)
})

t.test('unknown routes answer a 404 error body', async (t) => {
  const f = await start(t)
  const res = await get(`${f.base}/nope`, null)
  t.equal(res.status, 404)
  t.equal(res.body.type, 'not_found')
})

t.test('plugins mount under their prefix (the portal-api hook)', async (t) => {
  const portal: FastifyPluginAsync<{ greeting?: string }> = async (app, opts) => {
    app.get('/hello', async () => ({ hello: opts.greeting }))
  }
  const f = await start(t, { plugins: [{ plugin: portal, prefix: '/portal', options: { greeting: 'guest' } }] })
  t.same(await get(`${f.base}/portal/hello`, null), { status: 200, body: { hello: 'guest' } })
})

t.test("errors of node's HTTP parser (headers too large, bytes that are not HTTP) answer the catalogue's {type, id, message}, found by fuzzing", async (t) => {
  const fake = await start(t)
  const long = await fetch(`${fake.base}/healthz?q=${'x'.repeat(20_000)}`)
  t.equal(long.status, 431)
  const body = (await long.json()) as { type: unknown; id: unknown; message: unknown }
  t.equal(body.type, 'headers_too_large')
  t.type(body.id, 'string')
  t.type(body.message, 'string')

  const { createConnection } = await import('node:net')
  const port = Number(new URL(fake.base).port)
  const received = await new Promise<string>((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('NOT HTTP AT ALL\r\n\r\n'))
    let text = ''
    socket.on('data', (chunk) => (text += chunk.toString('utf8')))
    socket.on('close', () => resolve(text))
    socket.on('error', reject)
  })
  t.match(received, /^HTTP\/1\.1 400 /)
  const answer = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as { type: unknown; id: unknown }
  t.equal(answer.type, 'malformed_http')
  t.type(answer.id, 'string')
})

t.test("a URL the router cannot take (a path parameter above its length limit, a bad percent-encoding) answers the catalogue's shape without quoting the URL, found by fuzzing", async (t) => {
  const fake = await start(t)
  const long = await put(`${fake.base}/admin/kiosks/${'k'.repeat(150)}/public-key`, { publicKey: newPublicKey() })
  t.equal(long.status, 414)
  t.equal(long.body.type, 'max_param_length')
  t.type(long.body.id, 'string')
  t.notMatch(long.body.message, /kkkk/, 'the URL is not quoted')
  const bad = await put(`${fake.base}/admin/kiosks/%zz/public-key`, { publicKey: newPublicKey() })
  t.equal(bad.status, 400)
  t.equal(bad.body.type, 'bad_url')
  t.type(bad.body.id, 'string')
  t.equal(fake.enrolled.size, 0, 'nothing enrolled')
})
