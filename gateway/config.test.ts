import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, DEFAULT_CONFIG, configFromEnv, loadConfig, parseOperatorsEnv, resolveConfig } from './config.js'

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('defaults run the demo on one machine', async (t) => {
  const config = loadConfig({ env: {} })
  t.same(config, DEFAULT_CONFIG)
  t.same(config.mqtt, { host: '127.0.0.1', port: 1883 })
  t.same(config.http, { host: '127.0.0.1', port: 8080 })
  t.equal(config.dataDir, 'data/gateway')
  t.equal(config.eventFile, 'gateway/fixtures/demo-event.json')
  t.equal(config.adminToken, undefined)
})

t.test('file < environment < overrides; nested objects merge per key', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({ mqtt: { port: 1999 }, http: { host: '0.0.0.0' }, dataDir: 'state', logLevel: 'warn' }))
  const config = loadConfig({
    file,
    env: { WRISTPAY_GATEWAY_HTTP_PORT: '9090', WRISTPAY_GATEWAY_ADMIN_TOKEN: 'a-long-admin-token', WRISTPAY_GATEWAY_LOG_LEVEL: 'debug' },
    overrides: { mqtt: { port: 0 } },
  })
  t.same(config.mqtt, { host: '127.0.0.1', port: 0 })
  t.same(config.http, { host: '0.0.0.0', port: 9090 })
  t.equal(config.dataDir, join(dir, 'state'), 'paths in a file are relative to the file')
  t.equal(config.adminToken, 'a-long-admin-token')
  t.equal(config.logLevel, 'debug')
})

t.test('WRISTPAY_GATEWAY_CONFIG names the file', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'g.json')
  writeFileSync(file, JSON.stringify({ eventFile: '/abs/event.json' }))
  t.equal(loadConfig({ env: { WRISTPAY_GATEWAY_CONFIG: file } }).eventFile, '/abs/event.json')
})

t.test('operators from the environment', async (t) => {
  t.same(parseOperatorsEnv('ops:token-of-ops-1, night:token-of-night'), [
    { name: 'ops', token: 'token-of-ops-1' },
    { name: 'night', token: 'token-of-night' },
  ])
  t.same(parseOperatorsEnv('ops:a:b:c-token-12'), [{ name: 'ops', token: 'a:b:c-token-12' }], 'a token may contain colons')
  t.throws(() => parseOperatorsEnv('ops'), ConfigError)
  t.throws(() => parseOperatorsEnv(':token-without-name'), ConfigError)
  const config = loadConfig({ env: { WRISTPAY_GATEWAY_OPERATORS: 'ops:token-of-ops-1' } })
  t.same(config.operators, [{ name: 'ops', token: 'token-of-ops-1' }])
})

t.test('bad values give clear errors that never echo secrets', async (t) => {
  t.throws(() => configFromEnv({ WRISTPAY_GATEWAY_MQTT_PORT: 'abc' }), /WRISTPAY_GATEWAY_MQTT_PORT must be a port number/)
  t.throws(() => configFromEnv({ WRISTPAY_GATEWAY_HTTP_PORT: ' 80' }), ConfigError)
  t.throws(() => loadConfig({ env: { WRISTPAY_GATEWAY_MQTT_PORT: '70000' } }), /invalid gateway config: \/mqtt\/port/)
  t.throws(() => loadConfig({ env: { WRISTPAY_GATEWAY_LOG_LEVEL: 'loud' } }), /invalid gateway config: \/logLevel/)
  t.throws(() => resolveConfig({ mqtt: { host: '' } }), /\/mqtt\/host/)
  t.throws(() => resolveConfig({ unknown: 1 } as never), /invalid gateway config/)
  t.throws(() => resolveConfig({ mqtt: 'localhost' } as never), /invalid gateway config: \/mqtt/)
  t.throws(
    () => resolveConfig({ operators: [{ name: 'a', token: 'token-number-1' }, { name: 'a', token: 'token-number-2' }] }),
    /operator a is listed twice/,
  )
  try {
    loadConfig({ env: { WRISTPAY_GATEWAY_ADMIN_TOKEN: 'short-secret' } })
    t.fail('a short admin token was accepted')
  } catch (err) {
    t.match((err as Error).message, /adminToken/)
    t.notMatch((err as Error).message, /short-secret/)
  }
})

t.test('a broken config file is named in the error', async (t) => {
  const dir = tempDir(t)
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, '{"mqtt": ')
  t.throws(() => loadConfig({ file: bad, env: {} }), /bad\.json is not valid JSON/)
  const array = join(dir, 'array.json')
  writeFileSync(array, '[]')
  t.throws(() => loadConfig({ file: array, env: {} }), /must hold a JSON object/)
  t.throws(() => loadConfig({ file: join(dir, 'missing.json'), env: {} }), /cannot read config file .*ENOENT/)
})

t.test('mqtt connection and login limits are settings, each checked', async (t) => {
  const config = resolveConfig({ mqtt: { connectTimeoutMs: 3000, maxConnectionsPerAddress: 8 } })
  t.same(config.mqtt, { host: '127.0.0.1', port: 1883, connectTimeoutMs: 3000, maxConnectionsPerAddress: 8 }, 'the rest stays with the broker\'s defaults')
  t.throws(() => resolveConfig({ mqtt: { connectTimeoutMs: 0 } }), /\/mqtt\/connectTimeoutMs/)
  t.throws(() => resolveConfig({ mqtt: { maxConnectionsPerAddress: 1 } }), /\/mqtt\/maxConnectionsPerAddress/)
  t.throws(() => resolveConfig({ mqtt: { loginFailuresBeforeBlock: 2.5 } }), /\/mqtt\/loginFailuresBeforeBlock/)
  t.throws(() => resolveConfig({ mqtt: { maxconnections: 5 } as never }), ConfigError, 'a misspelt key is an error, not ignored')
})
