import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { configForCommand, demoEventFile, parseCli, UsageError, USAGE } from './bin.js'
import { createGateway } from './app.js'
import { ConfigError, DEFAULT_CONFIG, ENV_VARS } from './config.js'
import { startNotifyReceiver } from '../device-protocol/testing/notify-receiver.js'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))

t.test('parseCli maps flags onto config overrides', async (t) => {
  t.same(parseCli([]), { kind: 'run', configFile: undefined, overrides: {} })
  t.same(parseCli(['--help']), { kind: 'help' })
  t.same(parseCli(['-h', '--mqtt-port', '1']), { kind: 'help' })
  t.same(parseCli(['--config', 'g.json', '--data-dir', 'd', '--event', 'e.json', '--mqtt-port', '0', '--http-port', '8081']), {
    kind: 'run',
    configFile: 'g.json',
    overrides: { dataDir: 'd', eventFile: 'e.json', mqtt: { port: 0 }, http: { port: 8081 } },
  })
})

t.test('parseCli: --demo asks for the demo set-up, --print-config and --print-config-reference print and exit', async (t) => {
  t.same(parseCli(['--demo', '--mqtt-port', '0']), { kind: 'run', configFile: undefined, overrides: { mqtt: { port: 0 } }, demo: true })
  t.same(parseCli(['--print-config', '--config', 'g.json']), { kind: 'print-config', configFile: 'g.json', overrides: {} })
  t.same(parseCli(['--print-config-reference']), { kind: 'print-config-reference' })
  t.throws(() => parseCli(['--demo', '--event', 'e.json']), /--demo and --event exclude each other/)
})

t.test('without an event set-up the gateway refuses to start, naming the three ways to give one', async (t) => {
  const run = parseCli([])
  if (run.kind !== 'run') throw new Error('expected a run command')
  t.throws(() => configForCommand(run, {}), ConfigError)
  t.throws(() => configForCommand(run, {}), /no event set-up: .*--event FILE.*WRISTPAY_GATEWAY_EVENT_FILE.*"eventFile" in the config file/)
  t.equal(configForCommand(run, { WRISTPAY_GATEWAY_EVENT_FILE: '/etc/wristpay/event.json' }).eventFile, '/etc/wristpay/event.json')
  const print = parseCli(['--print-config'])
  if (print.kind !== 'print-config') throw new Error('expected print-config')
  t.equal(configForCommand(print, {}).eventFile, undefined, '--print-config shows the config even without one')
})

t.test('--demo imports the demo festival and the gateway starts with it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const demo = parseCli(['--demo', '--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--http-port', '0'])
  if (demo.kind !== 'run') throw new Error('expected a run command')
  const config = configForCommand(demo, { WRISTPAY_GATEWAY_LOG_LEVEL: 'silent' })
  t.equal(config.eventFile, demoEventFile())
  t.match(config.eventFile, /gateway\/fixtures\/demo-event\.json$/)
  const gateway = await createGateway({ config: { ...config, mqtt: { ...config.mqtt, host: '127.0.0.1' }, http: { ...config.http, host: '127.0.0.1' } }, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  t.ok(gateway.ledger.registry.kioskIds().length > 0, 'the demo kiosks are there')
  t.equal(gateway.ledger.registry.event()?.name !== undefined, true)
})

t.test('parseCli refuses bad arguments with a usage error', async (t) => {
  t.throws(() => parseCli(['--mqtt-port', 'abc']), UsageError)
  t.throws(() => parseCli(['--http-port', '65536']), /--http-port must be a port number/)
  t.throws(() => parseCli(['--http-port', '-1']), UsageError)
  t.throws(() => parseCli(['--nope']), UsageError)
  t.throws(() => parseCli(['stray']), UsageError)
  t.throws(() => parseCli(['--event']), UsageError)
})

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the real CLI as the docs say (node --loader ts-node/esm gateway/bin.ts); `onLine` may stop it. */
function runCli(args: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--loader', 'ts-node/esm', '--no-warnings', join(ROOT, 'gateway/bin.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true', WRISTPAY_GATEWAY_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    // Bound the run: a hung child fails the test instead of hanging it.
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    let stdout = ''
    let stderr = ''
    let pending = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
      pending += chunk.toString('utf8')
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        onLine?.(line, child)
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(killer)
      resolve({ code, stdout, stderr })
    })
  })
}

t.test('--help prints the usage', async (t) => {
  const run = await runCli(['--help'])
  t.equal(run.code, 0)
  t.match(run.stdout, /Usage: wristpay-gateway/)
  t.match(run.stdout, /--mqtt-port/)
})

t.test('a bad flag exits 2 with the usage on stderr', async (t) => {
  const run = await runCli(['--mqtt-port', 'x'])
  t.equal(run.code, 2)
  t.match(run.stderr, /--mqtt-port must be a port number/)
})

t.test('the daemon starts, prints its addresses, serves, and stops cleanly on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const eventFile = join(dir, 'event.json')
  writeFileSync(
    eventFile,
    JSON.stringify({
      event: { name: 'Bin Fest', currency: 'EUR' },
      booths: [{ id: 'bar', name: 'Bar' }],
      products: [],
      kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
      wristbands: [],
    }),
  )
  // systemd's side of Type=notify: the gateway says READY=1, pings the watchdog, and says STOPPING=1 on SIGTERM.
  const systemd = await startNotifyReceiver()
  t.teardown(() => systemd.close())
  let health: unknown
  let healthError: unknown
  const run = await runCli(
    ['--data-dir', join(dir, 'data'), '--event', eventFile, '--mqtt-port', '0', '--http-port', '0'],
    (line, child) => {
      const match = /listening: mqtt:\/\/127\.0\.0\.1:(\d+) http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
      if (!match) return
      fetch(`http://127.0.0.1:${match[2]}/healthz`)
        .then((res) => res.json())
        .then(
          (body) => (health = body),
          (err: unknown) => (healthError = err),
        )
        .then(() => systemd.waitFor('WATCHDOG=1'))
        .catch((err: unknown) => (healthError ??= err))
        .finally(() => child.kill('SIGTERM'))
    },
    { NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC: '200000' },
  )
  t.equal(healthError, undefined)
  t.same(health, { status: 'ok', mqtt: 'up', db: 'up' })
  t.equal(run.code, 0, run.stderr)
  await systemd.waitFor('STOPPING=1')
  t.match(systemd.received(), /^READY=1(WATCHDOG=1)+STOPPING=1/, 'ready once listening, pings while healthy, stopping on SIGTERM')
  t.match(run.stdout, /gateway stopped/)
  t.notMatch(run.stdout, /token-bar-1/, 'no kiosk token in the logs')
})

t.test('started with no event file, the daemon exits 2 and says how to give one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = await runCli(['--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--http-port', '0'])
  t.equal(run.code, 2)
  t.match(run.stderr, /no event set-up: name the event file with --event FILE, WRISTPAY_GATEWAY_EVENT_FILE or "eventFile" in the config file/)
  t.notMatch(run.stdout, /listening/, 'nothing was started')
})

t.test('--print-config prints the effective config with every secret masked', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({ eventFile: 'event.json', mqtt: { host: '0.0.0.0' }, operators: [{ name: 'ops', token: 'operator-token-in-file-0123' }] }))
  const run = await runCli(['--config', file, '--print-config'], undefined, {
    WRISTPAY_GATEWAY_ADMIN_TOKEN: 'admin-token-from-env-0123456',
    WRISTPAY_GATEWAY_STRIPE_SECRET_KEY: 'sk_live_secret_0123',
    WRISTPAY_GATEWAY_STRIPE_PUBLISHABLE_KEY: 'pk_live_public_0123',
    WRISTPAY_GATEWAY_STRIPE_WEBHOOK_SECRET: 'whsec_secret_0123',
  })
  t.equal(run.code, 0, run.stderr)
  const printed = JSON.parse(run.stdout)
  t.equal(printed.eventFile, join(dir, 'event.json'), 'paths as the gateway resolves them')
  t.equal(printed.mqtt.host, '0.0.0.0')
  t.equal(printed.adminToken, '[secret]')
  t.same(printed.operators, [{ name: 'ops', token: '[secret]' }])
  t.match(printed.payments.stripe, { secretKey: '[secret]', webhookSecret: '[secret]', publishableKey: 'pk_live_public_0123' })
  t.notMatch(run.stdout, /admin-token-from-env|operator-token-in-file|sk_live_secret|whsec_secret/, 'no secret in the output')
})

t.test('a missing event file exits 1 with a clear message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = await runCli(['--data-dir', join(dir, 'data'), '--event', join(dir, 'missing.json'), '--mqtt-port', '0', '--http-port', '0'])
  t.equal(run.code, 1)
  t.match(run.stderr, /missing\.json: cannot read event set-up/)
})

t.test('--help names every environment variable the gateway reads, and no example contact address is a default', async (t) => {
  const missing = Object.values(ENV_VARS).filter((name) => !USAGE.includes(name))
  t.same(missing, [], 'every variable of ENV_VARS is in the help')
  t.match(USAGE, /WRISTPAY_GATEWAY_PIN_SECRET_FILE/)
  t.match(USAGE, /WRISTPAY_GATEWAY_PUBLIC_BASE_URL/)
  t.match(USAGE, /WRISTPAY_GATEWAY_STRIPE_SECRET_KEY/)
  t.equal(DEFAULT_CONFIG.portal.contactEmail, '', 'no contact link until the organiser names one')
})
