// MQTT over TLS (config mqtt.tls): the broker's TCP listener speaks only TLS,
// with the same logins and limits; a kiosk on TLS from another machine is not
// a clear-text login. Tests use loopback only, so the "festival network" is a
// stand-in: the broker's isLoopback says 127.0.0.1 is not this machine.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { makeTestCertificates, type TestCertificates } from '../device-protocol/testing/test-certificates.js'
import { topics } from '../device-protocol/index.js'
import { createBroker, type Principal } from './broker.js'
import { loadConfig } from './config.js'
import { readTlsCredentials } from './tls-credentials.js'
import { waitFor as waitForPolls } from './testing/wait.js'

const waitFor = (condition: () => boolean | Promise<boolean>, what: string) => waitForPolls(condition, what, { polls: 1000 })

const TOKEN = 'token-bar-1-0123456789'
const authenticate = (username: string | undefined, password: string | undefined): Principal | null =>
  username === 'bar-1' && password === TOKEN ? { role: 'kiosk', kioskId: 'bar-1' } : null

const dir = mkdtempSync(join(tmpdir(), 'wristpay-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
// Made once for the file: the gateway's CA and certificate, and a stranger's CA.
let gatewayCerts: TestCertificates
let otherCerts: TestCertificates
t.before(async () => {
  gatewayCerts = await makeTestCertificates(dir, 'gateway')
  otherCerts = await makeTestCertificates(dir, 'other')
})

async function tlsBroker(t: Test) {
  const lines: Array<Record<string, any>> = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  const received: string[] = []
  const broker = await createBroker({
    authenticate,
    logger,
    isLoopback: () => false,
    tls: readTlsCredentials({ certFile: gatewayCerts.certFile, keyFile: gatewayCerts.keyFile }),
    onKioskTx: (_kioskId, payload) => received.push(payload.toString()),
  })
  t.teardown(() => broker.close())
  const { port } = await broker.listen('127.0.0.1', 0)
  return { broker, port, lines, received }
}

t.test('a kiosk logs in over TLS, verifying the certificate, and is no clear-text login', async (t) => {
  const { broker, port, lines, received } = await tlsBroker(t)
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    username: 'bar-1',
    password: TOKEN,
    ca: gatewayCerts.ca,
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  })
  t.teardown(() => client.endAsync(true))
  await client.publishAsync(topics.kioskTx('bar-1'), '{"over":"tls"}', { qos: 1 })
  t.same(received, ['{"over":"tls"}'], 'the broker got the transaction')
  t.equal(broker.counters().cleartextKioskLogins, 0, 'TLS from another machine is not clear text')
  t.same(lines.filter((l) => /clear text/.test(l.msg)), [])
  t.notMatch(JSON.stringify(lines), new RegExp(TOKEN), 'never the token')
})

t.test('a client that trusts another CA refuses the certificate and never logs in', async (t) => {
  const { broker, port } = await tlsBroker(t)
  const error = await mqtt
    .connectAsync(`mqtts://127.0.0.1:${port}`, { username: 'bar-1', password: TOKEN, ca: otherCerts.ca, rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 10_000 })
    .then(
      async (client) => {
        await client.endAsync(true)
        return null
      },
      (err: Error & { code?: string }) => err,
    )
  t.match(error?.code, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED/, 'refused by the client')
  t.equal(broker.counters().authFailures, 0, 'no login reached the broker')
  t.equal(broker.counters().connectedClients, 0)
})

t.test('a client checks the host name: a certificate for another name is refused even from the trusted CA', async (t) => {
  const named = await makeTestCertificates(dir, 'named', { dnsNames: ['gateway.festival.lan'], ips: [] })
  const broker = await createBroker({ authenticate, logger: pino({ level: 'silent' }), tls: readTlsCredentials({ certFile: named.certFile, keyFile: named.keyFile }) })
  t.teardown(() => broker.close())
  const { port } = await broker.listen('127.0.0.1', 0)
  const error = await mqtt
    .connectAsync(`mqtts://127.0.0.1:${port}`, { username: 'bar-1', password: TOKEN, ca: named.ca, rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 10_000 })
    .then(
      async (client) => {
        await client.endAsync(true)
        return null
      },
      (err: Error & { code?: string }) => err,
    )
  t.equal(error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  t.equal(broker.counters().authFailures, 0, 'no login reached the broker')
})

t.test('a client without TLS gets no MQTT session on the TLS listener; the failed handshake is counted', async (t) => {
  const { broker, port } = await tlsBroker(t)
  // What an mqtt:// client sends first: a CONNECT packet, in clear text.
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write(Buffer.from('101000044d5154540402003c0004626172', 'hex'))
  await closed
  t.equal(broker.counters().tlsHandshakeFailures, 1)
  t.equal(broker.counters().connectedClients, 0)
  t.equal(broker.counters().authFailures, 0)
})

t.test('the certificate files are checked at start, naming the setting and never quoting the key', async (t) => {
  t.throws(() => readTlsCredentials({ certFile: join(dir, 'missing.pem'), keyFile: gatewayCerts.keyFile }), /mqtt\.tls\.certFile: cannot read .*missing\.pem \(ENOENT\)/)
  t.throws(() => readTlsCredentials({ certFile: gatewayCerts.certFile, keyFile: gatewayCerts.keyFile, caFile: join(dir, 'nope.pem') }), /mqtt\.tls\.caFile: cannot read/)
  let mismatch: Error | undefined
  try {
    readTlsCredentials({ certFile: gatewayCerts.certFile, keyFile: otherCerts.keyFile })
  } catch (err) {
    mismatch = err as Error
  }
  t.match(mismatch?.message, /mqtt\.tls: .*gateway-cert\.pem and .*other-key\.pem are not a usable certificate and key/)
  t.notMatch(mismatch?.message, /PRIVATE KEY/, 'the key is not quoted')
  const credentials = readTlsCredentials({ certFile: gatewayCerts.certFile, keyFile: gatewayCerts.keyFile, caFile: gatewayCerts.caFile })
  t.equal(credentials.ca?.toString(), gatewayCerts.ca)
})

t.test('mqtt.tls in a config file: paths relative to the file, certFile and keyFile both required', async (t) => {
  const file = join(dir, 'gateway.json')
  writeFileSync(file, JSON.stringify({ mqtt: { host: '0.0.0.0', port: 8883, tls: { certFile: 'gateway-cert.pem', keyFile: '/etc/wristpay/key.pem' } } }))
  const config = loadConfig({ file, env: {} })
  t.same(config.mqtt.tls, { certFile: join(dir, 'gateway-cert.pem'), keyFile: '/etc/wristpay/key.pem' })
  t.equal(loadConfig({ env: {} }).mqtt.tls, undefined, 'plain MQTT by default')
  writeFileSync(file, JSON.stringify({ mqtt: { tls: { certFile: 'gateway-cert.pem' } } }))
  t.throws(() => loadConfig({ file, env: {} }), /invalid gateway config: .*keyFile/)
})

