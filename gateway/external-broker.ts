// The gateway's messaging over an external MQTT broker (Mosquitto 2 with the
// dynamic security plugin), behind the same Broker interface as the embedded
// aedes (broker.ts), so that ingest, the fleet view and the commands do not
// know which one they have. The differences:
//  - the gateway is a client of the broker: one mqtt.js connection (MQTT 5)
//    with a session that outlives a restart (clean: false, a client id of its
//    own that stays the same across restarts) and QoS 1 subscriptions, so what
//    kiosks send while the gateway restarts waits in the broker and is
//    delivered when it is back. The session expires SESSION_EXPIRY_S after the
//    connection is lost: a gateway that does not come back leaves the share
//    group then, and the other gateways get all the kiosks' transactions (the
//    broker drops what the dead session held; kiosks send their oldest
//    unanswered transaction again, daemon/unanswered-nudge.ts, and then what
//    the gateway asks for at the gap). A short keepalive makes the broker see
//    a gateway whose machine vanished within KEEPALIVE_S × 1.5;
//  - several gateways may share one broker: transactions and queries reach
//    one gateway of the share group each (gatewaySubscriptions), while kiosk
//    states and command answers reach every gateway;
//  - who may connect and which topics each may use is the broker's job, fed by
//    the gateway through dynsec.ts; the kiosk id of a message is the one in its
//    topic, which the broker's ACLs let only that kiosk publish on;
//  - there are no listeners here: listen() connects and subscribes, and the
//    login limits, client-id rules and packet bounds are the broker's settings.
import mqtt, { type IClientOptions, type ISubscriptionMap, type MqttClient } from 'mqtt'
import { parseJson, topics, TOPIC_ROOT, validateKioskState } from '../device-protocol/index.js'
import type { Broker, BrokerCounters, BrokerOptions } from './broker.js'

export interface ExternalBrokerSettings {
  /** mqtt:// or mqtts:// URL of the broker. */
  url: string
  /** The gateway's own account at the broker. */
  username: string
  password: string
  /** This gateway's own, the same at every start: the persistent session is found again under it after a restart. */
  clientId: string
  /** The shared-subscription group of the gateways that split the kiosks' transactions; default DEFAULT_SHARE_GROUP. */
  shareGroup?: string
  /** More mqtt.js options (a CA for mqtts://). */
  connectOptions?: IClientOptions
  /** Bound on the first connection; default 10 s. */
  connectTimeoutMs?: number
  /** How long the broker keeps this gateway's session after its connection is lost; default SESSION_EXPIRY_S. */
  sessionExpiryS?: number
}

/**
 * A restarted gateway (systemd restarts it within seconds) finds its session and what it held; one that stays
 * away longer leaves the share group, so the others take all the kiosks' transactions.
 */
export const SESSION_EXPIRY_S = 20
/** MQTT keepalive: the broker drops a connection silent for 1.5 times this, so a vanished machine is noticed. */
export const KEEPALIVE_S = 5
/** The most transactions the broker hands the gateway before it acknowledges any (README: max_inflight_messages). */
export const RECEIVE_MAXIMUM = 1_000

export type ExternalBrokerOptions = Pick<BrokerOptions, 'logger' | 'onKioskTx' | 'onKioskQuery' | 'onKioskState' | 'onKioskCommandAnswer'> & {
  /**
   * Resolves once every kiosk tx handed to onKioskTx so far is committed (or given up: the kiosk sends it
   * again); ingest's settled(). With it, a tx message's PUBACK waits for that (holdTxAcksUntilSettled);
   * without it, every message is acknowledged as soon as it is handed over.
   */
  kioskTxSettled?: () => Promise<void>
}

export const DEFAULT_SHARE_GROUP = 'wristpay-gateways'

/**
 * The kiosk messages a gateway reads (QoS 1). Transactions and queries go through the shared subscription of
 * `shareGroup`: the broker hands each one to a single gateway of the group, any of which can book or answer it
 * (they share the ledger's database). Kiosk states and command answers are read by every gateway: each keeps
 * its own fleet view (its gateway/state and its metrics show the whole fleet, and the retained states are
 * what a gateway starting up learns the fleet from), and a command's answer is awaited only by the gateway
 * that sent it (the others log it and go on).
 */
export function gatewaySubscriptions(shareGroup: string = DEFAULT_SHARE_GROUP): string[] {
  return [`$share/${shareGroup}/${topics.allKioskTx}`, topics.allKioskState, `$share/${shareGroup}/${topics.allKioskQuery}`, topics.allKioskCmdAnswers]
}

/**
 * Unshared subscriptions to what is now shared: a persistent session made before the gateways shared the broker
 * (or by a gateway without a share group) keeps them, and would then give this gateway every transaction as
 * well as its share.
 */
const UNSHARED_FILTERS = [topics.allKioskTx, topics.allKioskQuery]

/** A share group name: one topic level without wildcards. */
export const SHARE_GROUP_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

const KIOSK_TOPIC = new RegExp(`^${TOPIC_ROOT.replace(/\//g, '\\/')}\\/kiosk\\/([^/]+)\\/(tx|state|query|cmd\\/answer)$`)

/** The kiosk and the kind of a topic the gateway reads, or undefined for any other topic. */
export function kioskTopic(topic: string): { kioskId: string; kind: 'tx' | 'state' | 'query' | 'cmd/answer' } | undefined {
  const match = KIOSK_TOPIC.exec(topic)
  if (match === null) return undefined
  return { kioskId: match[1]!, kind: match[2] as 'tx' | 'state' | 'query' | 'cmd/answer' }
}

export function createExternalBroker(options: ExternalBrokerOptions, settings: ExternalBrokerSettings): Broker {
  const log = options.logger
  const counts = {
    kioskTxReceived: 0,
    messagesFromClients: 0,
    messagesFromGateway: 0,
    kioskTxHandlerErrors: 0,
    invalidKioskStates: 0,
    clientErrors: 0,
  }
  const shareGroup = settings.shareGroup ?? DEFAULT_SHARE_GROUP
  if (!SHARE_GROUP_PATTERN.test(shareGroup)) throw new Error(`invalid mqtt share group ${JSON.stringify(shareGroup)}: letters, digits, '_', '.', '-' only`)
  const subscriptions = gatewaySubscriptions(shareGroup)
  const target = new URL(settings.url)
  const address = { host: target.hostname, port: Number(target.port || (target.protocol === 'mqtts:' ? 8883 : 1883)) }
  let connected = false
  let closed: Promise<void> | null = null
  /** Counts lost connections: a held PUBACK belongs to the connection its message came on. */
  let connection = 0
  /** Cleared by stopAccepting(): tx messages after it are left unacknowledged (app drops them while stopping). */
  let accepting = true

  // Made now (so publish() works before listen(): retained configs go out first), connected at once.
  const client: MqttClient = mqtt.connect(settings.url, {
    ...settings.connectOptions,
    username: settings.username,
    password: settings.password,
    clientId: settings.clientId,
    clean: false,
    protocolVersion: 5,
    // Receive Maximum: with MQTT 5 the broker keeps at most this many QoS 1 messages unacknowledged at the
    // gateway (the spec's default is 65,535); the gateway acknowledges a transaction only once it is committed,
    // so this is also the largest batch, as Mosquitto's max_inflight_messages was for 3.1.1.
    properties: { sessionExpiryInterval: settings.sessionExpiryS ?? SESSION_EXPIRY_S, receiveMaximum: RECEIVE_MAXIMUM },
    keepalive: KEEPALIVE_S,
    reconnectPeriod: 1_000,
    connectTimeout: settings.connectTimeoutMs ?? 10_000,
    resubscribe: true,
  })
  /** Set once listen() subscribed: a reconnect from then on subscribes again (below). */
  let subscribed = false
  client.on('connect', (connack) => {
    connected = true
    log.info({ url: settings.url, clientId: settings.clientId, sessionPresent: connack.sessionPresent }, 'connected to the external mqtt broker')
    // Mosquitto 2.0.11 restores a persistent session from its persistence file after a restart (the
    // CONNACK says sessionPresent) but not the session's shared subscriptions: mqtt.js, trusting the
    // flag, does not subscribe again, and the gateway would never get another transaction. Subscribing
    // again is harmless where the broker did keep them (the same filter replaces its subscription), so
    // it is done on every reconnect that found a session; without one, mqtt.js subscribes again itself.
    // `resubscribe: true`: mqtt.js otherwise drops filters it holds as subscribed already and sends nothing.
    if (subscribed && connack.sessionPresent) {
      const again = { ...Object.fromEntries(subscriptions.map((filter) => [filter, { qos: 1 }])), resubscribe: true } as ISubscriptionMap
      client.subscribeAsync(again).then(
        () => log.info({ url: settings.url, subscriptions }, 'subscribed again after reconnecting to the external mqtt broker'),
        (err: unknown) => log.error({ err: (err as Error).message, url: settings.url }, 'subscribing again after a reconnect failed: the next reconnect tries again'),
      )
    }
  })
  client.on('close', () => {
    connection++
    if (connected) log.warn({ url: settings.url }, 'connection to the external mqtt broker lost; reconnecting')
    connected = false
  })
  client.on('error', (err) => {
    counts.clientErrors++
    // A refused login is an operator's problem (wrong password, account not provisioned): say so loudly.
    log.error({ err: err.message, url: settings.url }, 'external mqtt broker connection error')
  })

  const heldTxAcks = options.kioskTxSettled === undefined ? undefined : holdTxAcksUntilSettled(client, options.kioskTxSettled, () => connection, () => accepting)

  client.on('message', (topic, payload, packet) => {
    const parsed = kioskTopic(topic)
    if (parsed === undefined) return
    counts.messagesFromClients++
    const { kioskId, kind } = parsed
    try {
      if (kind === 'tx') {
        counts.kioskTxReceived++
        try {
          options.onKioskTx?.(kioskId, Buffer.from(payload))
        } finally {
          // After the hand-over, so that what ingest settles includes this message.
          heldTxAcks?.hold(packet)
        }
      } else if (kind === 'query') options.onKioskQuery?.(kioskId, Buffer.from(payload))
      else if (kind === 'cmd/answer') options.onKioskCommandAnswer?.(kioskId, Buffer.from(payload))
      else if (payload.length > 0) {
        const state = parseJson(payload, validateKioskState)
        if (!state.ok || state.value.kiosk !== kioskId) {
          counts.invalidKioskStates++
          log.warn({ kioskId, error: state.ok ? 'kiosk field differs from topic' : state.error }, 'invalid kiosk state payload')
        } else options.onKioskState?.(kioskId, state.value)
      }
    } catch (err) {
      counts.kioskTxHandlerErrors++
      log.error({ err, kioskId }, 'kiosk message handler failed')
    }
  })

  function firstConnection(): Promise<void> {
    if (client.connected) return Promise.resolve()
    const boundMs = settings.connectTimeoutMs ?? 10_000
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined
      const onError = (err: Error) => void (lastError = err)
      const done = (err?: Error) => {
        clearTimeout(timer)
        client.off('connect', onConnect)
        client.off('error', onError)
        if (err) reject(err)
        else resolve()
      }
      const onConnect = () => done()
      const timer = setTimeout(() => done(new Error(`external mqtt broker ${settings.url} not reached within ${boundMs} ms${lastError ? `: ${lastError.message}` : ''}`)), boundMs)
      client.on('connect', onConnect)
      client.on('error', onError)
    })
  }

  return {
    async listen() {
      await firstConnection()
      await client.unsubscribeAsync(UNSHARED_FILTERS)
      // mqtt.js rejects a SUBACK with a refusal in it; the refused filters are in its packet.
      const granted = await client.subscribeAsync(subscriptions, { qos: 1 }).catch((err: unknown) => {
        const codes = (err as { packet?: { granted?: number[] } }).packet?.granted
        if (!Array.isArray(codes)) throw err
        return subscriptions.map((topic, i) => ({ topic, qos: codes[i] ?? 128 }))
      })
      // MQTT 5 refuses with a reason code of 0x80 or more (0x87: not authorized), 3.1.1 with 0x80.
      const refused = granted.filter((g) => g.qos >= 0x80)
      if (refused.length > 0) throw new Error(`the external mqtt broker refused the gateway's subscriptions ${refused.map((g) => g.topic).join(', ')}: is its account provisioned with its role?`)
      subscribed = true
      log.info({ url: settings.url, clientId: settings.clientId, subscriptions }, 'reading kiosk messages from the external mqtt broker')
      return address
    },
    address: () => (connected || client.connected ? address : null),
    async listenWebSocket() {
      throw new Error('mqtt.websocket is served by the embedded broker only: with an external broker, configure its own WebSocket listener')
    },
    webSocketAddress: () => null,
    stopAccepting() {
      // Kiosks connect to the broker, not to us; ingest stops taking messages itself while stopping.
      // The tx messages it drops from now on stay unacknowledged: the broker redelivers them to the next gateway.
      accepting = false
    },
    publish(topic, payload, { qos, retain = false }) {
      counts.messagesFromGateway++
      return client.publishAsync(topic, Buffer.from(payload), { qos, retain }).then(() => undefined)
    },
    counters(): BrokerCounters {
      return {
        connectedClients: 0,
        authFailures: 0,
        deniedPublishes: 0,
        deniedSubscribes: 0,
        oversizedPackets: 0,
        sessionTakeovers: 0,
        clientIdRefusals: 0,
        authThrottled: 0,
        loginBlocks: 0,
        pendingConnections: 0,
        connectionsRefused: 0,
        connectionsEvicted: 0,
        connectTimeouts: 0,
        cleartextKioskLogins: 0,
        tlsHandshakeFailures: 0,
        ...counts,
      }
    },
    // The broker kicks a kiosk whose client the gateway modifies or deletes (dynsec.ts): nothing to close here.
    disconnectKiosk: () => false,
    close() {
      closed ??= (async () => {
        // Pending QoS 1 publishes (the last replies) get a bounded chance to be acknowledged.
        const graceful = client.endAsync(false)
        const bound = new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref())
        await Promise.race([graceful, bound])
        if (!client.disconnected) await client.endAsync(true)
      })()
      return closed
    },
  }
}

/**
 * A kiosk's tx message is acknowledged to the broker only once ingest has committed the batch that holds
 * it. mqtt.js acknowledges a QoS 1 message as soon as its handler returns, so a gateway killed between
 * that and the commit would lose it: the broker took it as delivered and the persistent session would
 * not give it again. mqtt.js reads incoming packets one at a time (lib/handlers/publish.js: emit
 * 'message', then handleMessage(packet, cb), whose callback sends the PUBACK through
 * client._sendPacket and only then takes the next packet), so delaying handleMessage would let one
 * message through per commit. Instead the PUBACK of a held tx packet is kept back in _sendPacket while
 * mqtt.js goes on at once; it is sent when ingest's settled() resolves, and only on the connection the
 * message came on: after a reconnect the broker redelivers what was not acknowledged (persistent
 * session), and ingest answers a transaction id it already booked again without booking it twice.
 * A batch whose commit failed is acknowledged too: ingest answers nothing and the kiosk sends it again
 * from its outbox, while an unacknowledged message would hold one of the broker's in-flight slots
 * (Mosquitto's max_inflight_messages) until the next reconnect.
 * Checked against mqtt.js 5.16.0 (node_modules/mqtt/package.json): the private _sendPacket and the
 * order emit -> handleMessage -> puback in handlePublish. If either changes, external-broker.test.ts
 * ('received but not committed ... redelivered') fails.
 * Only tx messages are held: states, queries and command answers change no ledger; a lost state is
 * replaced by the kiosk's next one, a lost query or command answer is asked or sent again by its
 * timeout, so they keep the immediate PUBACK (Mosquitto takes PUBACKs in any order, by packet id).
 */
function holdTxAcksUntilSettled(client: MqttClient, settled: () => Promise<void>, connection: () => number, accepting: () => boolean): { hold(packet: { qos: number; messageId?: number }): void } {
  type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, cbStorePut?: unknown, noStore?: boolean) => void
  const target = client as unknown as { _sendPacket: SendPacket }
  const sendPacket = target._sendPacket
  if (typeof sendPacket !== 'function') throw new Error('mqtt.js has no _sendPacket: holding PUBACKs until the commit needs the version this was checked against (5.16.0)')
  /** Packet ids whose PUBACK mqtt.js is about to send, with what it waits for (undefined: never sent). */
  const held = new Map<number, { settled: Promise<void> | undefined; connection: number }>()
  target._sendPacket = function (packet, cb, cbStorePut, noStore) {
    const hold = packet.cmd === 'puback' && packet.messageId !== undefined ? held.get(packet.messageId) : undefined
    if (hold === undefined) return sendPacket.call(client, packet, cb, cbStorePut, noStore)
    held.delete(packet.messageId!)
    // mqtt.js goes on with the next packet now; the PUBACK follows the commit.
    cb?.()
    void hold.settled?.then(() => {
      if (hold.connection === connection() && client.connected) sendPacket.call(client, packet, undefined, undefined, true)
    })
  }
  return {
    hold(packet) {
      if (packet.qos !== 1 || packet.messageId === undefined) return
      held.set(packet.messageId, { settled: accepting() ? settled() : undefined, connection: connection() })
    },
  }
}
