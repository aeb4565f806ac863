import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCli } from './cli.js'
import { KEY_FILE_NAME } from './keys.js'
import { startTestBroker } from './testing/broker.js'
import { waitUntil } from './testing/wait.js'

const bin = fileURLToPath(new URL('./bin.ts', import.meta.url))
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [...process.execArgv, bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } })

t.test('parseCli maps flags to config overrides', async (t) => {
  t.same(parseCli(['--kiosk-id', 'bar-1', '--data-dir', '/tmp/k', '--mqtt-url', 'mqtt://h:1', '--reader', 'memory', '--api-port', '0', '--config', 'k.json']), {
    help: false,
    printPublicKey: false,
    configFile: 'k.json',
    overrides: { kioskId: 'bar-1', dataDir: '/tmp/k', mqttUrl: 'mqtt://h:1', reader: 'memory', apiPort: 0 },
  })
  t.match(parseCli(['--reader', 'pcsc:ACR122', '--terminal', 'zvt:/dev/ttyUSB1@9600']), { overrides: { reader: 'pcsc:ACR122', terminal: 'zvt:/dev/ttyUSB1@9600' } })
  t.match(parseCli(['--help']), { help: true })
  t.match(parseCli(['--print-public-key']), { printPublicKey: true })
  t.throws(() => parseCli(['--kiosk']), /Unknown option/)
  t.throws(() => parseCli(['stray']), /positional/)
  t.throws(() => parseCli(['--api-port', '80a']), /--api-port/)
})

t.test('wristpay-kiosk --help, bad flags, --print-public-key', async (t) => {
  const help = run(['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /--print-public-key/)

  const bad = run(['--nope'])
  t.equal(bad.status, 2)
  t.match(bad.stderr, /Unknown option/)

  const dataDir = join(t.testdir(), 'kiosk')
  const first = run(['--kiosk-id', 'bar-1', '--data-dir', dataDir, '--print-public-key'])
  t.equal(first.status, 0, first.stderr)
  t.match(first.stdout.trim(), /^[A-Za-z0-9_-]{43}$/)
  t.equal(statSync(join(dataDir, KEY_FILE_NAME)).mode & 0o777, 0o600)
  const second = run(['--data-dir', dataDir, '--print-public-key'], { WRISTPAY_KIOSK_ID: 'bar-1' })
  t.equal(second.stdout, first.stdout, 'the same key is reused')

  const noId = run(['--print-public-key'])
  t.equal(noId.status, 2)
  t.match(noId.stderr, /no kiosk id/)
})

t.test('wristpay-kiosk runs until SIGTERM and then stops cleanly', async (t) => {
  const broker = await startTestBroker({ 'bar-1': 'kiosk-token' })
  t.teardown(() => broker.stop())
  const dataDir = join(t.testdir(), 'kiosk')
  const child = spawn(
    process.execPath,
    [...process.execArgv, bin, '--kiosk-id', 'bar-1', '--data-dir', dataDir, '--mqtt-url', broker.url, '--reader', 'serial:/dev/wristpay-no-such-port', '--api-port', '0'],
    { env: { PATH: process.env.PATH ?? '', WRISTPAY_KIOSK_TOKEN: 'kiosk-token' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  await waitUntil(() => out.includes('connected to the gateway broker'), 'the daemon online', 6000, 10)
  t.notMatch(out, /kiosk-token/, 'the token is never logged')
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.match(out, /kiosk daemon stopped/)
})
