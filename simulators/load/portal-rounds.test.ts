// The growth bench's portal measurement: its pieces, never a rate. autocannon
// in its own process against a real server, the CPU time read from /proc, the
// rounds' summary, and the bare route served by the gateway's own HTTP server.
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import { createLogger } from '../../gateway/logger.js'
import { BARE_ROUTE_PATH, BARE_ROUTE_PREFIX, createBareRouteServer } from './bare-route-server.js'
import { measureRounds, median, processCpuMicros, runAutocannon, summariseRatio, type Round } from './portal-rounds.js'

t.test('median: the middle value, the mean of the middle two, 0 for none', async (t) => {
  t.equal(median([5, 1, 3]), 3)
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.equal(median([]), 0)
})

const run = (requestsPerSec: number, cpuMicrosPerRequest: number) => ({ requestsPerSec, requests: requestsPerSec, latencyP99Ms: 1, failed: 0, cpuMicrosPerRequest })

t.test('summariseRatio: each round\'s ratio in order, their median, the medians of rates and CPU', async (t) => {
  const rounds: Round[] = [
    { portal: run(4_000, 100), bare: run(10_000, 40) },
    { portal: run(6_000, 90), bare: run(10_000, 45) },
    { portal: run(3_000, 120), bare: run(5_000, 50) },
  ]
  t.same(summariseRatio(rounds, 'portal', 'bare'), {
    requestsPerSec: 4_000,
    baseRequestsPerSec: 10_000,
    cpuMicrosPerRequest: 100,
    baseCpuMicrosPerRequest: 45,
    roundRatios: [0.4, 0.6, 0.6],
    // The median of the rounds' ratios, not the ratio of the medians (0.4).
    ratio: 0.6,
    cpuRatio: 0.45,
  })
  t.throws(() => summariseRatio([{ portal: run(1, 1) }], 'portal', 'bare'), /without a run of bare/)
})

t.test('processCpuMicros reads this process\'s CPU time as process.cpuUsage counts it', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const before = process.cpuUsage()
  // Some CPU work, so that a few clock ticks pass.
  for (let spent = 0; spent < 50_000; ) {
    for (let i = 0; i < 1e5; i++) Math.sqrt(i)
    const used = process.cpuUsage(before)
    spent = used.user + used.system
  }
  const a = process.cpuUsage()
  const fromProc = processCpuMicros(process.pid)
  const b = process.cpuUsage()
  // /proc counts each thread in clock ticks (10 ms at 100 Hz): allow a few of them either side.
  const slackMicros = 50_000
  t.ok(fromProc >= a.user + a.system - slackMicros && fromProc <= b.user + b.system + slackMicros, `/proc ${fromProc} µs, cpuUsage ${a.user + a.system}-${b.user + b.system} µs`)
})

t.test('runAutocannon runs autocannon in its own process with the headers given, and counts refusals as failed', async (t) => {
  const app = Fastify({ logger: false })
  let withHeader = 0
  app.get('/x', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer abc.def') return reply.code(401).send({ no: true })
    withHeader += 1
    return { ok: true }
  })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())

  const ok = await runAutocannon({ url: `${address}/x`, connections: 2, seconds: 0.5, headers: { authorization: 'Bearer abc.def' } })
  t.ok(ok.requests > 0, 'requests were made')
  t.equal(ok.failed, 0, 'every one answered 2xx')
  // autocannon counts the answers within its duration; the last few in flight are answered after.
  t.ok(withHeader >= ok.requests, 'every request carried the header')
  t.type(ok.requestsPerSec, 'number')

  const refused = await runAutocannon({ url: `${address}/x`, connections: 1, seconds: 0.5 })
  t.ok(refused.requests > 0 && refused.failed === refused.requests, 'without the header every answer is a failure')
})

t.test('measureRounds alternates which target runs first and gives each round both runs', async (t) => {
  const app = Fastify({ logger: false })
  const asked = { a: 0, b: 0 }
  app.get('/:name', async (request) => {
    asked[(request.params as { name: 'a' | 'b' }).name] += 1
    return {}
  })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const seen: number[] = []
  const { rounds, failed } = await measureRounds(
    [
      { name: 'a', url: `${address}/a`, pid: process.pid },
      { name: 'b', url: `${address}/b`, pid: process.pid },
    ],
    { connections: 1, warmupSeconds: 0.2, rounds: 3, roundSeconds: 0.3, onRound: (_round, i) => seen.push(i) },
  )
  // A round's runs are recorded in the order they ran.
  t.same(rounds.map((r) => Object.keys(r)), [['a', 'b'], ['b', 'a'], ['a', 'b']], 'a first, then b first, then a first')
  t.same(seen, [0, 1, 2])
  for (const round of rounds) t.ok(round.a!.requests > 0 && round.b!.requests > 0, 'each round ran both')
  // The warm-up's requests are answered but not in any round.
  const counted = (name: 'a' | 'b') => rounds.reduce((n, r) => n + r[name]!.requests, 0)
  t.ok(asked.a > counted('a') && asked.b > counted('b'), 'both were warmed up before the rounds')
  t.equal(failed, 0)
})

t.test('the bare route is served by the gateway\'s HTTP server, with its one log line per request', async (t) => {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''))
      done()
    },
  })
  const body = { id: 7, uid: 'ABC', balance: 12.5 }
  const server = createBareRouteServer(createLogger({ level: 'info', destination }), body)
  t.teardown(() => server.close())
  const answer = await server.app.inject({ method: 'GET', url: `${BARE_ROUTE_PREFIX}${BARE_ROUTE_PATH}` })
  t.equal(answer.statusCode, 200)
  t.same(answer.json(), body)
  // The gateway's request ids and its one line per request at info.
  const logged = lines.map((l) => JSON.parse(l) as { msg: string; reqId?: string; service?: string })
  const completed = logged.filter((l) => l.msg === 'request completed')
  t.equal(completed.length, 1, 'one line for the request')
  t.match(completed[0], { service: 'wristpay-gateway', reqId: /^[0-9a-f-]{36}$/ })
  // The gateway's not-found answer, from the same server.
  const missing = await server.app.inject({ method: 'GET', url: '/nothing' })
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { type: 'not_found' })
})
