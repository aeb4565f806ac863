import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main, parseCli, type CliDeps } from './cli.js'
import { KEY_FILE_NAME } from './keys.js'
import { startNotifyReceiver } from '../device-protocol/testing/notify-receiver.js'
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

t.test('wristpay-kiosk runs until SIGTERM and then stops cleanly, telling systemd when it is ready and stopping', async (t) => {
  const broker = await startTestBroker({ 'bar-1': 'kiosk-token' })
  t.teardown(() => broker.stop())
  const systemd = await startNotifyReceiver()
  t.teardown(() => systemd.close())
  const dataDir = join(t.testdir(), 'kiosk')
  const child = spawn(
    process.execPath,
    [...process.execArgv, bin, '--kiosk-id', 'bar-1', '--data-dir', dataDir, '--mqtt-url', broker.url, '--reader', 'serial:/dev/wristpay-no-such-port', '--api-port', '0'],
    { env: { PATH: process.env.PATH ?? '', WRISTPAY_KIOSK_TOKEN: 'kiosk-token', NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC: '200000' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  await waitUntil(() => out.includes('connected to the gateway broker'), 'the daemon online', 6000, 10)
  t.notMatch(out, /kiosk-token/, 'the token is never logged')
  await systemd.waitFor('WATCHDOG=1')
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.match(out, /kiosk daemon stopped/)
  await systemd.waitFor('STOPPING=1')
  t.match(systemd.received(), /^READY=1(WATCHDOG=1)+STOPPING=1/, 'ready once serving, pings while healthy, stopping on SIGTERM')
})

t.test('--print-public-key prints the key the service signs with, and says which file it is', async (t) => {
  const dir = t.testdir()
  const serviceDataDir = join(dir, 'var-lib-wristpay-kiosk')
  const cwd = join(dir, 'home')
  /** main() in-process as `who`, with stdout and stderr captured. */
  const printAs = async (who: { uid: number; userName: string }, args: string[] = [], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = []
    const err: string[] = []
    const deps: Partial<CliDeps> = { ...who, cwd, env, serviceDataDir, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }
    const status = await main(['--kiosk-id', 'bar-1', '--print-public-key', ...args], deps)
    return { status, key: out.join('').trim(), notice: err.join('') }
  }
  const root = { uid: 0, userName: 'root' }
  const service = { uid: 998, userName: 'wristpay' }
  const alice = { uid: 1000, userName: 'alice' }

  const asRoot = await printAs(root)
  t.equal(asRoot.status, 0, asRoot.notice)
  t.match(asRoot.key, /^[A-Za-z0-9_-]{43}$/, 'stdout holds the key alone')
  t.equal(statSync(join(serviceDataDir, KEY_FILE_NAME)).mode & 0o777, 0o600, 'created in the service\'s data folder, not under the working directory')
  t.match(asRoot.notice, `kiosk bar-1: public key of ${join(serviceDataDir, KEY_FILE_NAME)} (created now), in the data folder of the wristpay-kiosk service`)
  const asService = await printAs(service)
  t.equal(asService.key, asRoot.key, 'the service user gets the same key')
  t.match(asService.notice, '(existing key)')

  const asAlice = await printAs(alice)
  t.equal(asAlice.status, 0)
  t.not(asAlice.key, asRoot.key, 'anybody else without a data folder set gets the development folder')
  t.match(asAlice.notice, `public key of ${join(cwd, 'data', 'kiosk-bar-1', KEY_FILE_NAME)}`, 'the full path of the key file')
  t.match(asAlice.notice, new RegExp(`WARNING: this is NOT the folder the wristpay-kiosk service signs with \\(${serviceDataDir}\\).*--data-dir ${serviceDataDir}.*WRISTPAY_DATA_DIR`, 's'))
  const pointed = await printAs(alice, ['--data-dir', serviceDataDir])
  t.equal(pointed.key, asRoot.key, '--data-dir points at the service\'s key')
  t.notMatch(pointed.notice, /WARNING/)
  const byEnv = await printAs(root, [], { WRISTPAY_DATA_DIR: join(dir, 'elsewhere') })
  t.not(byEnv.key, asRoot.key, 'a data folder set in the environment wins, even for root')
  t.match(byEnv.notice, `The wristpay-kiosk service uses ${serviceDataDir} unless its config says otherwise`)
})

t.test('a key file others can read is refused with the setting that repairs it (repairKeyPermissions)', async (t) => {
  const dir = t.testdir()
  const dataDir = join(dir, 'kiosk')
  const quiet = { stdout: { write: () => true }, serviceDataDir: join(dir, 'service') }
  t.equal(await main(['--kiosk-id', 'bar-1', '--data-dir', dataDir, '--print-public-key'], { ...quiet, stderr: { write: () => true } }), 0)
  chmodSync(join(dataDir, KEY_FILE_NAME), 0o644)
  const err: string[] = []
  t.equal(await main(['--kiosk-id', 'bar-1', '--data-dir', dataDir, '--print-public-key'], { ...quiet, stderr: { write: (s: string) => err.push(s) } }), 2)
  t.match(err.join(''), /mode 644: it can be read by other users.*chmod 600.*"repairKeyPermissions": true in the config file/)
  const config = join(dir, 'kiosk.json')
  writeFileSync(config, JSON.stringify({ repairKeyPermissions: true }))
  t.equal(await main(['--config', config, '--kiosk-id', 'bar-1', '--data-dir', dataDir, '--print-public-key'], { ...quiet, stderr: { write: () => true } }), 0)
  t.equal(statSync(join(dataDir, KEY_FILE_NAME)).mode & 0o777, 0o600, 'repaired')
  const help = run(['--help'])
  t.match(help.stdout, /repairKeyPermissions.*tightens them instead/s, '--help documents it')
})
