// The shared broker ACL cases (testing/broker-acl-cases.ts) against the embedded aedes;
// external-broker.test.ts runs the same cases against Mosquitto.
import t from 'tap'
import { pino } from 'pino'
import { createBroker, type Principal } from './broker.js'
import { ACL_KIOSKS, ACL_OPERATORS, runBrokerAclCases, type AclKiosk, type AclWorld } from './testing/broker-acl-cases.js'

const tokens = Object.fromEntries(ACL_KIOSKS.map((k) => [k, `token-of-${k}-0123456789`])) as Record<AclKiosk, string>
const active = new Set<string>(ACL_KIOSKS)
const received: AclWorld['received'] = []

const broker = await createBroker({
  logger: pino({ level: 'silent' }),
  // The refused logins of the first case must not block 127.0.0.1 for the others (broker.test.ts tests the throttle).
  limits: { loginFailuresBeforeBlock: 1_000 },
  authenticate: (username, password): Principal | null => {
    // As gateway/app.ts: operator:{name} with the operator's token, admins with the admin role.
    const operator = Object.values(ACL_OPERATORS).find((op) => username === `operator:${op.name}`)
    if (operator !== undefined) return password === operator.token ? { role: 'operator', name: operator.name, ...(operator === ACL_OPERATORS.admin ? { admin: true } : {}) } : null
    return username !== undefined && active.has(username) && tokens[username as AclKiosk] === password ? { role: 'kiosk', kioskId: username } : null
  },
  onKioskTx: (kioskId, payload) => received.push({ kind: 'tx', kioskId, payload: payload.toString('utf8') }),
  onKioskState: (kioskId, state) => received.push({ kind: 'state', kioskId, payload: JSON.stringify(state) }),
})
const { port } = await broker.listen('127.0.0.1', 0)
t.teardown(() => broker.close())

const world: AclWorld = {
  url: `mqtt://127.0.0.1:${port}`,
  tokens,
  received,
  publish: (topic, payload, options) => broker.publish(topic, payload, options),
  async revoke(kioskId) {
    // What the gateway does when a kiosk is retired: its login goes, its connection is closed.
    active.delete(kioskId)
    broker.disconnectKiosk(kioskId)
  },
}

runBrokerAclCases(t, () => world)
