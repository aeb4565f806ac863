// The kiosk's side of MQTT over TLS: caFile goes with a TLS broker URL only
// (never a silent clear-text link), is read at start, and a failed TLS
// connection is described in an operator's words.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, loadConfig, readMqttCa } from './config.js'
import { describeTlsFailure } from './mqtt-link.js'

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'

t.test('caFile goes with an mqtts:// or wss:// broker URL only', async (t) => {
  const base = { kioskId: 'bar-1', caFile: '/etc/wristpay/gateway-ca.pem' }
  t.equal(loadConfig({ env: {}, overrides: { ...base, mqttUrl: 'mqtts://gateway.festival.lan:8883' } }).caFile, '/etc/wristpay/gateway-ca.pem')
  t.equal(loadConfig({ env: {}, overrides: { ...base, mqttUrl: 'wss://gateway.festival.lan:8884/mqtt' } }).caFile, '/etc/wristpay/gateway-ca.pem')
  t.throws(() => loadConfig({ env: {}, overrides: { ...base, mqttUrl: 'mqtt://gateway.festival.lan:1883' } }), ConfigError)
  t.throws(() => loadConfig({ env: {}, overrides: { ...base, mqttUrl: 'ws://gateway.festival.lan:8884/mqtt' } }), /caFile is for a TLS broker URL .*is clear text/)
  t.equal(loadConfig({ env: { WRISTPAY_MQTT_CA_FILE: '/ca.pem', WRISTPAY_MQTT_URL: 'mqtts://gw:8883' }, overrides: { kioskId: 'bar-1' } }).caFile, '/ca.pem', 'also from the environment')
  t.equal(loadConfig({ env: {}, overrides: { kioskId: 'bar-1' } }).caFile, undefined, "none by default: mqtts:// then trusts the system's CAs")
})

t.test('caFile is read at start: a missing file or one without a certificate is a config error', async (t) => {
  const dir = t.testdir()
  t.equal(readMqttCa({}), undefined)
  const good = join(dir, 'ca.pem')
  writeFileSync(good, PEM)
  t.equal(readMqttCa({ caFile: good })?.toString(), PEM)
  t.throws(() => readMqttCa({ caFile: join(dir, 'missing.pem') }), /caFile .*missing\.pem: ENOENT/)
  const notPem = join(dir, 'key.txt')
  writeFileSync(notPem, 'not a certificate')
  t.throws(() => readMqttCa({ caFile: notPem }), /holds no PEM certificate/)
})

t.test('a failed TLS connection says what is wrong; other errors are not TLS problems', async (t) => {
  const error = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code })
  t.match(describeTlsFailure(error('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')), /does not chain to a trusted CA .*check caFile/)
  t.match(describeTlsFailure(error('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT')), /does not chain to a trusted CA/)
  t.match(describeTlsFailure(error("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID')), /does not name the host of the broker URL/)
  t.match(describeTlsFailure(error('certificate has expired', 'CERT_HAS_EXPIRED')), /outside its validity period/)
  t.match(describeTlsFailure(error('wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER')), /did not answer with TLS/)
  t.equal(describeTlsFailure(error('connect ECONNREFUSED 127.0.0.1:8883', 'ECONNREFUSED')), null)
  t.equal(describeTlsFailure(error('Connection refused: Bad username or password')), null)
})
