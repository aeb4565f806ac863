// The gateway has no TLS listener: a kiosk that logs in from another machine
// sends its token and transactions in clear text, and the gateway says so
// (issue 10, point 7). Tests use loopback only, so the "festival network" is a
// stand-in: the broker's isLoopback says 127.0.0.1 is not this machine.
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { createBroker, isCleartextRemote, isLoopbackAddress, type Principal } from './broker.js'

t.test('isLoopbackAddress and isCleartextRemote', async (t) => {
  for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) t.ok(isLoopbackAddress(address), address)
  for (const address of ['10.0.0.5', '192.168.1.20', '::ffff:10.0.0.5', 'fe80::1', '2001:db8::1', '128.0.0.1', '', undefined]) t.notOk(isLoopbackAddress(address), String(address))
  t.ok(isCleartextRemote({ remoteAddress: '10.0.0.5' }))
  t.notOk(isCleartextRemote({ remoteAddress: '10.0.0.5', encrypted: true }), 'TLS (a TLSSocket) is not clear text')
  t.notOk(isCleartextRemote({ remoteAddress: '127.0.0.1' }), 'a proxy or tunnel on this machine')
})

const TOKEN = 'token-bar-1-0123456789'
const authenticate = (username: string | undefined, password: string | undefined): Principal | null =>
  username === 'bar-1' && password === TOKEN ? { role: 'kiosk', kioskId: 'bar-1' } : username === 'operator:ops' && password === 'operator-token-0123' ? { role: 'operator', name: 'ops' } : null

async function brokerWithLog(t: Test, isLoopback?: (address: string | undefined) => boolean) {
  const lines: Array<Record<string, any>> = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  const broker = await createBroker({ authenticate, logger, ...(isLoopback ? { isLoopback } : {}) })
  t.teardown(() => broker.close())
  const { port } = await broker.listen('127.0.0.1', 0)
  const login = async (username: string, password: string) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username, password, reconnectPeriod: 0, connectTimeout: 5000 })
    await client.endAsync(true)
  }
  return { broker, lines, login }
}

t.test('a kiosk logging in in clear text from another machine is logged as a warning and counted', async (t) => {
  const { broker, lines, login } = await brokerWithLog(t, () => false)
  await login('bar-1', TOKEN)
  const warnings = lines.filter((l) => /connected in clear text/.test(l.msg))
  t.equal(warnings.length, 1)
  t.equal(warnings[0]!.level, 40, 'a warning')
  t.equal(warnings[0]!.kioskId, 'bar-1')
  t.equal(warnings[0]!.remoteAddress, '127.0.0.1')
  t.match(warnings[0]!.msg, /private network or a VPN/, 'it says what to do')
  t.notMatch(JSON.stringify(lines), new RegExp(TOKEN), 'never the token')
  t.equal(broker.counters().cleartextKioskLogins, 1)
  await login('operator:ops', 'operator-token-0123')
  t.equal(broker.counters().cleartextKioskLogins, 1, 'operators are not kiosks')
})

t.test('a kiosk on this machine (or behind a local TLS proxy or tunnel) is no warning', async (t) => {
  const { broker, lines, login } = await brokerWithLog(t)
  await login('bar-1', TOKEN)
  t.same(lines.filter((l) => /clear text/.test(l.msg)), [])
  t.equal(broker.counters().cleartextKioskLogins, 0)
})
