// A load generator that plays many kiosks at the protocol level: each one
// signs transactions with its own key and hash chain, publishes them QoS 1 and
// matches the gateway's replies. It has no outbox and no reader: it is for
// benchmarks and load tests, where the real kiosk daemon would measure itself
// instead of the gateway. The demo uses real kiosk daemons.
import type { KeyObject } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import { v7 as uuidv7 } from 'uuid'
import {
  envelopeHash,
  GENESIS_HASH,
  signTransaction,
  topics,
  validateReply,
  parseJson,
  type Clock,
  type Envelope,
  type Line,
  type TransactionType,
  type TxResult,
} from '../../device-protocol/index.js'

export interface FleetKioskOptions {
  kioskId: string
  token: string
  privateKey: KeyObject
  mqttUrl: string
  clock: Clock
  /** Where the chain starts (a restarted simulator continues an existing kiosk). */
  nextSeq?: number
  lastHash?: string
}

export interface SendOutcome {
  result: TxResult
  latencyMs: number
}

export interface FleetKiosk {
  readonly kioskId: string
  connect(): Promise<void>
  send(type: TransactionType, tagUid: string, lines: Line[], amount: number): Promise<SendOutcome>
  /**
   * Signs the next transaction of this kiosk's chain without sending it, stamped
   * `atMs` (default now): a load generator signs a phase's sales ahead so that
   * signing does not limit what it offers. Send them with sendSigned, in order.
   */
  sign(type: TransactionType, tagUid: string, lines: Line[], amount: number, atMs?: number): Envelope
  /** Publishes an envelope made by sign() and resolves with the gateway's answer. */
  sendSigned(envelope: Envelope): Promise<SendOutcome>
  inFlight(): number
  close(): Promise<void>
}

interface Pending {
  envelope: Envelope
  sentAtMs: number
  resolve(outcome: SendOutcome): void
}

export function createFleetKiosk(options: FleetKioskOptions): FleetKiosk {
  const { kioskId, clock } = options
  let nextSeq = options.nextSeq ?? 1
  let lastHash = options.lastHash ?? GENESIS_HASH
  const pendingById = new Map<string, Pending>()
  let client: MqttClient | undefined

  function publish(envelope: Envelope): void {
    client?.publish(topics.kioskTx(kioskId), JSON.stringify(envelope), { qos: 1 })
  }

  function onReply(payload: Buffer): void {
    const parsed = parseJson(payload, validateReply)
    if (!parsed.ok) return
    const reply = parsed.value
    if (reply.kind === 'resend') {
      // The gateway saw a gap: send everything still unanswered from there, in order.
      const again = [...pendingById.values()].filter((p) => p.envelope.tx.seq >= reply.fromSeq)
      again.sort((a, b) => a.envelope.tx.seq - b.envelope.tx.seq)
      for (const p of again) publish(p.envelope)
      return
    }
    // The fleet asks no balance questions: such an answer is not for it.
    if (reply.kind !== 'result') return
    const pending = pendingById.get(reply.id)
    if (!pending) return
    pendingById.delete(reply.id)
    pending.resolve({ result: reply, latencyMs: clock.now() - pending.sentAtMs })
  }

  function sign(type: TransactionType, tagUid: string, lines: Line[], amount: number, atMs?: number): Envelope {
    const tx = {
      v: 1 as const,
      id: uuidv7(),
      kiosk: kioskId,
      seq: nextSeq,
      prev: lastHash,
      type,
      tag: { uid: tagUid, type: 'ntag215' },
      lines,
      amount,
      at: atMs ?? clock.now(),
    }
    const envelope = signTransaction(tx, options.privateKey)
    nextSeq += 1
    lastHash = envelopeHash(envelope)
    return envelope
  }

  function sendSigned(envelope: Envelope): Promise<SendOutcome> {
    return new Promise<SendOutcome>((resolve) => {
      pendingById.set(envelope.tx.id, { envelope, sentAtMs: clock.now(), resolve })
      publish(envelope)
    })
  }

  return {
    kioskId,
    async connect() {
      client = await mqtt.connectAsync(options.mqttUrl, {
        clientId: `fleet-${kioskId}`,
        username: kioskId,
        password: options.token,
        clean: true,
        reconnectPeriod: 500,
      })
      // Like the kiosk daemon (daemon/mqtt-link.ts): a sale is one small packet that waits for its answer,
      // so it goes out at once instead of waiting behind Nagle for the broker's delayed ACK.
      const noDelay = () => (client as unknown as { stream?: { setNoDelay?: (on: boolean) => void } } | undefined)?.stream?.setNoDelay?.(true)
      noDelay()
      client.on('connect', noDelay)
      client.on('message', (topic, payload) => {
        if (topic === topics.kioskReply(kioskId)) onReply(payload)
      })
      await client.subscribeAsync(topics.kioskReply(kioskId), { qos: 1 })
    },
    send: (type, tagUid, lines, amount) => sendSigned(sign(type, tagUid, lines, amount)),
    sign,
    sendSigned,
    inFlight: () => pendingById.size,
    async close() {
      await client?.endAsync()
    },
  }
}
