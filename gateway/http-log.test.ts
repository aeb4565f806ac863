// Query values never reach the gateway's log (issue 9, point 9): a token in a
// query string was logged with the request URL.
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { createLogger } from './logger.js'
import { createHttpServer, redactQuery } from './http.js'

const ADMIN_TOKEN = 'admin-token-0123456789'

/** The gateway's HTTP server with its own logger (bin.ts) writing into memory; /admin/stats fails with a 500. */
function serverLoggingTo(t: Test): { lines: string[]; server: ReturnType<typeof createHttpServer> } {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } })
  const server = createHttpServer({
    logger,
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => true,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('stats down')
    },
  })
  t.teardown(() => server.close())
  return { lines, server }
}

t.test('redactQuery keeps the path and the names, never a value', async (t) => {
  t.equal(redactQuery('/admin/stats'), '/admin/stats')
  t.equal(redactQuery('/a?token=s3cret'), '/a?token=[redacted]')
  t.equal(redactQuery('/a?token=s3cret&cart=12&empty='), '/a?token=[redacted]&cart=[redacted]&empty=[redacted]')
  t.equal(redactQuery('/a?s3cret'), '/a?[redacted]', 'a bare value is a value')
  t.equal(redactQuery('/a?to%20ken=s3cret&&x'), '/a?[redacted]&&[redacted]', 'a name that does not look like one is dropped too')
  t.equal(redactQuery('/a?b=1=2'), '/a?b=[redacted]')
  t.equal(redactQuery('/a?'), '/a?')
})

t.test('request log lines carry the URL with the query values redacted', async (t) => {
  const { lines, server } = serverLoggingTo(t)
  const secrets = ['SECRET-healthz-1', 'SECRET-admin-2', 'SECRET-404-3', 'SECRET-json-4', 'SECRET-bare-5', 'SECRET-500-6']
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` }
  t.equal((await server.app.inject({ url: `/healthz?token=${secrets[0]}` })).statusCode, 200)
  t.equal((await server.app.inject({ url: `/admin/stats?token=${secrets[1]}` })).statusCode, 401)
  t.equal((await server.app.inject({ url: `/nowhere?access_token=${secrets[2]}` })).statusCode, 404)
  const badJson = await server.app.inject({ method: 'PUT', url: `/admin/kiosks/bar-1/public-key?pin=${secrets[3]}&${secrets[4]}`, headers: { ...auth, 'content-type': 'application/json' }, payload: '{"publicKey":' })
  t.equal(badJson.statusCode, 400)
  t.equal((await server.app.inject({ url: `/admin/stats?token=${secrets[5]}`, headers: auth })).statusCode, 500)

  const log = lines.join('')
  for (const secret of secrets) t.notMatch(log, secret, `${secret} is not in the log`)
  t.notMatch(log, ADMIN_TOKEN)
  const entries = lines.map((line) => JSON.parse(line))
  const urls = entries.flatMap((entry) => (entry.req?.url ? [entry.req.url as string] : []))
  t.ok(urls.includes('/healthz?token=[redacted]'), 'the request is logged, with its query names')
  t.ok(urls.includes('/admin/kiosks/bar-1/public-key?pin=[redacted]&[redacted]'))
  t.equal(urls.length, 5, 'one request line per request')
  t.notOk(entries.some((entry) => entry.msg === 'incoming request'), 'no line on arrival: the line on completion says it all')
})

// One line per request, written when it is answered, instead of fastify's two ("incoming request" and
// "request completed"): at portal polling rates the log was a good part of a request's CPU.
t.test('each request is logged once, on completion, with what operators look for', async (t) => {
  const { lines, server } = serverLoggingTo(t)
  const healthz = await server.app.inject({ url: '/healthz', remoteAddress: '192.0.2.7' })
  const failed = await server.app.inject({ url: '/admin/stats', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(healthz.statusCode, 200)
  t.equal(failed.statusCode, 500)

  const entries = lines.map((line) => JSON.parse(line))
  const requestLines = entries.filter((entry) => entry.req !== undefined)
  t.equal(requestLines.length, 2, 'one line per request')
  const [first, second] = requestLines
  t.match(first, { level: 30, component: 'http', msg: 'request completed', req: { method: 'GET', url: '/healthz', remoteAddress: '192.0.2.7' }, res: { statusCode: 200 } })
  t.type(first.responseTime, 'number', 'with the response time in ms')
  t.match(first.reqId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'with the request id')
  t.match(second, { msg: 'request completed', req: { method: 'GET', url: '/admin/stats' }, res: { statusCode: 500 } })
  t.equal(second.reqId, failed.json().id, 'the request id is the one the error answer names')
  const failure = entries.find((entry) => entry.msg === 'request failed')
  t.equal(failure?.reqId, second.reqId, 'the error handler still logs the failure, under the same request id')
  t.notMatch(lines.join(''), ADMIN_TOKEN)
})

t.test('any logger handed to the HTTP server gets the redacting serializer', async (t) => {
  const lines: string[] = []
  const server = createHttpServer({
    logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('not in this test')
    },
  })
  t.teardown(() => server.close())
  await server.app.inject({ url: '/healthz?token=SECRET-plain-pino' })
  t.notMatch(lines.join(''), 'SECRET-plain-pino')
  t.match(lines.join(''), '/healthz?token=[redacted]')
})
