// A kiosk as a whole-gateway test drives it over real MQTT: its own key
// (enrolled through the admin API), its chain, its session and the replies
// it got. Shared by the tests that start a gateway in-process and talk to it
// the way a kiosk daemon does (app.test.ts, metrics/gateway-metrics.test.ts).
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { GENESIS_HASH, envelopeHash, publicKeyToBase64Url, signTransaction, topics, validateReply, type Envelope, type Line, type ReplyMessage, type Transaction } from '../../device-protocol/index.js'
import { waitFor } from './wait.js'

/** Where the gateway under test listens. */
export interface GatewayUnderTest {
  mqttUrl: string
  httpBase: string
}

/** Polls (bounded) until a condition holds: what is waited for comes over a socket. */
export { waitFor }

/** An MQTT client of the test, ended when the test ends. */
export async function connectClient(t: Test, url: string, username: string, password: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { username, password, reconnectPeriod: 0, connectTimeout: 5000 })
  t.teardown(() => client.endAsync(true))
  return client
}

export class MqttTestKiosk {
  readonly privateKey: KeyObject
  readonly publicKey: string
  seq = 0
  prev = GENESIS_HASH
  replies: ReplyMessage[] = []
  client!: MqttClient
  closed = false

  /** `uid`: the wristband every transaction it signs is for. */
  constructor(
    readonly id: string,
    private readonly credentials: { adminToken: string; kioskToken: string; uid: string },
  ) {
    const pair = generateKeyPairSync('ed25519')
    this.privateKey = pair.privateKey
    this.publicKey = publicKeyToBase64Url(pair.publicKey)
  }

  /** Enrols its public key through the admin API: the answer's status and body. */
  async enrollAnswer(h: GatewayUnderTest): Promise<{ status: number; text: string }> {
    const res = await fetch(`${h.httpBase}/admin/kiosks/${this.id}/public-key`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${this.credentials.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ publicKey: this.publicKey }),
    })
    return { status: res.status, text: await res.text() }
  }

  /** Enrols its public key through the admin API; throws unless it was taken. */
  async enroll(h: GatewayUnderTest): Promise<void> {
    const { status, text } = await this.enrollAnswer(h)
    if (status !== 200) throw new Error(`enroll failed: ${status} ${text}`)
  }

  /** Connects with its token and subscribes to its replies; `closed` tells when the gateway dropped the session. */
  async connect(t: Test, h: GatewayUnderTest): Promise<void> {
    this.client = await connectClient(t, h.mqttUrl, this.id, this.credentials.kioskToken)
    this.closed = false
    this.client.on('close', () => (this.closed = true))
    this.client.on('message', (topic, payload) => {
      if (topic !== topics.kioskReply(this.id)) return
      const reply = validateReply(JSON.parse(payload.toString('utf8')))
      if (reply.ok) this.replies.push(reply.value)
    })
    await this.client.subscribeAsync(topics.kioskReply(this.id), { qos: 1 })
  }

  /** Enrols, then connects. */
  async join(t: Test, h: GatewayUnderTest): Promise<void> {
    await this.enroll(h)
    await this.connect(t, h)
  }

  /** The next transaction of its chain, signed. */
  sign(type: Transaction['type'], amount: number, lines: Line[] = []): Envelope {
    const tx: Transaction = { v: 1, id: uuidv7(), kiosk: this.id, seq: this.seq + 1, prev: this.prev, type, tag: { uid: this.credentials.uid, type: 'ntag215' }, lines, amount, at: Date.now() }
    const envelope = signTransaction(tx, this.privateKey)
    this.seq = tx.seq
    this.prev = envelopeHash(envelope)
    return envelope
  }

  /** Publishes an envelope and resolves with the gateway's reply to it. */
  async send(envelope: Envelope): Promise<ReplyMessage> {
    const before = this.replies.length
    await this.client.publishAsync(topics.kioskTx(this.id), JSON.stringify(envelope), { qos: 1 })
    const mine = () => this.replies.slice(before).find((r) => r.kind === 'result' && r.id === envelope.tx.id)
    await waitFor(() => mine() !== undefined, `reply to ${envelope.tx.id}`)
    return mine()!
  }
}
