import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { ConfigError, loadConfig, parseTerminalSpec, redactConfig } from './config.js'
import { createKioskDaemon } from './app.js'

t.test('terminal specs', async (t) => {
  t.same(parseTerminalSpec('zvt:/dev/ttyUSB1@9600'), { kind: 'zvt', path: '/dev/ttyUSB1', baudRate: 9600 })
  t.same(parseTerminalSpec('zvt:/dev/ttyUSB1@115200'), { kind: 'zvt', path: '/dev/ttyUSB1', baudRate: 115200 })
  t.same(parseTerminalSpec('zvt:/dev/ttyACM0'), { kind: 'zvt', path: '/dev/ttyACM0', baudRate: 9600 }, 'ZVT default baud rate')
  t.same(parseTerminalSpec('zvt-tcp:192.168.1.50'), { kind: 'zvt-tcp', host: '192.168.1.50', port: 20007 }, 'ZVT over TCP: port 20007 by default')
  t.same(parseTerminalSpec('zvt-tcp:terminal-1.bar.lan:5577'), { kind: 'zvt-tcp', host: 'terminal-1.bar.lan', port: 5577 })
  t.same(parseTerminalSpec('zvt-tcp:[fe80::1]:20007'), { kind: 'zvt-tcp', host: 'fe80::1', port: 20007 }, 'IPv6 in brackets')
  t.same(parseTerminalSpec('memory'), { kind: 'memory' })
  t.equal(parseTerminalSpec('none'), undefined)
  for (const bad of ['', 'zvt:', 'zvt:/dev/x@fast', 'zvt:/dev/x@10', 'sumup', 'serial:/dev/ttyUSB1', 'zvt-tcp:', 'zvt-tcp:host:0', 'zvt-tcp:host:70000', 'zvt-tcp:host:port', 'zvt-tcp:a b', 'zvt-tcp:fe80::1']) t.throws(() => parseTerminalSpec(bad), ConfigError, bad)
})

t.test('the terminal comes from the file or WRISTPAY_TERMINAL; none by default', async (t) => {
  const env = { WRISTPAY_KIOSK_ID: 'topup-1' }
  t.equal(loadConfig({ env }).terminal, undefined)
  t.same(loadConfig({ env: { ...env, WRISTPAY_TERMINAL: 'zvt:/dev/ttyUSB1@9600' } }).terminal, { kind: 'zvt', path: '/dev/ttyUSB1', baudRate: 9600 })
  const file = join(t.testdir(), 'kiosk.json')
  writeFileSync(file, JSON.stringify({ terminal: 'memory' }))
  t.same(loadConfig({ env, file }).terminal, { kind: 'memory' })
  t.equal(loadConfig({ env: { ...env, WRISTPAY_TERMINAL: 'none' }, file }).terminal, undefined, 'the environment can switch it off')
  t.throws(() => loadConfig({ env: { ...env, WRISTPAY_TERMINAL: 'zvt' } }), { name: 'ConfigError', message: /terminal/ })
  writeFileSync(file, JSON.stringify({ terminal: 42 }))
  t.throws(() => loadConfig({ env, file }), { name: 'ConfigError', message: /terminal/ })
})

t.test('the terminal password is a 6-digit secret that never shows in the logged config', async (t) => {
  const env = { WRISTPAY_KIOSK_ID: 'topup-1', WRISTPAY_TERMINAL: 'zvt:/dev/ttyUSB1' }
  const config = loadConfig({ env: { ...env, WRISTPAY_TERMINAL_PASSWORD: '314159' } })
  t.equal(config.terminalPassword, '314159')
  t.equal(config.terminalCurrency, 978, 'EUR by default')
  t.notMatch(JSON.stringify(redactConfig(config)), /314159/)
  t.equal(loadConfig({ env }).terminalPassword, '000000', 'the ZVT factory default')
  for (const bad of ['12345', '1234567', 'abcdef']) t.throws(() => loadConfig({ env: { ...env, WRISTPAY_TERMINAL_PASSWORD: bad } }), { name: 'ConfigError', message: /terminalPassword/ }, bad)
})

t.test('a memory terminal must be handed in: the daemon refuses to start without one', async (t) => {
  const config = loadConfig({ env: {}, overrides: { kioskId: 'topup-1', token: 'tok', dataDir: join(t.testdir(), 'kiosk'), reader: 'memory', terminal: 'memory', apiPort: 0 } })
  await t.rejects(createKioskDaemon({ config, logger: pino({ level: 'silent' }), clock: { now: () => Date.now() } }), { name: 'ConfigError', message: /memory terminal/ })
})

t.test('terminal zvt-tcp:HOST:PORT: the daemon reaches the terminal on the LAN and registers there', async (t) => {
  const { startTestBroker } = await import('./testing/broker.js')
  const { FakeReader } = await import('./testing/fake-reader.js')
  const { waitUntil } = await import('./testing/wait.js')
  const { createZvtTerminalSimulator, listenZvtTerminalOnTcp } = await import('../simulators/zvt-terminal.js')
  const broker = await startTestBroker({ 'topup-1': 'tok' })
  t.teardown(() => broker.stop())
  const sim = createZvtTerminalSimulator({ transport: 'tcp', password: '314159' })
  const listener = await listenZvtTerminalOnTcp({ terminal: sim })
  t.teardown(() => listener.close())
  const config = loadConfig({
    env: { WRISTPAY_TERMINAL_PASSWORD: '314159' },
    overrides: { kioskId: 'topup-1', token: 'tok', mqttUrl: broker.url, dataDir: join(t.testdir(), 'kiosk'), reader: 'memory', terminal: `zvt-tcp:127.0.0.1:${listener.port}`, apiPort: 0 },
  })
  const daemon = await createKioskDaemon({ config, logger: pino({ level: 'silent' }), clock: { now: () => Date.now() }, reader: new FakeReader() })
  await daemon.start()
  t.teardown(() => daemon.stop())
  await waitUntil(() => daemon.status().terminal?.connected === true, 'registered at the terminal over TCP')
  t.ok(sim.registered)
  t.equal(listener.connections, 1)
  t.match(daemon.status().terminal, { kind: 'zvt', connected: true })
})
