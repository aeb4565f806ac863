// The external broker's settings: secrets from the environment or files only their owner reads,
// never echoed; the embedded broker when mqtt.url is absent; the --mqtt-url flag.
import t from 'tap'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCli } from './bin.js'
import { DEFAULT_CONFIG } from './config.js'
import type { Logger } from 'pino'
import { DynsecError } from './dynsec.js'
import { defaultGatewayClientId, DYNSEC_PASSWORD_ENV, externalMessagingSettings, GATEWAY_PASSWORD_ENV, provisionOperatorLogins, readSecret } from './external-messaging.js'

const gateway = { dataDir: '/srv/wristpay', hostname: 'gw1' }
const dir = mkdtempSync(join(tmpdir(), 'wristpay-external-settings-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, content: string, mode: number) => {
  const path = join(dir, name)
  writeFileSync(path, content, { mode })
  chmodSync(path, mode)
  return path
}

t.test('without mqtt.url the embedded broker is used', async (t) => {
  t.equal(externalMessagingSettings(DEFAULT_CONFIG.mqtt, {}, gateway), undefined)
})

t.test('with mqtt.url: the passwords from the environment, defaults for the accounts', async (t) => {
  const settings = externalMessagingSettings({ ...DEFAULT_CONFIG.mqtt, url: 'mqtt://10.0.0.5:1883' }, { [GATEWAY_PASSWORD_ENV]: 'gw-secret', [DYNSEC_PASSWORD_ENV]: 'admin-secret' }, gateway)
  t.same(settings, {
    broker: { url: 'mqtt://10.0.0.5:1883', username: 'wristpay-gateway', password: 'gw-secret', clientId: defaultGatewayClientId('gw1', '/srv/wristpay') },
    admin: { username: 'admin', password: 'admin-secret', clientId: `${defaultGatewayClientId('gw1', '/srv/wristpay')}/dynsec` },
    operators: [],
  })
})

t.test('the default client id is the same at every start, and differs between machines and between data folders', async (t) => {
  const id = defaultGatewayClientId('gw1', '/srv/wristpay')
  t.match(id, /^wristpay-gateway-gw1-[0-9a-f]{12}$/)
  t.equal(defaultGatewayClientId('gw1', '/srv/wristpay/'), id, 'the same folder spelled differently')
  t.not(defaultGatewayClientId('gw2', '/srv/wristpay'), id, 'another machine')
  t.not(defaultGatewayClientId('gw1', '/srv/wristpay-2'), id, 'a second gateway on the same machine')
  t.match(defaultGatewayClientId('a b/c#', '/x'), /^wristpay-gateway-a_b_c_-/, 'no topic or wildcard characters from the host name')
  const env = { [GATEWAY_PASSWORD_ENV]: 'x', [DYNSEC_PASSWORD_ENV]: 'y' }
  const configured = externalMessagingSettings({ ...DEFAULT_CONFIG.mqtt, url: 'mqtt://10.0.0.5:1883', external: { clientId: 'gateway-east', shareGroup: 'festival-2026', sessionExpirySeconds: 45 } }, env, gateway)
  t.match(configured?.broker, { clientId: 'gateway-east', shareGroup: 'festival-2026', sessionExpiryS: 45 }, 'mqtt.external.clientId, shareGroup and sessionExpirySeconds win')
  t.equal(externalMessagingSettings({ ...DEFAULT_CONFIG.mqtt, url: 'mqtt://10.0.0.5:1883' }, env, gateway)?.broker.sessionExpiryS, undefined, 'unset: the broker connection uses SESSION_EXPIRY_S')
})

t.test('a secret file must be readable by its owner only; its content never appears in an error', async (t) => {
  const good = file('good', 'file-secret\n', 0o600)
  t.equal(readSecret('the test secret', 'UNSET_VAR', good, {}), 'file-secret', 'the trailing newline is dropped')
  const open = file('open', 'exposed-secret\n', 0o644)
  t.throws(() => readSecret('the test secret', 'UNSET_VAR', open, {}), /may be read by others \(mode 644\); chmod 600/)
  try {
    readSecret('the test secret', 'UNSET_VAR', open, {})
  } catch (err) {
    t.notMatch((err as Error).message, /exposed-secret/)
  }
  t.throws(() => readSecret('the test secret', 'UNSET_VAR', undefined, {}), /set UNSET_VAR or give a 0600 file/)
  t.throws(() => readSecret('the test secret', 'UNSET_VAR', join(dir, 'missing'), {}), /cannot read .*ENOENT/)
  t.equal(readSecret('the test secret', 'SET_VAR', open, { SET_VAR: 'from-env' }), 'from-env', 'the environment wins')
})

t.test('mqtt.url without a password for the gateway or the admin stops the start', async (t) => {
  t.throws(() => externalMessagingSettings({ ...DEFAULT_CONFIG.mqtt, url: 'mqtt://10.0.0.5:1883' }, { [DYNSEC_PASSWORD_ENV]: 'x' }, gateway), new RegExp(GATEWAY_PASSWORD_ENV))
  t.throws(() => externalMessagingSettings({ ...DEFAULT_CONFIG.mqtt, url: 'mqtt://10.0.0.5:1883' }, { [GATEWAY_PASSWORD_ENV]: 'x' }, gateway), new RegExp(DYNSEC_PASSWORD_ENV))
})

t.test('a CA file with a plain mqtt:// url is refused', async (t) => {
  const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\n', 0o644)
  t.throws(() => externalMessagingSettings({ ...DEFAULT_CONFIG.mqtt, url: 'mqtt://10.0.0.5:1883', external: { caFile: ca } }, { [GATEWAY_PASSWORD_ENV]: 'x', [DYNSEC_PASSWORD_ENV]: 'y' }, gateway), /not mqtts/)
})

t.test('--mqtt-url sets mqtt.url beside --mqtt-port', async (t) => {
  t.match(parseCli(['--mqtt-url', 'mqtt://10.0.0.5:1883', '--mqtt-port', '0']), { kind: 'run', overrides: { mqtt: { port: 0, url: 'mqtt://10.0.0.5:1883' } } })
})

t.test('the config\'s operators are the logins to provision, admins with their role', async (t) => {
  const env = { [GATEWAY_PASSWORD_ENV]: 'x', [DYNSEC_PASSWORD_ENV]: 'y' }
  const settings = externalMessagingSettings({ ...DEFAULT_CONFIG.mqtt, url: 'mqtt://10.0.0.5:1883' }, env, {
    ...gateway,
    operators: [
      { name: 'watch', token: 'token-of-watch-0123' },
      { name: 'root', token: 'token-of-root-01234', roles: ['admin'] },
    ],
  })
  t.same(settings?.operators, [
    { name: 'watch', token: 'token-of-watch-0123', admin: false },
    { name: 'root', token: 'token-of-root-01234', admin: true },
  ])
})

t.test('operator logins refused by the plugin, or answered with garbage, are an alert and an error in the log, never a throw', async (t) => {
  for (const failure of [new DynsecError('dynamic security refused createClient operator:watch: Internal error'), new TypeError("Cannot read properties of null (reading 'command')")]) {
    const alerts: Array<[string, string]> = []
    const errors: string[] = []
    const logger = { info: () => {}, error: (_fields: unknown, message: string) => void errors.push(message) } as unknown as Logger
    const ok = await provisionOperatorLogins({ provisionOperators: () => Promise.reject(failure) }, [{ name: 'watch', token: 'token-of-watch-0123', admin: false }], { logger, alert: (kind, message) => void alerts.push([kind, message]) })
    t.equal(ok, false)
    t.same(alerts.map(([kind]) => kind), ['mqtt_provisioning_failed'])
    t.match(alerts[0]![1], failure.message)
    t.equal(errors.length, 1)
  }
})
