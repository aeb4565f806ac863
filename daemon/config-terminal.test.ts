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
  t.same(parseTerminalSpec('memory'), { kind: 'memory' })
  t.equal(parseTerminalSpec('none'), undefined)
  for (const bad of ['', 'zvt:', 'zvt:/dev/x@fast', 'zvt:/dev/x@10', 'sumup', 'serial:/dev/ttyUSB1']) t.throws(() => parseTerminalSpec(bad), ConfigError, bad)
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
