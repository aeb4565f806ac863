// The kiosk's MQTT connection to the gateway (mqtt.js 5).
//
// Persistent session (clean: false, clientId kiosk-{id}) so replies queued by
// the broker while the kiosk was away are delivered when it comes back; QoS 1
// both ways; a retained `lost` will on the state topic (Sparkplug style: each
// connection has a bdSeq, one more than the last, that its birth, its will and
// its clean `offline` carry, so a stale death can be told). After every (re)connect
// it subscribes to its reply and config topics, announces `online` (retained)
// and sends every unanswered outbox entry again in seq order: the outbox, not
// mqtt.js's in-memory queue, is what survives a crash, and the gateway answers
// a re-sent id with its first outcome. A send gate (the kiosk's chain guard)
// may hold every transaction back until the gateway confirmed the chain.
//
// mqtt.js only knows a fixed reconnectPeriod (a setInterval), so its own
// reconnect is off (reconnectPeriod: 0) and this module schedules
// client.reconnect() with an exponential, jittered backoff instead.
import type { MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { Clock, CommandAnswer, Envelope, KioskConfig, KioskQuery, KioskState, ReplyMessage } from '../device-protocol/index.js'
import { MAX_CONFIG_PAYLOAD_BYTES, parseJson, topics, validateKioskConfig, validateKioskState, validateReply } from '../device-protocol/index.js'
import type { Outbox } from './outbox.js'
import { requirePackage } from './require-package.js'

const mqtt = requirePackage('mqtt') as typeof import('mqtt')

export interface BackoffOptions {
  initialDelayMs: number
  maxDelayMs: number
}

// At most 10 s between tries: a till cut off by a broker restart is selling
// offline under its caps until it is back, so it should not sleep half a minute
// after the broker returned; a thousand kiosks trying every 10 s (jittered) are
// a hundred connects a second, which a broker takes easily.
export const DEFAULT_BACKOFF: BackoffOptions = { initialDelayMs: 500, maxDelayMs: 10_000 }

/**
 * Delay before reconnect attempt `attempt` (0 = the first after a loss):
 * initial * 2^attempt, capped, times a jitter factor in [0.8, 1.2) from
 * `random` in [0, 1) so a fleet of kiosks does not reconnect in lockstep.
 */
export function reconnectDelayMs(attempt: number, options: BackoffOptions, random = 0.5): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30)
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent)
  return Math.floor(base * (0.8 + 0.4 * Math.min(Math.max(random, 0), 0.999999)))
}

/** What the kiosk adds to its state message besides kiosk/status/at. */
export type StateDetails = Omit<KioskState, 'kiosk' | 'status' | 'at'>

export interface LinkCounters {
  connects: number
  reconnectAttempts: number
  malformedReplies: number
  malformedConfigs: number
  txPublished: number
  txResent: number
  queriesPublished: number
  publishErrors: number
}

export interface MqttLinkOptions {
  url: string
  /** CA certificates (PEM) the broker's certificate must chain to, for mqtts:// and wss:// URLs; the system's CAs without. */
  ca?: Buffer | string
  kioskId: string
  token: string
  logger: Logger
  clock: Clock
  outbox: Pick<Outbox, 'pending'>
  /** Called whenever a state message is published. */
  stateDetails?: () => StateDetails
  /**
   * Gives the bdSeq of each new connection (daemon/birth-seq.ts keeps it in the
   * outbox database); without it the link counts from 0 in memory.
   */
  birthSequence?: { next(): number }
  backoff?: Partial<BackoffOptions>
  connectTimeoutMs?: number
  keepaliveSeconds?: number
  /** Upper bound of waiting for the broker during stop(). */
  stopTimeoutMs?: number
  random?: () => number
}

export interface MqttLink {
  /** Starts connecting; returns at once (a kiosk works offline too). */
  start(): void
  /** Announces `offline` (retained) if connected, then disconnects. */
  stop(): Promise<void>
  /** Connected and subscribed: a published transaction can be answered. */
  isReady(): boolean
  /**
   * Publishes a transaction when ready; otherwise leaves it to the resend that
   * follows the next connect. Returns whether it was handed to the client now.
   */
  publishTx(envelope: Envelope): boolean
  /** Publishes a question to the gateway (QoS 1) when ready; it answers on the reply topic. Returns whether it went out now. */
  publishQuery(query: KioskQuery): boolean
  /**
   * While `gate()` is false, transactions are not published (publishTx returns
   * false, resendPending sends nothing): they stay in the outbox.
   */
  setSendGate(gate: () => boolean): void
  /** Publishes every unanswered outbox entry from `fromSeq` on, in seq order. Returns how many. */
  resendPending(fromSeq?: number): number
  /** Publishes the retained `online` state now and returns it; null (nothing sent) while offline. */
  publishState(): KioskState | null
  /** Publishes the answer to a remote command on the kiosk's cmd/answer topic (QoS 1) when ready. Returns whether it went out now. */
  publishCommandAnswer(answer: CommandAnswer): boolean
  /** Subscribes to the config topic again, so the broker delivers the retained config once more (remote reload_config). False while offline. */
  refetchConfig(): Promise<boolean>
  counters(): LinkCounters
  onReply(listener: (reply: ReplyMessage) => void): void
  onConfig(listener: (config: KioskConfig) => void): void
  onReadyChange(listener: (ready: boolean) => void): void
  /** Raw payloads on the kiosk's own cmd topic: the command handler (remote-commands.ts) validates them. */
  onCommand(listener: (payload: Buffer) => void): void
}

export function createMqttLink(options: MqttLinkOptions): MqttLink {
  const { url, kioskId, token, logger, clock, outbox } = options
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff }
  const random = options.random ?? Math.random
  const stopTimeoutMs = options.stopTimeoutMs ?? 2_000
  const replyTopic = topics.kioskReply(kioskId)
  const configTopic = topics.kioskConfig(kioskId)
  const stateTopic = topics.kioskState(kioskId)
  const txTopic = topics.kioskTx(kioskId)
  const queryTopic = topics.kioskQuery(kioskId)
  const cmdTopic = topics.kioskCmd(kioskId)
  const cmdAnswerTopic = topics.kioskCmdAnswer(kioskId)

  const counters: LinkCounters = { connects: 0, reconnectAttempts: 0, malformedReplies: 0, malformedConfigs: 0, txPublished: 0, txResent: 0, queriesPublished: 0, publishErrors: 0 }
  const replyListeners: Array<(reply: ReplyMessage) => void> = []
  const configListeners: Array<(config: KioskConfig) => void> = []
  const readyListeners: Array<(ready: boolean) => void> = []
  const commandListeners: Array<(payload: Buffer) => void> = []

  let client: MqttClient | undefined
  let ready = false
  let stopping = false
  let attempt = 0
  let reconnectTimer: NodeJS.Timeout | undefined
  // Each connection gets a number so a slow subscribe of an old connection cannot mark a newer one ready.
  let connection = 0
  let sendGate: () => boolean = () => true

  // The bdSeq of the connection being made or held: its birth, its will and its clean `offline` carry the same number.
  let bdSeq = -1
  function takeBdSeq(): void {
    try {
      bdSeq = options.birthSequence ? options.birthSequence.next() : bdSeq + 1
    } catch (err) {
      // A full or broken disk must not keep the kiosk off the broker: go on counting in memory.
      logger.error({ err }, 'storing the bdSeq failed')
      bdSeq += 1
    }
  }
  const willPayload = (): Buffer => Buffer.from(JSON.stringify({ kiosk: kioskId, status: 'lost', at: clock.now(), bdSeq } satisfies KioskState))

  function setReady(value: boolean): void {
    if (ready === value) return
    ready = value
    for (const listener of readyListeners) {
      try {
        listener(value)
      } catch (err) {
        logger.error({ err }, 'ready listener failed')
      }
    }
  }

  function publish(topic: string, payload: string, retain: boolean, what: string): void {
    client?.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (err) {
        counters.publishErrors += 1
        // Not fatal: an unacknowledged transaction stays in the outbox and goes out again on reconnect.
        logger.warn({ err: err.message, topic, what }, 'publish not acknowledged')
      }
    })
  }

  function stateMessage(status: KioskState['status']): KioskState {
    let details: StateDetails = {}
    try {
      details = options.stateDetails?.() ?? {}
    } catch (err) {
      logger.error({ err }, 'state details failed')
    }
    const state: KioskState = { ...details, kiosk: kioskId, status, at: clock.now(), bdSeq }
    const checked = validateKioskState(state)
    if (!checked.ok) {
      logger.error({ error: checked.error }, 'state message does not match the schema; sending the bare status')
      return { kiosk: kioskId, status, at: state.at, bdSeq }
    }
    return state
  }

  function publishState(): KioskState | null {
    if (!ready || !client) return null
    const state = stateMessage('online')
    publish(stateTopic, JSON.stringify(state), true, 'state')
    return state
  }

  function resendPending(fromSeq = 1): number {
    if (!ready || !client || !sendGate()) return 0
    const entries = outbox.pending({ fromSeq })
    for (const entry of entries) publish(txTopic, JSON.stringify(entry.envelope), false, `tx seq ${entry.seq}`)
    counters.txResent += entries.length
    if (entries.length > 0) logger.info({ fromSeq, count: entries.length, firstSeq: entries[0]!.seq }, 'resent pending transactions')
    return entries.length
  }

  function handleMessage(topic: string, payload: Buffer): void {
    if (topic === replyTopic) {
      const parsed = parseJson(payload, validateReply)
      if (!parsed.ok) {
        counters.malformedReplies += 1
        logger.warn({ topic, error: parsed.error, bytes: payload.byteLength }, 'malformed reply ignored')
        return
      }
      for (const listener of replyListeners) {
        try {
          listener(parsed.value)
        } catch (err) {
          logger.error({ err }, 'reply listener failed')
        }
      }
      return
    }
    if (topic === configTopic) {
      // An empty retained message only clears the retained config: nothing to apply.
      if (payload.byteLength === 0) return
      // Catalogs, staff lists and blocklists make configs much larger than any other payload.
      const parsed = parseJson(payload, validateKioskConfig, MAX_CONFIG_PAYLOAD_BYTES)
      if (!parsed.ok || parsed.value.kiosk !== kioskId) {
        counters.malformedConfigs += 1
        const error = parsed.ok ? `config is for kiosk ${parsed.value.kiosk}` : parsed.error
        logger.warn({ topic, error, bytes: payload.byteLength }, 'malformed config ignored')
        return
      }
      for (const listener of configListeners) {
        try {
          listener(parsed.value)
        } catch (err) {
          logger.error({ err }, 'config listener failed')
        }
      }
      return
    }
    if (topic === cmdTopic) {
      for (const listener of commandListeners) {
        try {
          listener(payload)
        } catch (err) {
          logger.error({ err }, 'command listener failed')
        }
      }
      return
    }
    logger.debug({ topic }, 'message on an unexpected topic ignored')
  }

  async function onConnect(): Promise<void> {
    const c = client
    if (!c) return
    // A transaction is one small packet that waits for an answer: send it at once
    // instead of letting Nagle hold it for the broker's delayed ACK.
    const socket = (c as unknown as { stream?: { setNoDelay?: (noDelay: boolean) => void } }).stream
    socket?.setNoDelay?.(true)
    const mine = ++connection
    attempt = 0
    counters.connects += 1
    try {
      const grants = await c.subscribeAsync({ [replyTopic]: { qos: 1 }, [configTopic]: { qos: 1 }, [cmdTopic]: { qos: 1 } })
      const refused = grants.filter((g) => g.qos > 2)
      if (refused.length > 0) logger.error({ topics: refused.map((g) => g.topic) }, 'broker refused a subscription: replies or config will not arrive (check the kiosk ACL)')
    } catch (err) {
      // The connection dropped while subscribing: the next connect starts over.
      logger.warn({ err: (err as Error).message }, 'subscribe failed')
      return
    }
    if (mine !== connection || !c.connected || stopping) return
    setReady(true)
    logger.info({ url }, 'connected to the gateway broker')
    publishState()
    resendPending()
  }

  function scheduleReconnect(): void {
    if (stopping || reconnectTimer || !client) return
    const delayMs = reconnectDelayMs(attempt, backoff, random())
    attempt += 1
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined
      if (stopping || !client) return
      counters.reconnectAttempts += 1
      // A new connection: a new bdSeq, and the will (built at the first connect) carries it.
      takeBdSeq()
      if (client.options.will) client.options.will.payload = willPayload()
      client.reconnect()
    }, delayMs)
    logger.debug({ delayMs, attempt }, 'reconnect scheduled')
  }

  return {
    start() {
      if (client) return
      stopping = false
      takeBdSeq()
      client = mqtt.connect(url, {
        clientId: `kiosk-${kioskId}`,
        username: kioskId,
        password: token,
        clean: false,
        protocolVersion: 4,
        reconnectPeriod: 0,
        // mqtt-packet otherwise builds, on the first packet, a cache of 65,536 two-byte
        // Buffers for message ids: about 7 MB of heap that a kiosk (a few packets a
        // second) never needs; ids are then written into a fresh 2-byte Buffer each.
        writeCache: false,
        connectTimeout: options.connectTimeoutMs ?? 10_000,
        keepalive: options.keepaliveSeconds ?? 30,
        will: { topic: stateTopic, payload: willPayload(), qos: 1, retain: true },
        // mqtts:// and wss:// verify the broker's certificate and host name; a failure is an error and a retry over TLS, never clear text.
        rejectUnauthorized: true,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      })
      client.on('connect', () => {
        void onConnect()
      })
      client.on('message', (topic, payload) => handleMessage(topic, payload))
      client.on('close', () => {
        connection += 1
        setReady(false)
        scheduleReconnect()
      })
      client.on('error', (err) => {
        const code = (err as { code?: unknown }).code
        const tlsProblem = describeTlsFailure(err)
        if (tlsProblem) {
          // Nothing was sent: the token goes only to a broker whose certificate verifies.
          logger.error({ err: err.message, code, url }, `TLS connection to the gateway refused: ${tlsProblem}; not connected (never falls back to clear text), retrying`)
          return
        }
        // Refused credentials, unreachable broker, protocol errors: logged, then the backoff retries.
        logger.warn({ err: err.message, code }, 'mqtt error')
      })
    },

    async stop() {
      stopping = true
      if (reconnectTimer) clearTimeout(reconnectTimer)
      reconnectTimer = undefined
      const c = client
      if (!c) return
      if (c.connected) {
        const state = stateMessage('offline')
        try {
          await withTimeout(c.publishAsync(stateTopic, JSON.stringify(state), { qos: 1, retain: true }), stopTimeoutMs)
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'offline state not acknowledged')
        }
      }
      if (c.connected) {
        try {
          // A graceful end waits for in-flight acks; the broker may go away meanwhile, so bound it.
          await withTimeout(c.endAsync(false), stopTimeoutMs)
        } catch {
          await c.endAsync(true)
        }
      } else {
        await c.endAsync(true)
      }
      setReady(false)
      client = undefined
    },

    isReady: () => ready,

    publishTx(envelope) {
      if (!ready || !client || !sendGate()) return false
      publish(txTopic, JSON.stringify(envelope), false, `tx seq ${envelope.tx.seq}`)
      counters.txPublished += 1
      return true
    },

    publishQuery(query) {
      if (!ready || !client) return false
      // Not retried after a reconnect: a question is only worth its answer while someone waits.
      publish(queryTopic, JSON.stringify(query), false, `${query.kind} query`)
      counters.queriesPublished += 1
      return true
    },

    resendPending,
    setSendGate(gate) {
      sendGate = gate
    },
    publishState,
    publishCommandAnswer(answer) {
      if (!ready || !client) return false
      publish(cmdAnswerTopic, JSON.stringify(answer), false, `answer to command ${answer.id}`)
      return true
    },
    async refetchConfig() {
      const c = client
      if (!ready || !c) return false
      try {
        // MQTT sends a topic's retained message on every new subscription, not on a repeated one: unsubscribe first.
        await c.unsubscribeAsync(configTopic)
        await c.subscribeAsync(configTopic, { qos: 1 })
        return true
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'config subscription not renewed')
        return false
      }
    },
    counters: () => ({ ...counters }),
    onReply: (listener) => void replyListeners.push(listener),
    onConfig: (listener) => void configListeners.push(listener),
    onReadyChange: (listener) => void readyListeners.push(listener),
    onCommand: (listener) => void commandListeners.push(listener),
  }
}

/** What went wrong, in an operator's words, when `err` is a failed TLS verification or handshake; null for other errors. */
export function describeTlsFailure(err: Error): string | null {
  const raw = (err as { code?: unknown }).code
  const code = typeof raw === 'string' ? raw : ''
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `its certificate does not name the host of the broker URL (${err.message})`
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `its certificate is outside its validity period (${code})`
  if (/SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE|CERT_REJECTED/.test(code) || err.message === 'TLS not authorized') {
    return `its certificate does not chain to a trusted CA (${code || err.message}): check caFile`
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') return `the broker did not answer with TLS (${code}): is mqtt.tls set on the gateway, and is this its TLS port?`
  return null
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
