import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, DEFAULT_CONFIG, DEFAULT_STANCER_RECONCILE_INTERVAL_MINUTES, ENV_VARS, configFromEnv, loadConfig, parseOperatorsEnv, resolveConfig } from './config.js'

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('defaults listen on this machine only and name no event set-up', async (t) => {
  const config = loadConfig({ env: {} })
  t.same(config, DEFAULT_CONFIG)
  t.same(config.mqtt, { host: '127.0.0.1', port: 1883 })
  t.same(config.http, { host: '127.0.0.1', port: 8080 })
  t.equal(config.dataDir, 'data/gateway')
  t.equal(config.eventFile, undefined, 'the demo festival is never a default (wristpay-gateway --demo asks for it)')
  t.equal(config.adminToken, undefined)
})

t.test('every environment variable the reference names lands on its key', async (t) => {
  // One valid value per variable; the reference (ENV_VARS) and configFromEnv must agree.
  const samples: Record<string, { raw: string; value: unknown }> = {
    'mqtt.host': { raw: '10.0.0.2', value: '10.0.0.2' },
    'mqtt.port': { raw: '1999', value: 1999 },
    'mqtt.url': { raw: 'mqtt://10.0.0.5:1883', value: 'mqtt://10.0.0.5:1883' },
    store: { raw: 'postgres://wristpay@10.0.0.6:5432/wristpay', value: 'postgres://wristpay@10.0.0.6:5432/wristpay' },
    'http.host': { raw: '10.0.0.3', value: '10.0.0.3' },
    'http.port': { raw: '9999', value: 9999 },
    dataDir: { raw: '/var/lib/x', value: '/var/lib/x' },
    eventFile: { raw: '/etc/wristpay/event.json', value: '/etc/wristpay/event.json' },
    adminToken: { raw: 'admin-token-0123456789', value: 'admin-token-0123456789' },
    operators: { raw: 'ops:operator-token-0123', value: [{ name: 'ops', token: 'operator-token-0123' }] },
    maxPacketBytes: { raw: '4096', value: 4096 },
    maxBatch: { raw: '64', value: 64 },
    logLevel: { raw: 'warn', value: 'warn' },
    'portal.publicBaseUrl': { raw: 'https://pay.example.org', value: 'https://pay.example.org' },
    pinSecretFile: { raw: '/etc/wristpay/pin-secret', value: '/etc/wristpay/pin-secret' },
    'metrics.token': { raw: 'metrics-token-0123456789', value: 'metrics-token-0123456789' },
    'payments.sumup.apiKey': { raw: 'sumup-key-0123', value: 'sumup-key-0123' },
    'payments.sumup.baseUrl': { raw: 'https://sumup.example', value: 'https://sumup.example' },
    'payments.sumup.merchantCode': { raw: 'M123', value: 'M123' },
    'payments.sumup.webhookSecret': { raw: 'sumup-hook-0123', value: 'sumup-hook-0123' },
    'payments.stripe.secretKey': { raw: 'sk_test_0123', value: 'sk_test_0123' },
    'payments.stripe.publishableKey': { raw: 'pk_test_0123', value: 'pk_test_0123' },
    'payments.stripe.webhookSecret': { raw: 'whsec_0123', value: 'whsec_0123' },
    'payments.stripe.baseUrl': { raw: 'https://stripe.example', value: 'https://stripe.example' },
    'payments.stancer.secretKey': { raw: 'stest_0123456789', value: 'stest_0123456789' },
    'payments.stancer.baseUrl': { raw: 'https://stancer.example', value: 'https://stancer.example' },
    'bank.organizerSlug': { raw: 'festival-org', value: 'festival-org' },
    'bank.eventSlug': { raw: 'summer-2026', value: 'summer-2026' },
  }
  t.same(Object.keys(ENV_VARS).sort(), Object.keys(samples).sort(), 'a sample for every documented variable')
  // The SumUp and Stripe variables only count together with their key.
  const base = {
    WRISTPAY_GATEWAY_SUMUP_API_KEY: 'sumup-key-0123',
    WRISTPAY_GATEWAY_SUMUP_MERCHANT_CODE: 'M000',
    WRISTPAY_GATEWAY_STRIPE_SECRET_KEY: 'sk_test_0123',
    WRISTPAY_GATEWAY_STRIPE_PUBLISHABLE_KEY: 'pk_test_0000',
    WRISTPAY_GATEWAY_STRIPE_WEBHOOK_SECRET: 'whsec_0000',
    WRISTPAY_GATEWAY_STANCER_SECRET_KEY: 'stest_0000000000',
  }
  for (const [path, name] of Object.entries(ENV_VARS)) {
    const variable = name.split(' ')[0]!
    const config = loadConfig({ env: { ...base, [variable]: samples[path]!.raw } }) as unknown as Record<string, unknown>
    const value = path.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], config)
    t.same(value, samples[path]!.value, `${variable} sets ${path}`)
  }
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
  t.same(parseOperatorsEnv('night:token-of-night:admin'), [{ name: 'night', token: 'token-of-night', roles: ['admin'] }], 'a trailing :admin is the role, not part of the token')
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

t.test('the bank import slugs: absent by default (derived from the event), set from file or environment, refused unless 1..50 of a-z 0-9 -', async (t) => {
  t.equal(loadConfig({ env: {} }).bank, undefined, 'the gateway derives them from the event name')
  const dir = tempDir(t)
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({ bank: { organizerSlug: 'festival-org', eventSlug: 'summer-2026' } }))
  t.same(loadConfig({ file, env: {} }).bank, { organizerSlug: 'festival-org', eventSlug: 'summer-2026' })
  t.same(loadConfig({ file, env: { WRISTPAY_GATEWAY_BANK_EVENT_SLUG: 'summer-27' } }).bank, { organizerSlug: 'festival-org', eventSlug: 'summer-27' }, 'the environment wins per key')
  t.same(resolveConfig({ bank: { organizerSlug: 'a' } }).bank, { organizerSlug: 'a' })
  t.same(resolveConfig({ bank: { eventSlug: 'x'.repeat(50) } }).bank, { eventSlug: 'x'.repeat(50) })
  for (const slug of ['Test-Fest', 'test fest', 'test_fest', 'über', '', 'x'.repeat(51), 'a/b', 42]) {
    writeFileSync(file, JSON.stringify({ bank: { organizerSlug: slug } }))
    t.throws(
      () => loadConfig({ file, env: {} }),
      { name: 'ConfigError', message: /^invalid gateway config: bank\.organizerSlug must be 1 to 50 lower-case letters, digits and '-' .*WRISTPAY_GATEWAY_BANK_ORGANIZER_SLUG/ },
      `organizerSlug ${JSON.stringify(slug)} refused`,
    )
  }
  t.throws(() => loadConfig({ env: { WRISTPAY_GATEWAY_BANK_EVENT_SLUG: 'Summer 2026' } }), { name: 'ConfigError', message: /bank\.eventSlug must be 1 to 50 .*got "Summer 2026"/ })
  t.throws(() => resolveConfig({ bank: { organizerSlug: 'ok', other: 'x' } } as never), /invalid gateway config: \/bank/, 'no unknown keys')
})

t.test('payments.stancer.reconcileIntervalMinutes: absent by default (60 applies), 0 for on demand only, an integer of at most 1440', async (t) => {
  const stancer = (extra: object) => resolveConfig({ payments: { ...DEFAULT_CONFIG.payments, stancer: { secretKey: 'stest_0123456789', ...extra } } })
  t.equal(stancer({}).payments.stancer!.reconcileIntervalMinutes, undefined, 'the gateway applies its default')
  t.equal(DEFAULT_STANCER_RECONCILE_INTERVAL_MINUTES, 60)
  t.equal(stancer({ reconcileIntervalMinutes: 0 }).payments.stancer!.reconcileIntervalMinutes, 0)
  t.equal(stancer({ reconcileIntervalMinutes: 1440 }).payments.stancer!.reconcileIntervalMinutes, 1440)
  t.throws(() => stancer({ reconcileIntervalMinutes: 1441 }), /invalid gateway config: \/payments\/stancer\/reconcileIntervalMinutes/)
  t.throws(() => stancer({ reconcileIntervalMinutes: -1 }), /\/payments\/stancer\/reconcileIntervalMinutes/)
  t.throws(() => stancer({ reconcileIntervalMinutes: 1.5 }), /\/payments\/stancer\/reconcileIntervalMinutes/)
  t.throws(() => stancer({ reconcileIntervalMinutes: '60' }), /\/payments\/stancer\/reconcileIntervalMinutes/)

  // The secret key from the environment, the interval from the file: both apply.
  const dir = tempDir(t)
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({ payments: { stancer: { secretKey: 'stest_file_0123456', baseUrl: 'https://stancer.example', reconcileIntervalMinutes: 0 } } }))
  const merged = loadConfig({ file, env: { WRISTPAY_GATEWAY_STANCER_SECRET_KEY: 'stest_env_0123456' }, overrides: {} })
  t.same(merged.payments.stancer, { secretKey: 'stest_env_0123456', baseUrl: 'https://stancer.example', reconcileIntervalMinutes: 0 })
})
