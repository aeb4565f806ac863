// Slow clients are cut (issue 9, point 8): header lines or a body trickling in
// at a byte at a time are answered 408 and the connection is closed once the
// configured time is up. Over a real loopback socket; the sender is bounded
// (200 bytes at most), and the tests assert that the server closed the
// connection before the sender was done, not how fast.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createGateway } from './app.js'
import { ConfigError, resolveConfig } from './config.js'
import { createHttpServer } from './http.js'
import { loopbackGatewayConfig } from './testing/loopback-config.js'

const ADMIN_TOKEN = 'admin-token-0123456789'
const MAX_BYTES = 200
const BYTE_EVERY_MS = 50

interface Trickle {
  /** What the server answered before closing. */
  received: string
  /** Bytes of the trickle sent before the connection closed. */
  trickled: number
  /** The server closed the connection while the sender still had bytes to send. */
  closedBeforeDone: boolean
}

/** Sends `head` at once, then one byte of `trickleText` every BYTE_EVERY_MS, at most MAX_BYTES ('' sends nothing for as long). */
function trickle(port: number, head: string, trickleText: string): Promise<Trickle> {
  return new Promise((resolve) => {
    let received = ''
    let trickled = 0
    let done = false
    const socket = connect(port, '127.0.0.1', () => socket.write(head))
    const timer = setInterval(() => {
      if (trickled >= MAX_BYTES) {
        done = true
        clearInterval(timer)
        socket.destroy()
        return
      }
      if (trickleText !== '') socket.write(trickleText[trickled % trickleText.length]!)
      trickled++
    }, BYTE_EVERY_MS)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (received += chunk))
    // Writing into a connection the server has closed fails: that is the point.
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(timer)
      resolve({ received, trickled, closedBeforeDone: !done })
    })
  })
}

async function smallTimeoutServer(t: Test) {
  const enrolled: string[] = []
  const server = createHttpServer({
    logger: pino({ level: 'silent' }),
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => true,
    enrollKiosk: (id) => void enrolled.push(id),
    stats: () => {
      throw new Error('not in this test')
    },
    limits: { headersTimeoutMs: 300, requestTimeoutMs: 300 },
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(() => server.close())
  return { port, enrolled }
}

t.test('header lines sent a byte at a time are cut with 408', async (t) => {
  const { port } = await smallTimeoutServer(t)
  const result = await trickle(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'abcdefgh')
  t.ok(result.closedBeforeDone, `closed after ${result.trickled} of ${MAX_BYTES} bytes`)
  t.match(result.received, /^HTTP\/1\.1 408 /)
})

t.test('a connection that sends nothing, or a request line that never ends, is cut', async (t) => {
  const { port } = await smallTimeoutServer(t)
  const silent = await trickle(port, '', '')
  t.ok(silent.closedBeforeDone, `closed after ${silent.trickled} of ${MAX_BYTES} ticks`)
  const endless = await trickle(port, 'GET /', 'x')
  t.ok(endless.closedBeforeDone, `closed after ${endless.trickled} of ${MAX_BYTES} bytes`)
})

t.test('a body sent a byte at a time is cut with 408; nothing is enrolled', async (t) => {
  const { port, enrolled } = await smallTimeoutServer(t)
  const head =
    'PUT /admin/kiosks/bar-1/public-key HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    `Authorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`
  const result = await trickle(port, head, '{"publicKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}')
  t.ok(result.closedBeforeDone, `closed after ${result.trickled} of ${MAX_BYTES} bytes`)
  t.match(result.received, /^HTTP\/1\.1 408 /)
  t.same(enrolled, [])
})

t.test('the gateway takes its timeouts from config.http', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-timeouts-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = loopbackGatewayConfig(dir, { event: { name: 'Slow Fest', currency: 'EUR' }, booths: [], products: [], kiosks: [], wristbands: [] }, {
    http: { headersTimeoutMs: 300, requestTimeoutMs: 300 },
  })
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const result = await trickle(gateway.httpAddress!.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'abcdefgh')
  t.ok(result.closedBeforeDone, `closed after ${result.trickled} of ${MAX_BYTES} bytes`)
  t.match(result.received, /^HTTP\/1\.1 408 /)
})

t.test('timeouts are settings with checked values', async (t) => {
  const base = { dataDir: 'd', eventFile: 'e.json' }
  const config = resolveConfig(base)
  t.equal(config.http.headersTimeoutMs, undefined, 'absent means the default of http.ts')
  t.equal(resolveConfig({ ...base, http: { requestTimeoutMs: 5000, headersTimeoutMs: 2000 } }).http.requestTimeoutMs, 5000)
  t.throws(() => resolveConfig({ ...base, http: { headersTimeoutMs: 60_000 } }), /headersTimeoutMs \(60000\) must not exceed http.requestTimeoutMs \(30000\)/)
  t.throws(() => resolveConfig({ ...base, http: { requestTimeoutMs: 0 } }), ConfigError)
  t.throws(() => resolveConfig({ ...base, http: { authFailuresMax: 0 } }), ConfigError)
})
