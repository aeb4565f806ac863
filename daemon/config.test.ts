import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, DEFAULTS, loadConfig, parseReaderSpec, redactConfig } from './config.js'

t.test('defaults run the demo on one machine', async (t) => {
  const config = loadConfig({ env: { WRISTPAY_KIOSK_ID: 'bar-1', WRISTPAY_KIOSK_TOKEN: 'tok' } })
  t.match(config, {
    kioskId: 'bar-1',
    token: 'tok',
    mqttUrl: 'mqtt://127.0.0.1:1883',
    dataDir: join('data', 'kiosk-bar-1'),
    reader: { kind: 'serial', path: '/dev/ttyUSB0', baudRate: 115200 },
    apiPort: DEFAULTS.apiPort,
    outboxMaxEntries: DEFAULTS.outboxMaxEntries,
  })
})

t.test('file < environment < command line', async (t) => {
  const file = join(t.testdir(), 'kiosk.json')
  writeFileSync(file, JSON.stringify({ kioskId: 'bar-1', token: 'from-file', mqttUrl: 'mqtt://10.0.0.1:1883', apiPort: 9000, replyTimeoutMs: 7000, reader: 'memory' }))
  const config = loadConfig({
    file,
    env: { WRISTPAY_MQTT_URL: 'mqtts://gateway:8883', WRISTPAY_API_PORT: '9100', WRISTPAY_OUTBOX_MAX: '50' },
    overrides: { apiPort: 0, kioskId: undefined as never },
  })
  t.match(config, { kioskId: 'bar-1', token: 'from-file', mqttUrl: 'mqtts://gateway:8883', apiPort: 0, outboxMaxEntries: 50, replyTimeoutMs: 7000, reader: { kind: 'memory' } })
})

t.test('bad settings are a ConfigError that names the setting', async (t) => {
  const dir = t.testdir()
  const env = { WRISTPAY_KIOSK_ID: 'bar-1' }
  t.throws(() => loadConfig({ env: {} }), { name: 'ConfigError', message: /kiosk id/ })
  t.throws(() => loadConfig({ env: { WRISTPAY_KIOSK_ID: 'Bar 1!' } }), { name: 'ConfigError', message: /environment: \/kioskId/ })
  t.throws(() => loadConfig({ env: { ...env, WRISTPAY_API_PORT: 'eighty' } }), { name: 'ConfigError', message: /WRISTPAY_API_PORT/ })
  t.throws(() => loadConfig({ env: { ...env, WRISTPAY_API_PORT: '70000' } }), { name: 'ConfigError', message: /apiPort/ })
  t.throws(() => loadConfig({ env: { ...env, WRISTPAY_MQTT_URL: 'http://x' } }), { name: 'ConfigError', message: /mqttUrl/ })
  t.throws(() => loadConfig({ env: { ...env, WRISTPAY_READER: 'usb' } }), { name: 'ConfigError', message: /reader/ })
  t.throws(() => loadConfig({ env, file: join(dir, 'missing.json') }), ConfigError)
  writeFileSync(join(dir, 'bad.json'), '{')
  t.throws(() => loadConfig({ env, file: join(dir, 'bad.json') }), { message: /not valid JSON/ })
  writeFileSync(join(dir, 'array.json'), '[]')
  t.throws(() => loadConfig({ env, file: join(dir, 'array.json') }), { message: /JSON object/ })
  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ replyTimeout: 5 }))
  t.throws(() => loadConfig({ env, file: join(dir, 'typo.json') }), { message: /config file/ })
  t.throws(() => loadConfig({ env, overrides: { reconnectInitialDelayMs: 5000, reconnectMaxDelayMs: 10 } }), { message: /reconnectMaxDelayMs/ })
})

t.test('reader specs', async (t) => {
  t.same(parseReaderSpec('serial:/dev/ttyACM0@9600'), { kind: 'serial', path: '/dev/ttyACM0', baudRate: 9600 })
  t.same(parseReaderSpec('serial:/dev/ttyUSB1'), { kind: 'serial', path: '/dev/ttyUSB1', baudRate: 115200 })
  t.same(parseReaderSpec('memory'), { kind: 'memory' })
  for (const bad of ['', 'serial:', 'serial:/dev/x@fast', 'serial:/dev/x@10', 'pcsc:', 'ble:']) t.throws(() => parseReaderSpec(bad), ConfigError, bad)
})

t.test('redactConfig hides the token', async (t) => {
  const config = loadConfig({ env: { WRISTPAY_KIOSK_ID: 'bar-1', WRISTPAY_KIOSK_TOKEN: 'super-secret' } })
  t.notMatch(JSON.stringify(redactConfig(config)), /super-secret/)
  t.equal(config.token, 'super-secret', 'the config itself is unchanged')
})

t.test('reader specs for PC/SC and BLE readers', async (t) => {
  const { parseReaderSpec } = await import('./config.js')
  t.same(parseReaderSpec('pcsc'), { kind: 'pcsc' })
  t.same(parseReaderSpec('pcsc:ACR122'), { kind: 'pcsc', readerName: 'ACR122' })
  t.same(parseReaderSpec('ble:aa:bb:cc:dd:ee:01, AA:BB:CC:DD:EE:02'), { kind: 'ble', addresses: ['aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02'] })
  t.throws(() => parseReaderSpec('ble:not-an-address'), /AA:BB:CC:DD:EE:FF/)
  t.throws(() => parseReaderSpec('nfc:/dev/x'), /pcsc:ACR122, ble:AA:BB:CC:DD:EE:FF/)
})
