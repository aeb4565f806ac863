// Where the monitor's events come from: an MQTT connection with an operator
// account, subscribed to the gateway's retained state and to the alerts. It
// reconnects by itself (mqtt.js) and turns everything it hears into model
// events; payloads that fail their schema become `invalid_payload` events, never
// exceptions. A refused login (wrong operator or token) is final: retrying it
// would only get the address blocked by the broker's login throttle.
import { randomBytes } from 'node:crypto'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { topics } from '../../device-protocol/topics.js'
import { parseJson } from '../../device-protocol/validate.js'
import { MAX_GATEWAY_STATE_BYTES, validateAlert, validateGatewayState } from './contract.js'
import type { MonitorEvent } from './model.js'

/** The MQTT username of an operator account is `operator:{name}` (gateway/app.ts; not imported: the monitor does not load the gateway). */
export const OPERATOR_USERNAME_PREFIX = 'operator:'

export const MONITOR_TOPICS = [topics.gatewayState, topics.event('alert')] as const

export interface MonitorSourceOptions {
  url: string
  operator: string
  token: string
  /** With mqtts://: the CA (PEM) the gateway's certificate must chain to; the system's CAs without. */
  ca?: string
  /** Between reconnection attempts. */
  reconnectPeriodMs?: number
  connectTimeoutMs?: number
  now?: () => number
  onEvent: (event: MonitorEvent) => void
  /** The broker refused the login or the subscription: the source has stopped. */
  onFatal: (message: string) => void
  connect?: (url: string, options: IClientOptions) => MqttClient
}

export interface MonitorSource {
  close(): Promise<void>
}

/** CONNACK return codes that retrying with the same credentials cannot fix. */
const FINAL_CONNACK: Record<number, string> = {
  2: 'the broker refused the client id',
  4: 'the broker refused the login: wrong operator name or token',
  5: 'the broker refused the login: not authorized (wrong operator or token, or this address is blocked for a while after failed logins)',
}

export function createMonitorSource(options: MonitorSourceOptions): MonitorSource {
  const now = options.now ?? Date.now
  const connect = options.connect ?? mqtt.connect
  const client = connect(options.url, {
    username: `${OPERATOR_USERNAME_PREFIX}${options.operator}`,
    password: options.token,
    // In the operator's own namespace, unique per monitor: two monitors of one operator do not kick each other off.
    clientId: `operator-${options.operator}/monitor-${randomBytes(4).toString('hex')}`,
    clean: true,
    protocolVersion: 4,
    reconnectPeriod: options.reconnectPeriodMs ?? 1_000,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    // "Server unavailable" (connection limits) is worth retrying; the final refusals end the client below.
    reconnectOnConnackError: true,
    // mqtts://: the gateway's certificate and host name are always verified.
    ...(options.url.startsWith('mqtts://') ? { rejectUnauthorized: true, ...(options.ca === undefined ? {} : { ca: options.ca }) } : {}),
  })
  let stopped = false
  let connected = false

  const fatal = (message: string) => {
    if (stopped) return
    stopped = true
    client.end(true)
    options.onFatal(message)
  }

  client.on('connect', () => {
    connected = true
    options.onEvent({ kind: 'connected', at: now() })
    client.subscribe([...MONITOR_TOPICS], { qos: 1 }, (err) => {
      if (err && !stopped && connected) fatal(`the broker refused the subscription to ${MONITOR_TOPICS.join(' and ')}: is this an operator account? (${err.message})`)
    })
  })
  client.on('close', () => {
    if (!connected) return
    connected = false
    options.onEvent({ kind: 'disconnected', at: now() })
  })
  client.on('error', (err) => {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'number' && FINAL_CONNACK[code] !== undefined) return fatal(FINAL_CONNACK[code])
    options.onEvent({ kind: 'connect_failed', error: err.message, at: now() })
  })
  client.on('message', (topic, payload) => {
    const at = now()
    if (topic === topics.gatewayState) {
      const parsed = parseJson(payload, validateGatewayState, MAX_GATEWAY_STATE_BYTES)
      options.onEvent(parsed.ok ? { kind: 'gateway_state', state: parsed.value, at } : { kind: 'invalid_payload', topic, error: parsed.error, at })
    } else if (topic === topics.event('alert')) {
      const parsed = parseJson(payload, validateAlert)
      options.onEvent(parsed.ok ? { kind: 'alert', alert: parsed.value, at } : { kind: 'invalid_payload', topic, error: parsed.error, at })
    }
  })

  return {
    async close() {
      stopped = true
      await client.endAsync(true)
    },
  }
}
