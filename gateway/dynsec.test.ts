// The rules provisioned into Mosquitto's dynamic security plugin are the embedded broker's
// (broker.ts mayPublish/maySubscribe), and every answer of the plugin is checked.
import t from 'tap'
import { topics, TOPIC_ROOT } from '../device-protocol/index.js'
import { filterWithin, mayPublish, maySubscribe } from './broker.js'
import { checkResponses, createBrokerProvisioner, credentialFingerprint, DynsecError, gatewayAcls, kioskAcls, kioskRoleName, operatorAcls, type DynsecCommand, type DynsecResponse } from './dynsec.js'
import { hashToken } from './registry/secrets.js'

const TOPICS = (id: string) => [
  topics.kioskTx(id),
  topics.kioskState(id),
  topics.kioskQuery(id),
  topics.kioskCmdAnswer(id),
  topics.kioskReply(id),
  topics.kioskConfig(id),
  topics.kioskCmd(id),
]
const EVERY_TOPIC = [...TOPICS('k1'), ...TOPICS('k2'), topics.gatewayState, topics.event('alert'), topics.event('booked'), 'other/topic']

t.test('a kiosk\'s role grants exactly what the embedded broker allows that kiosk', async (t) => {
  const acls = kioskAcls('k1')
  const kiosk = { role: 'kiosk' as const, kioskId: 'k1' }
  for (const topic of EVERY_TOPIC) {
    t.equal(acls.some((a) => a.acltype === 'publishClientSend' && a.topic === topic && a.allow), mayPublish(kiosk, topic), `publish ${topic}`)
    t.equal(acls.some((a) => a.acltype === 'subscribeLiteral' && a.topic === topic && a.allow), maySubscribe(kiosk, topic), `subscribe ${topic}`)
    t.equal(acls.some((a) => a.acltype === 'publishClientReceive' && a.topic === topic && a.allow), maySubscribe(kiosk, topic), `receive ${topic}`)
  }
  t.notOk(acls.some((a) => /[+#]/.test(a.topic)), 'no wildcards')
})

t.test('the gateway\'s role covers the topic root and nothing else', async (t) => {
  t.ok(gatewayAcls().every((a) => (a.topic === `${TOPIC_ROOT}/#` || a.topic === `$share/+/${TOPIC_ROOT}/#`) && a.allow))
})

t.test('answers: "already so" passes, any other error or a missing answer throws', async (t) => {
  const commands: DynsecCommand[] = [{ command: 'createRole', rolename: 'r' }, { command: 'createClient', username: 'k1', password: 'secret-never-shown' }]
  t.doesNotThrow(() => checkResponses(commands, [{ command: 'createRole', error: 'Role already exists' }, { command: 'createClient' }]))
  t.throws(() => checkResponses(commands, [{ command: 'createRole' }]), DynsecError)
  t.throws(() => checkResponses(commands, [{ command: 'createRole' }, { command: 'createRole' }]), DynsecError)
  let message = ''
  try {
    checkResponses(commands, [{ command: 'createRole' }, { command: 'createClient', error: 'Internal error' }])
  } catch (err) {
    message = (err as Error).message
  }
  t.match(message, /createClient k1: Internal error/)
  t.notMatch(message, /secret-never-shown/, 'no password in the error')
})

t.test('a provisioning refused by the plugin rejects with DynsecError', async (t) => {
  const sent: DynsecCommand[][] = []
  const provisioner = createBrokerProvisioner({
    async run(commands) {
      sent.push([...commands])
      return commands.map((c): DynsecResponse => (c.command === 'createClient' ? { command: c.command, error: 'Invalid password' } : c.command === 'getClient' ? { command: c.command, error: 'Client not found' } : { command: c.command }))
    },
  })
  const token = 'token-of-k1-0123456789'
  await t.rejects(provisioner.provisionKiosks([{ id: 'k1', tokenHash: hashToken(token), retired: false }], new Map([['k1', token]])), DynsecError)
  const create = sent.flat().find((c) => c.command === 'createClient')
  t.match(create, { username: 'k1', password: token, clientid: 'kiosk-k1', roles: [{ rolename: kioskRoleName('k1') }], textdescription: credentialFingerprint(hashToken(token)) })
})

t.test('a token whose hash is not the registry\'s is never set', async (t) => {
  const sent: DynsecCommand[] = []
  const provisioner = createBrokerProvisioner({
    async run(commands) {
      sent.push(...commands)
      return commands.map((c): DynsecResponse => (c.command === 'getClient' ? { command: c.command, error: 'Client not found' } : { command: c.command }))
    },
  })
  const report = await provisioner.provisionKiosks([{ id: 'k1', tokenHash: hashToken('the-enrolled-token-0123'), retired: false }], new Map([['k1', 'the-event-files-old-token']]))
  t.same(report.unknownToken, ['k1'])
  t.not(sent.find((c) => c.command === 'createClient')?.password, 'the-event-files-old-token')
})

t.test('an operator\'s role grants what the embedded broker lets an operator read, and no publishing', async (t) => {
  for (const admin of [false, true]) {
    const acls = operatorAcls(admin)
    const operator = { role: 'operator' as const, name: 'o', ...(admin ? { admin: true } : {}) }
    const covers = (acltype: string, topic: string) => acls.some((a) => a.acltype === acltype && a.allow && filterWithin(topic, a.topic))
    for (const topic of EVERY_TOPIC) {
      t.equal(covers('subscribePattern', topic), maySubscribe(operator, topic), `${admin ? 'admin' : 'reader'} subscribe ${topic}`)
      t.equal(covers('publishClientReceive', topic), maySubscribe(operator, topic), `${admin ? 'admin' : 'reader'} receive ${topic}`)
    }
    t.notOk(acls.some((a) => a.acltype === 'publishClientSend'), 'publishes nothing (not even an admin: Mosquitto cannot check a command\'s by)')
  }
})

t.test('a malformed answer of the plugin is a DynsecError, never a TypeError', async (t) => {
  const answering = (answer: (c: DynsecCommand) => unknown) =>
    createBrokerProvisioner({
      async run(commands) {
        return commands.map((c) => answer(c) as DynsecResponse)
      },
    })
  const token = 'token-of-k1-0123456789'
  const kiosks = [{ id: 'k1', tokenHash: hashToken(token), retired: false }]
  const operators = [{ name: 'o', token: 'token-of-o-0123456789', admin: false }]
  await t.rejects(answering(() => null).provisionKiosks(kiosks, new Map([['k1', token]])), DynsecError, 'null answers')
  await t.rejects(answering((c) => ({ command: c.command, error: 42 })).provisionGateway({ username: 'g', password: 'gateway-password-0123' }), DynsecError, 'an error that is not a string')
  await t.rejects(answering((c) => (c.command === 'listClients' ? { command: c.command, data: { clients: 'all of them' } } : { command: c.command })).provisionOperators(operators), DynsecError, 'a client list that is no list')
  // A client with roles that are no list is taken as not in line: it is set again, nothing throws.
  const sent: string[] = []
  const odd = createBrokerProvisioner({
    async run(commands) {
      sent.push(...commands.map((c) => c.command))
      return commands.map((c) => (c.command === 'getClient' ? { command: c.command, data: { client: { roles: 'admin', textdescription: 7 } } } : c.command === 'listClients' ? { command: c.command, data: { clients: [] } } : { command: c.command }))
    },
  })
  t.same(await odd.provisionOperators(operators), { changed: ['o'], deleted: [] })
  t.ok(sent.includes('modifyClient'))
})
