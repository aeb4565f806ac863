// The source against a stand-in client: what each MQTT event becomes for the model.
import t from 'tap'
import { EventEmitter } from 'node:events'
import type { IClientOptions, MqttClient } from 'mqtt'
import { topics } from '../../device-protocol/topics.js'
import type { MonitorEvent } from './model.js'
import { createMonitorSource, MONITOR_TOPICS } from './source.js'
import { fixtureGatewayState } from './testing/fleet-fixtures.js'

class FakeClient extends EventEmitter {
  subscribed: string[] = []
  ended = false
  subscribe(filters: string[], _options: unknown, done: (err?: Error) => void) {
    this.subscribed.push(...filters)
    done(this.refuseSubscription ? Object.assign(new Error('Subscribe error: Unspecified error'), { code: 128 }) : undefined)
  }
  refuseSubscription = false
  end() {
    this.ended = true
  }
  async endAsync() {
    this.ended = true
  }
}

function world() {
  const client = new FakeClient()
  const events: MonitorEvent[] = []
  const fatal: string[] = []
  let options: IClientOptions | undefined
  let at = 1000
  const source = createMonitorSource({
    url: 'mqtt://127.0.0.1:1883',
    operator: 'ops',
    token: 'operator-token-0123',
    now: () => at++,
    onEvent: (e) => events.push(e),
    onFatal: (m) => fatal.push(m),
    connect: (_url, o) => {
      options = o
      return client as unknown as MqttClient
    },
  })
  return { client, events, fatal, source, options: () => options! }
}

t.test('it logs in as operator:NAME under its own client id and subscribes to the gateway state and the alerts', async (t) => {
  const w = world()
  t.match(w.options(), { username: 'operator:ops', password: 'operator-token-0123', clean: true })
  t.match(w.options().clientId, /^operator-ops\/monitor-[0-9a-f]{8}$/)
  w.client.emit('connect')
  t.same(w.client.subscribed, [...MONITOR_TOPICS])
  t.same(MONITOR_TOPICS, [topics.gatewayState, topics.event('alert')])
  t.same(w.events, [{ kind: 'connected', at: 1000 }])
  w.client.emit('close')
  w.client.emit('close')
  t.same(w.events.slice(1), [{ kind: 'disconnected', at: 1001 }], 'one disconnection per connection')
})

t.test('over mqtts:// the certificate is always verified, against the CA given', async (t) => {
  let options: IClientOptions | undefined
  const connect = (_url: string, o: IClientOptions) => {
    options = o
    return new FakeClient() as unknown as MqttClient
  }
  const base = { operator: 'ops', token: 'operator-token-0123', onEvent: () => undefined, onFatal: () => undefined, connect }
  createMonitorSource({ ...base, url: 'mqtts://gateway.local:8883', ca: 'PEM' })
  t.match(options, { rejectUnauthorized: true, ca: 'PEM' })
  createMonitorSource({ ...base, url: 'mqtts://gateway.local:8883' })
  t.match(options, { rejectUnauthorized: true })
  t.notOk(options && 'ca' in options, "the system's CAs")
  createMonitorSource({ ...base, url: 'mqtt://127.0.0.1:1883' })
  t.notOk(options && 'rejectUnauthorized' in options, 'nothing of TLS on a clear-text URL')
})

t.test('payloads: valid ones become model events, invalid ones are counted, none throws', async (t) => {
  const w = world()
  w.client.emit('connect')
  const state = fixtureGatewayState(20)
  const alert = { kind: 'chain_break', message: 'seq 12 after 9', kiosk: 'kiosk-003', at: 5 }
  w.client.emit('message', topics.gatewayState, Buffer.from(JSON.stringify(state)))
  w.client.emit('message', topics.event('alert'), Buffer.from(JSON.stringify(alert)))
  w.client.emit('message', topics.gatewayState, Buffer.from('{not json'))
  w.client.emit('message', topics.gatewayState, Buffer.from(JSON.stringify({ ...state, fleet: [{ kiosk: 'x' }] })))
  w.client.emit('message', topics.event('alert'), Buffer.from(JSON.stringify({ ...alert, at: 'yesterday' })))
  const kinds = w.events.map((e) => e.kind)
  t.same(kinds, ['connected', 'gateway_state', 'alert', 'invalid_payload', 'invalid_payload', 'invalid_payload'])
  t.same((w.events[1] as { state: unknown }).state, state)
  t.same((w.events[2] as { alert: unknown }).alert, alert)
  t.match(w.events[3], { topic: topics.gatewayState, error: 'payload is not valid JSON' })
  t.match(w.events[5], { topic: topics.event('alert'), error: /\/at/ })
})

t.test('a refused login or subscription stops the source; other errors leave it retrying', async (t) => {
  const wrong = world()
  wrong.client.emit('error', Object.assign(new Error('Connection refused: Bad username or password'), { code: 4 }))
  t.same(wrong.fatal, ['the broker refused the login: wrong operator name or token'])
  t.equal(wrong.client.ended, true)

  const busy = world()
  busy.client.emit('error', Object.assign(new Error('Connection refused: Server unavailable'), { code: 3 }))
  busy.client.emit('error', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1883'), { code: 'ECONNREFUSED' }))
  t.same(busy.fatal, [])
  t.equal(busy.client.ended, false)
  t.same(
    busy.events.map((e) => e.kind === 'connect_failed' && e.error),
    ['Connection refused: Server unavailable', 'connect ECONNREFUSED 127.0.0.1:1883'],
    'each failed attempt is told to the model',
  )

  const notOperator = world()
  notOperator.client.refuseSubscription = true
  notOperator.client.emit('connect')
  t.match(notOperator.fatal, [/refused the subscription .*is this an operator account/])
  await notOperator.source.close()
})
