import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCli, UsageError } from './bin.js'

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
function runCli(args: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--loader', 'ts-node/esm', '--no-warnings', join(ROOT, 'gateway/bin.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true', WRISTPAY_GATEWAY_LOG_LEVEL: 'info' },
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
  let health: unknown
  let healthError: unknown
  const run = await runCli(['--data-dir', join(dir, 'data'), '--event', eventFile, '--mqtt-port', '0', '--http-port', '0'], (line, child) => {
    const match = /listening: mqtt:\/\/127\.0\.0\.1:(\d+) http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
    if (!match) return
    fetch(`http://127.0.0.1:${match[2]}/healthz`)
      .then((res) => res.json())
      .then(
        (body) => (health = body),
        (err: unknown) => (healthError = err),
      )
      .finally(() => child.kill('SIGTERM'))
  })
  t.equal(healthError, undefined)
  t.same(health, { status: 'ok', mqtt: 'up', db: 'up' })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /gateway stopped/)
  t.notMatch(run.stdout, /token-bar-1/, 'no kiosk token in the logs')
})

t.test('a missing event file exits 1 with a clear message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = await runCli(['--data-dir', join(dir, 'data'), '--event', join(dir, 'missing.json'), '--mqtt-port', '0', '--http-port', '0'])
  t.equal(run.code, 1)
  t.match(run.stderr, /missing\.json: cannot read event set-up/)
})
