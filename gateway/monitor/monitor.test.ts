// wristpay-monitor against a real gateway in this process (its embedded broker on
// 127.0.0.1, port 0), run through its main function with captured output.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { makeTestCertificates } from '../../device-protocol/testing/test-certificates.js'
import { createGateway, OPERATOR_USERNAME_PREFIX as GATEWAY_OPERATOR_PREFIX, type Gateway } from '../app.js'
import { resolveConfig, type GatewayConfig } from '../config.js'
import { EXIT_OK, EXIT_REFUSED, EXIT_USAGE_OR_NOTHING, main } from './bin.js'
import type { MonitorSnapshot } from './render.js'
import { OPERATOR_USERNAME_PREFIX } from './source.js'
import { waitFor as waitForPolls } from '../testing/wait.js'

const waitFor = (condition: () => boolean | Promise<boolean>, what: string) => waitForPolls(condition, what, { polls: 1000 })

const OPERATOR_TOKEN = 'operator-token-for-monitor-0123'
const EVENT = {
  event: { name: 'Monitor Fest', currency: 'EUR' },
  booths: [
    { id: 'bar', name: 'Bar' },
    { id: 'cashier', name: 'Cashier' },
  ],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [
    { id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false },
    { id: 'cash-1', booth: 'cashier', token: 'token-cash-1-0123456789', saleAllowed: false, topupAllowed: true },
  ],
  wristbands: [],
}

function gatewayConfig(dir: string, mqttPort = 0, tls?: { certFile: string; keyFile: string }): GatewayConfig {
  const eventFile = join(dir, 'event.json')
  writeFileSync(eventFile, JSON.stringify(EVENT))
  return resolveConfig({
    mqtt: { host: '127.0.0.1', port: mqttPort, ...(tls === undefined ? {} : { tls }) },
    http: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    eventFile,
    operators: [{ name: 'ops', token: OPERATOR_TOKEN }],
    logLevel: 'silent',
  })
}

async function startGateway(t: Test, dir: string, mqttPort = 0, tls?: { certFile: string; keyFile: string }): Promise<{ gateway: Gateway; url: string; port: number }> {
  const gateway = await createGateway({ config: gatewayConfig(dir, mqttPort, tls), logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const port = gateway.mqttAddress!.port
  return { gateway, url: `mqtt://127.0.0.1:${port}`, port }
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-monitor-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The monitor's stdout and stderr, kept. */
function captured(columns = 140, rows = 60) {
  const out: string[] = []
  const err: string[] = []
  return {
    io: { stdout: { write: (text: string) => out.push(text), columns, rows }, stderr: { write: (text: string) => err.push(text) } },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    /** The live screen as it is now: log-update's last frame without its escape codes. */
    lastFrame: () => (out.at(-1) ?? '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''),
  }
}

t.test("the monitor logs in as the gateway's operators do", async (t) => {
  t.equal(OPERATOR_USERNAME_PREFIX, GATEWAY_OPERATOR_PREFIX)
})

t.test('against one gateway', async (t) => {
  const { url } = await startGateway(t, tempDir(t))
  const env = { WRISTPAY_MONITOR_TOKEN: OPERATOR_TOKEN }

  t.test('--once --json prints one snapshot of the gateway as published, and the connection', async (t) => {
    const c = captured()
    const code = await main(['--url', url, '--operator', 'ops', '--once', '--json'], { env, ...c.io })
    t.equal(code, EXIT_OK, c.stderr())
    const lines = c.stdout().trimEnd().split('\n')
    t.equal(lines.length, 1, 'one line of JSON')
    const snapshot = JSON.parse(lines[0]!) as MonitorSnapshot
    t.match(snapshot, { gateway: { status: 'online' }, monitor: { url, operator: 'ops', connected: true, connections: 1, unreachable: null, invalidPayloads: { count: 0 } } })
    t.same(
      snapshot.fleet.map((r) => [r.kiosk, r.status]),
      [
        ['bar-1', 'never_seen'],
        ['cash-1', 'never_seen'],
      ],
      "the kiosks of the event set-up, as the gateway published them",
    )
    t.match(snapshot.totals, { kiosksOnline: 0, kiosksTotal: 2 })
    t.notMatch(c.stdout() + c.stderr(), OPERATOR_TOKEN, 'the token is not printed')
  })

  t.test('--once prints the screen as text', async (t) => {
    const c = captured()
    t.equal(await main(['--url', url, '--operator', 'ops', '--once'], { env, ...c.io }), EXIT_OK, c.stderr())
    t.match(c.stdout(), new RegExp(`^wristpay-monitor  ${url.replace(/[.]/g, '\\.')} as ops `))
    t.match(c.stdout(), /^gateway online/m)
  })

  t.test('a wrong token ends the monitor with a clear message and exit code 3, without repeating the token', async (t) => {
    const c = captured()
    const code = await main(['--url', url, '--operator', 'ops', '--once', '--json'], { env: { WRISTPAY_MONITOR_TOKEN: 'not-the-token-000' }, ...c.io })
    t.equal(code, EXIT_REFUSED)
    t.match(c.stderr(), /^wristpay-monitor: the broker refused the login: wrong operator name or token \(mqtt:\/\/127\.0\.0\.1:\d+ as operator ops\)\n$/)
    t.notMatch(c.stderr(), /not-the-token/)
    t.equal(c.stdout(), '', 'no snapshot')
    const live = captured()
    t.equal(await main(['--url', url, '--operator', 'nobody'], { env, ...live.io }), EXIT_REFUSED, 'the live monitor stops too, instead of retrying into the login throttle')
    t.match(live.stderr(), /refused the login/)
  })
})

t.test('--once with no gateway to reach exits 2 after --wait-ms, saying so', async (t) => {
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as { port: number }).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const c = captured()
  const code = await main(['--url', `mqtt://127.0.0.1:${port}`, '--operator', 'ops', '--once', '--json', '--wait-ms', '300'], { env: { WRISTPAY_MONITOR_TOKEN: OPERATOR_TOKEN }, ...c.io })
  t.equal(code, EXIT_USAGE_OR_NOTHING)
  t.match(c.stderr(), new RegExp(`^wristpay-monitor: no gateway state from mqtt://127\\.0\\.0\\.1:${port} within 300 ms \\(could not connect`))
  t.equal(c.stdout(), '')
})

t.test('over TLS the monitor verifies the gateway against the CA it is given, and never connects otherwise', async (t) => {
  const dir = tempDir(t)
  const certs = await makeTestCertificates(dir, 'gateway')
  const { port } = await startGateway(t, dir, 0, { certFile: certs.certFile, keyFile: certs.keyFile })
  const env = { WRISTPAY_MONITOR_TOKEN: OPERATOR_TOKEN }
  const trusted = captured()
  t.equal(await main(['--url', `mqtts://localhost:${port}`, '--ca-file', certs.caFile, '--operator', 'ops', '--once', '--json'], { env, ...trusted.io }), EXIT_OK, trusted.stderr())
  t.match(JSON.parse(trusted.stdout()), { gateway: { status: 'online' }, monitor: { url: `mqtts://localhost:${port}` } })
  const untrusted = captured()
  t.equal(await main(['--url', `mqtts://localhost:${port}`, '--operator', 'ops', '--once', '--json', '--wait-ms', '1500'], { env, ...untrusted.io }), EXIT_USAGE_OR_NOTHING)
  t.match(untrusted.stderr(), /could not connect: .*certificate/, "a certificate the system's CAs do not vouch for is refused, saying so")
  t.equal(untrusted.stdout(), '')
})

t.test('a usage error exits 2 with the usage', async (t) => {
  const c = captured()
  t.equal(await main(['--once'], { env: {}, ...c.io }), EXIT_USAGE_OR_NOTHING)
  t.match(c.stderr(), /^wristpay-monitor: --operator NAME is required.*\n\nUsage: wristpay-monitor --operator NAME/s)
})

t.test('the live monitor shows a gateway restart on the same port as a gap, then the fresh state', async (t) => {
  const dir = tempDir(t)
  const first = await startGateway(t, dir)
  const c = captured()
  const stop = new AbortController()
  const running = main(['--url', first.url, '--operator', 'ops'], { env: { WRISTPAY_MONITOR_TOKEN: OPERATOR_TOKEN }, ...c.io, signal: stop.signal, reconnectPeriodMs: 50 })
  t.teardown(() => stop.abort())
  await waitFor(() => /^gateway online/m.test(c.lastFrame()), 'the gateway online on screen')
  t.notMatch(c.lastFrame(), /UNREACHABLE|last gap/)
  const bdSeqOf = (frame: string) => Number(/^gateway online \(.*bdSeq (\d+)/m.exec(frame)?.[1])
  const firstBdSeq = bdSeqOf(c.lastFrame())
  t.ok(Number.isInteger(firstBdSeq), 'the gateway birth sequence is on screen')
  t.match(c.lastFrame(), /^bar-1 /m, 'and the fleet')

  await first.gateway.stop()
  await waitFor(() => /^GATEWAY UNREACHABLE since \d\d:\d\d:\d\d/m.test(c.lastFrame()), 'the gap on screen')

  await startGateway(t, dir, first.port)
  await waitFor(() => /^last gap: \d\d:\d\d:\d\d to \d\d:\d\d:\d\d/m.test(c.lastFrame()) && /^gateway online/m.test(c.lastFrame()), 'the gap closed by a fresh state')
  t.notMatch(c.lastFrame(), /UNREACHABLE/)
  t.match(c.lastFrame(), /gaps since the monitor started: 1$/m)
  t.equal(bdSeqOf(c.lastFrame()), firstBdSeq + 1, "the restarted gateway's state: its next birth")

  stop.abort()
  t.equal(await running, EXIT_OK, 'Ctrl-C ends the live monitor with 0')
})
