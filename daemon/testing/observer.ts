// Test-only: an MQTT client that records what arrives on a topic filter.
import mqtt from 'mqtt'

export interface Observed {
  topic: string
  payload: string
  retain: boolean
}

export interface Observer {
  readonly messages: Observed[]
  /** Parsed JSON of the messages on `topic`. */
  json(topic: string): unknown[]
  stop(): Promise<void>
}

export async function startObserver(url: string, username: string, password: string, filter: string): Promise<Observer> {
  const client = mqtt.connect(url, { username, password, clientId: `observer-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 50 })
  const messages: Observed[] = []
  client.on('error', () => {})
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }))
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))
  await client.subscribeAsync(filter, { qos: 1 })
  return {
    messages,
    json: (topic) => messages.filter((m) => m.topic === topic && m.payload.length > 0).map((m) => JSON.parse(m.payload) as unknown),
    stop: () => client.endAsync(true),
  }
}
