import t from 'tap'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gatewayMqttUrl, MONITOR_TOKEN_ENV, MonitorUsageError, parseMonitorArgs } from './options.js'

const TOKEN = 'operator-token-0123'
const env = { [MONITOR_TOKEN_ENV]: TOKEN }

t.test('the token comes from the environment; the broker from --url, else the config, else loopback 1883', async (t) => {
  t.same(parseMonitorArgs(['--operator', 'ops'], env), { url: 'mqtt://127.0.0.1:1883', operator: 'ops', token: TOKEN, once: false, json: false, waitMs: 5000 })
  t.same(parseMonitorArgs(['--operator', 'ops', '--url', 'mqtt://10.0.0.2:1884', '--once', '--json', '--wait-ms', '800'], env), {
    url: 'mqtt://10.0.0.2:1884',
    operator: 'ops',
    token: TOKEN,
    once: true,
    json: true,
    waitMs: 800,
  })
  t.match(parseMonitorArgs(['--operator', 'ops'], { ...env, WRISTPAY_GATEWAY_MQTT_PORT: '1999' }), { url: 'mqtt://127.0.0.1:1999' }, "the gateway config's MQTT listener")
  t.equal(parseMonitorArgs(['-h'], {}), 'help')
})

t.test("a wildcard listener of the gateway's config is reached on loopback", async (t) => {
  t.equal(gatewayMqttUrl({ mqtt: { host: '0.0.0.0', port: 1883 } }), 'mqtt://127.0.0.1:1883')
  t.equal(gatewayMqttUrl({ mqtt: { host: '::', port: 1883 } }), 'mqtt://127.0.0.1:1883')
  t.equal(gatewayMqttUrl({ mqtt: { host: '10.1.2.3', port: 8883 } }), 'mqtt://10.1.2.3:8883')
  t.equal(gatewayMqttUrl({ mqtt: { host: 'fd00::1', port: 1883 } }), 'mqtt://[fd00::1]:1883')
  t.equal(gatewayMqttUrl({ mqtt: { host: '0.0.0.0', port: 8883, tls: { certFile: 'c.pem', keyFile: 'k.pem' } } }), 'mqtts://127.0.0.1:8883', 'TLS when the config has a certificate')
})

t.test('the token is never an argument, and the refusal does not repeat it', async (t) => {
  for (const args of [['--operator', 'ops', '--token', 'sekrit-value'], ['--operator', 'ops', '--token=sekrit-value']]) {
    const err = t.throws(() => parseMonitorArgs(args, env)) as Error
    t.type(err, MonitorUsageError)
    t.match(err.message, /never an argument .* WRISTPAY_MONITOR_TOKEN or use --token-file/)
    t.notMatch(err.message, /sekrit/)
  }
  t.throws(() => parseMonitorArgs(['--operator', 'ops'], {}), /no token: set WRISTPAY_MONITOR_TOKEN or use --token-file/)
})

t.test('a token file is read when only its owner may read it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-monitor-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'token')
  writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 })
  t.match(parseMonitorArgs(['--operator', 'ops', '--token-file', file], {}), { token: TOKEN })
  t.match(parseMonitorArgs(['--operator', 'ops', '--token-file', file], { [MONITOR_TOKEN_ENV]: 'other-token-000' }), { token: TOKEN }, 'the file wins over the environment')
  chmodSync(file, 0o644)
  t.throws(() => parseMonitorArgs(['--operator', 'ops', '--token-file', file], {}), /may be read by others \(mode 644\): chmod 600/)
  t.throws(() => parseMonitorArgs(['--operator', 'ops', '--token-file', join(dir, 'missing')], {}), /cannot read --token-file .*ENOENT/)
  const empty = join(dir, 'empty')
  writeFileSync(empty, '\n', { mode: 0o600 })
  t.throws(() => parseMonitorArgs(['--operator', 'ops', '--token-file', empty], {}), /is empty/)
})

t.test('wrong arguments are refused with a reason', async (t) => {
  const refusals: Array<[string[], RegExp]> = [
    [[], /--operator NAME is required/],
    [['--operator', 'not an operator'], /--operator must be an operator name/],
    [['--operator', 'ops', '--json'], /--json goes with --once/],
    [['--operator', 'ops', '--wait-ms', '10'], /--wait-ms goes with --once/],
    [['--operator', 'ops', '--once', '--wait-ms', '0'], /--wait-ms must be a number/],
    [['--operator', 'ops', '--url', 'http://127.0.0.1:8080/'], /--url must look like mqtt:\/\/HOST:PORT/],
    [['--operator', 'ops', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['--operator', 'ops', '--ca-file', '/etc/hosts'], /--ca-file goes with an mqtts:\/\/ URL/],
    [['--operator', 'ops', '--url', 'mqtts://127.0.0.1:8883', '--ca-file', '/nonexistent/ca.pem'], /cannot read --ca-file \/nonexistent\/ca\.pem: ENOENT/],
  ]
  for (const [args, message] of refusals) t.throws(() => parseMonitorArgs(args, env), message, args.join(' '))
})
