// Test-only: plays the gateway for kiosk tests. Subscribes to every kiosk's tx
// topic, checks signature, seq and chain like the real gateway would, and
// answers with whatever the test's policy decides. A re-sent id gets its first
// answer again; a gap gets a ResendRequest.
import mqtt, { type MqttClient } from 'mqtt'
import type { KeyObject } from 'node:crypto'
import type { BalanceAnswer, BalanceQuery, ChainQuery, Envelope, ReplyMessage, TxResult } from '../../device-protocol/index.js'
import { GENESIS_HASH, envelopeHash, parseJson, topics, validateEnvelope, validateKioskQuery, verifyEnvelope } from '../../device-protocol/index.js'

/** What to answer to a new in-order transaction; null = stay silent (as if the gateway were stuck). */
export type Policy = (envelope: Envelope) => Omit<TxResult, 'kind' | 'id' | 'seq'> | null

/** What to answer to a balance query; null = stay silent. */
export type QueryPolicy = (query: BalanceQuery) => Omit<BalanceAnswer, 'kind' | 'requestId' | 'uid'> | null

export interface Responder {
  /** Every valid transaction received, duplicates included, in arrival order. */
  readonly received: Envelope[]
  readonly answered: Map<string, TxResult>
  /** Things a real gateway would refuse: bad signature, broken chain, seq reuse. */
  readonly problems: string[]
  readonly resendRequests: number[]
  policy: Policy
  /** Balance queries received, in arrival order. */
  readonly queries: BalanceQuery[]
  queryPolicy: QueryPolicy
  /** Chain questions received (answered with the responder's own record of each kiosk's chain). */
  readonly chainQueries: ChainQuery[]
  /** Publishes anything on any topic (hostile payloads for tests). */
  publishRaw(topic: string, payload: string | Buffer, retain?: boolean): Promise<void>
  isConnected(): boolean
  /** How many times the responder subscribed (once per connect). */
  subscriptions(): number
  /** While true, answers are kept back until releaseHeld() (a slow gateway). */
  holdReplies: boolean
  releaseHeld(): void
  /**
   * Forgets what it booked of `kiosk` from `nextSeq` on and expects that seq
   * next, as a gateway restored from a backup taken before it.
   */
  restoreTo(kiosk: string, nextSeq: number): void
  stop(): Promise<void>
}

export interface ResponderOptions {
  url: string
  username: string
  password: string
  publicKey?: KeyObject
  policy?: Policy
}

export async function startResponder(options: ResponderOptions): Promise<Responder> {
  const received: Envelope[] = []
  const answered = new Map<string, TxResult>()
  const problems: string[] = []
  const resendRequests: number[] = []
  const chains = new Map<string, { expectedSeq: number; lastHash: string }>()
  /** What it booked per kiosk, in seq order (restoreTo goes back in it). */
  const booked = new Map<string, Array<{ seq: number; id: string; hash: string }>>()

  const client: MqttClient = mqtt.connect(options.url, {
    username: options.username,
    password: options.password,
    clientId: `test-gateway-${Math.random().toString(16).slice(2)}`,
    reconnectPeriod: 50,
  })
  client.on('error', () => {})
  // Subscribed again after every reconnect (a restarted test broker forgets everything).
  let subscriptions = 0
  const subscribed = new Promise<void>((resolve) => {
    client.on('connect', () => {
      client.subscribe([topics.allKioskTx, topics.allKioskQuery], { qos: 1 }, (err) => {
        if (err) return
        subscriptions += 1
        resolve()
      })
    })
  })
  const held: Array<[string, ReplyMessage]> = []

  const responder: Responder = {
    received,
    answered,
    problems,
    resendRequests,
    policy: options.policy ?? (() => ({ status: 'accepted', balance: 0 })),
    queries: [],
    chainQueries: [],
    queryPolicy: () => ({ status: 'ok', balance: 0 }),
    async publishRaw(topic, payload, retain = false) {
      await client.publishAsync(topic, payload, { qos: 1, retain })
    },
    isConnected: () => client.connected,
    subscriptions: () => subscriptions,
    holdReplies: false,
    releaseHeld() {
      for (const [kiosk, message] of held.splice(0)) send(kiosk, message)
    },
    restoreTo(kiosk, nextSeq) {
      const kept = (booked.get(kiosk) ?? []).filter((b) => b.seq < nextSeq)
      for (const lost of (booked.get(kiosk) ?? []).filter((b) => b.seq >= nextSeq)) answered.delete(lost.id)
      booked.set(kiosk, kept)
      chains.set(kiosk, { expectedSeq: nextSeq, lastHash: kept.at(-1)?.hash ?? GENESIS_HASH })
    },
    async stop() {
      await client.endAsync(true)
    },
  }

  const send = (kiosk: string, message: ReplyMessage) => {
    client.publish(topics.kioskReply(kiosk), JSON.stringify(message), { qos: 1 })
  }
  const reply = (kiosk: string, message: ReplyMessage) => {
    if (responder.holdReplies) held.push([kiosk, message])
    else send(kiosk, message)
  }

  client.on('message', (topic, payload) => {
    if (topic.endsWith('/query')) {
      const query = parseJson(payload, validateKioskQuery)
      if (!query.ok) {
        problems.push(`invalid query: ${query.error}`)
        return
      }
      const kiosk = topic.split('/')[3]!
      if (query.value.kind === 'chain') {
        responder.chainQueries.push(query.value)
        const chain = chains.get(kiosk) ?? { expectedSeq: 1, lastHash: GENESIS_HASH }
        reply(kiosk, { kind: 'chain', requestId: query.value.requestId, nextSeq: chain.expectedSeq, lastHash: chain.lastHash })
        return
      }
      responder.queries.push(query.value)
      const answer = responder.queryPolicy(query.value)
      if (answer) reply(kiosk, { ...answer, kind: 'balance', requestId: query.value.requestId, uid: query.value.uid })
      return
    }
    const parsed = parseJson(payload, validateEnvelope)
    if (!parsed.ok) {
      problems.push(`invalid envelope: ${parsed.error}`)
      return
    }
    const envelope = parsed.value
    const { tx } = envelope
    received.push(envelope)
    if (options.publicKey && !verifyEnvelope(envelope, options.publicKey)) {
      problems.push(`bad signature on seq ${tx.seq}`)
      return
    }
    const first = answered.get(tx.id)
    if (first) {
      reply(tx.kiosk, first)
      return
    }
    const chain = chains.get(tx.kiosk) ?? { expectedSeq: 1, lastHash: GENESIS_HASH }
    chains.set(tx.kiosk, chain)
    if (tx.seq > chain.expectedSeq) {
      resendRequests.push(chain.expectedSeq)
      reply(tx.kiosk, { kind: 'resend', fromSeq: chain.expectedSeq })
      return
    }
    if (tx.seq < chain.expectedSeq) {
      problems.push(`seq ${tx.seq} reused by another id`)
      return
    }
    if (tx.prev !== chain.lastHash) problems.push(`chain broken at seq ${tx.seq}`)
    const decision = responder.policy(envelope)
    if (!decision) return
    chain.expectedSeq += 1
    chain.lastHash = envelopeHash(envelope)
    booked.set(tx.kiosk, [...(booked.get(tx.kiosk) ?? []), { seq: tx.seq, id: tx.id, hash: chain.lastHash }])
    const result: TxResult = { ...decision, kind: 'result', id: tx.id, seq: tx.seq }
    answered.set(tx.id, result)
    reply(tx.kiosk, result)
  })

  await subscribed
  return responder
}
