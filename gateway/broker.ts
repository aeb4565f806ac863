// The embedded MQTT broker (aedes) with device authentication and the ACLs of
// DESIGN.md. The gateway does not connect to it as a client: it publishes
// in-process and receives kiosk transactions through the `published` hook, so
// no network hop and no extra credentials sit between the broker and the ledger.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer, type AddressInfo, type Server } from 'node:net'
import type { Duplex } from 'node:stream'
import { createSecureContext, TLSSocket } from 'node:tls'
import { Aedes, type AuthenticateError, type Client, type Connection, type PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import { createWebSocketStream, WebSocketServer } from 'ws'
import { MAX_COMMAND_PAYLOAD_BYTES, parseJson, systemClock, topics, TOPIC_ROOT, validateKioskCommand, validateKioskState, type AlertEvent, type Clock } from '../device-protocol/index.js'
import type { KioskState } from '../device-protocol/index.js'
import { createConnectionAdmission } from './connection-admission.js'
import { createLoginThrottle } from './login-throttle.js'
import { sourceAddressKey } from './source-address.js'

/** An operator with `admin` (config operators[].roles: ['admin']) may also send kiosks commands and read their answers. */
export type Principal = { role: 'kiosk'; kioskId: string } | { role: 'operator'; name: string; admin?: boolean } | { role: 'gateway' }

export interface BrokerOptions {
  /** Decides who a connecting client is; null refuses it. A throw refuses it as "server unavailable". */
  authenticate: (username: string | undefined, password: string | undefined) => Principal | null
  logger: Logger
  /** Called for every message a kiosk publishes on its own `kiosk/{id}/tx` topic. */
  onKioskTx?: (kioskId: string, payload: Buffer) => void
  /** Called for every message a kiosk publishes on its own `kiosk/{id}/query` topic (balance checks). */
  onKioskQuery?: (kioskId: string, payload: Buffer) => void
  /** Called with every valid state a kiosk publishes on its own `kiosk/{id}/state` topic, its will (`lost`) included. */
  onKioskState?: (kioskId: string, state: KioskState) => void
  /** Whether a kiosk's state is a stale death (gateway/fleet): it is still delivered, but does not replace the retained state. */
  isStaleKioskState?: (kioskId: string, state: KioskState) => boolean
  /** Called for every message a kiosk publishes on its own `kiosk/{id}/cmd/answer` topic (answers to remote commands). */
  onKioskCommandAnswer?: (kioskId: string, payload: Buffer) => void
  /** Largest MQTT packet (remaining length) accepted from a client; the connection is closed beyond it. */
  maxPacketBytes?: number
  /** Connection and login limits; DEFAULT_BROKER_LIMITS for what is not given. */
  limits?: Partial<BrokerLimits>
  /** Times login blocks and stamps alerts; the system clock by default. */
  clock?: Clock
  /** Whether a remote address is this machine (isLoopbackAddress by default; tests stand in for a festival network). */
  isLoopback?: (remoteAddress: string | undefined) => boolean
  /** Certificate and key (PEM; ca: intermediates sent along): every listener then speaks only TLS. Plain MQTT without. */
  tls?: { cert: Buffer | string; key: Buffer | string; ca?: Buffer | string }
  /**
   * A kiosk's connection holds its writes from a transaction's arrival until the gateway's answer to the kiosk is
   * written, so that the PUBACK and the answer leave in one write; a transaction that gets no answer releases them
   * after one to two periods of this (DEFAULT_ACK_HOLD_MS). 0: every packet is written at once.
   */
  ackHoldMs?: number
}

/** See BrokerOptions.ackHoldMs: at most about twice this is added to a PUBACK that no answer follows (a refusal without an id, a drop). */
export const DEFAULT_ACK_HOLD_MS = 20

export interface BrokerLimits {
  /** Open TCP connections at most, of every kind. */
  maxConnections: number
  /** Of maxConnections, this many are kept for authenticated kiosks: connections still before CONNECT and operators use only the rest. */
  reservedKioskConnections: number
  /** Connections before CONNECT plus operator connections from one address (IPv6: one /64); authenticated kiosks do not count. */
  maxConnectionsPerAddress: number
  /** A client has this long after TCP connect to send CONNECT. */
  connectTimeoutMs: number
  /** Failed logins an address may have before it is blocked. */
  loginFailuresBeforeBlock: number
  /** The first block; each further failure doubles it, up to loginBlockMaxMs. */
  loginBlockBaseMs: number
  loginBlockMaxMs: number
  /** An address is forgotten after this long without a failure (and its block over). */
  loginFailureMemoryMs: number
  /** Addresses remembered for login throttling at once; the least recently failed is dropped first. */
  loginTrackedAddresses: number
}

// Why these numbers: see the README's security section (MQTT limits).
export const DEFAULT_BROKER_LIMITS: BrokerLimits = {
  maxConnections: 2000,
  reservedKioskConnections: 200,
  maxConnectionsPerAddress: 32,
  connectTimeoutMs: 5_000,
  loginFailuresBeforeBlock: 5,
  loginBlockBaseMs: 1_000,
  loginBlockMaxMs: 10 * 60_000,
  loginFailureMemoryMs: 60 * 60_000,
  loginTrackedAddresses: 10_000,
}

/**
 * The defaults overlaid with the limits given (other keys, such as a config section's host and
 * port, are ignored; undefined means the default). Throws on a value that cannot work.
 */
export function resolveBrokerLimits(given: Partial<BrokerLimits> = {}): BrokerLimits {
  const limits: BrokerLimits = { ...DEFAULT_BROKER_LIMITS }
  for (const name of Object.keys(DEFAULT_BROKER_LIMITS) as Array<keyof BrokerLimits>) {
    const value = given[name]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`invalid mqtt limits: ${name} must be a whole number ≥ 0, got ${String(value)}`)
    limits[name] = value
  }
  // Operators may hold all but one of the unreserved slots; that one must exist for a kiosk to get in.
  if (limits.maxConnections - limits.reservedKioskConnections < 2) {
    throw new Error(`invalid mqtt limits: reservedKioskConnections (${limits.reservedKioskConnections}) must leave at least 2 of maxConnections (${limits.maxConnections})`)
  }
  if (limits.maxConnectionsPerAddress < 2) throw new Error('invalid mqtt limits: maxConnectionsPerAddress must be at least 2 (an operator and a newcomer)')
  if (limits.loginFailuresBeforeBlock < 1 || limits.loginTrackedAddresses < 1 || limits.connectTimeoutMs < 1) {
    throw new Error('invalid mqtt limits: loginFailuresBeforeBlock, loginTrackedAddresses and connectTimeoutMs must be at least 1')
  }
  if (limits.loginBlockBaseMs > limits.loginBlockMaxMs) {
    throw new Error(`invalid mqtt limits: loginBlockBaseMs (${limits.loginBlockBaseMs}) must not exceed loginBlockMaxMs (${limits.loginBlockMaxMs})`)
  }
  return limits
}

export interface BrokerCounters {
  connectedClients: number
  authFailures: number
  deniedPublishes: number
  deniedSubscribes: number
  oversizedPackets: number
  sessionTakeovers: number
  /** Logins refused because the client id belongs to another account (or is persistent outside the account's own ids). */
  clientIdRefusals: number
  /** Logins refused unchecked because their address is blocked after failed logins (also counted in authFailures). */
  authThrottled: number
  /** Failed logins that started or lengthened a block of their address. */
  loginBlocks: number
  /** Connections before CONNECT at this moment. */
  pendingConnections: number
  /** New TCP connections refused because authenticated clients fill the cap, and operator logins refused that would take the last free slots. */
  connectionsRefused: number
  /** Connections closed before CONNECT to make room for a newer one. */
  connectionsEvicted: number
  /** Connections closed because CONNECT did not arrive within connectTimeoutMs. */
  connectTimeouts: number
  /** Kiosk logins without TLS from another machine (each also logged as a warning). */
  cleartextKioskLogins: number
  /** Connections to a TLS listener whose handshake failed (e.g. a client without TLS). */
  tlsHandshakeFailures: number
  kioskTxReceived: number
  /** Messages clients published that the ACL let through (every topic, $SYS aside). */
  messagesFromClients: number
  /** Messages the gateway published in-process (replies, configs, states, events; not a QoS 0 event that no connected client could read, which is not made). */
  messagesFromGateway: number
  kioskTxHandlerErrors: number
  invalidKioskStates: number
  clientErrors: number
}

export interface PublishOptions {
  qos: 0 | 1
  retain?: boolean
}

export interface Broker {
  /** Starts the TCP listener; port 0 picks a free port. Resolves with the bound address. */
  listen(host: string, port: number): Promise<{ host: string; port: number }>
  /** The bound address, null before listen(). */
  address(): { host: string; port: number } | null
  /**
   * Starts the MQTT-over-WebSocket listener (path WEBSOCKET_PATH) for the same broker: the same
   * authentication, client-id rules, connection admission and ACLs as TCP. Port 0 picks a free port.
   */
  listenWebSocket(host: string, port: number): Promise<{ host: string; port: number }>
  /** The WebSocket listener's bound address, null before listenWebSocket(). */
  webSocketAddress(): { host: string; port: number } | null
  /** Stops accepting new TCP and WebSocket connections; connected clients stay (used first in a graceful stop). */
  stopAccepting(): void
  /** Publishes in-process, bypassing the ACLs (the gateway is trusted). */
  publish(topic: string, payload: Buffer | string, options: PublishOptions): Promise<void>
  /**
   * False only when no client connected now could read `topic`: outside the kiosks' own topics only operators
   * (and a gateway account) may subscribe, so with none connected a QoS 0 message there reaches nobody and
   * need not be made. A broker that cannot tell leaves it out.
   */
  mayHaveReaders?(topic: string): boolean
  counters(): BrokerCounters
  /** Closes a kiosk's live connection (it was retired, or its token changed); false when it has none. */
  disconnectKiosk(kioskId: string): boolean
  /** Disconnects every client and closes the listener. Idempotent. */
  close(): Promise<void>
}

export const DEFAULT_MAX_PACKET_BYTES = 64 * 1024 + 512

/** Where MQTT over WebSocket is served on its listener (what browsers' MQTT clients use by convention). */
export const WEBSOCKET_PATH = '/mqtt'

/** Who is at the other end of a connection: a TCP socket has these itself; a WebSocket stream borrows its request's socket. */
interface ConnectionPeer {
  remoteAddress?: string | undefined
  encrypted?: boolean
}

// ---------------------------------------------------------------------------
// ACLs: pure functions, so they can be tested without sockets.

const OPERATOR_SUBSCRIBE_FILTERS = [topics.allKioskState, topics.gatewayState, topics.allEvents]
/** Admin operators also read the kiosks' answers to commands. */
const ADMIN_SUBSCRIBE_FILTERS = [...OPERATOR_SUBSCRIBE_FILTERS, topics.allKioskCmdAnswers]
const ALL_KIOSK_CMD = `${TOPIC_ROOT}/kiosk/+/cmd`
/** Every topic a kiosk may subscribe to lies under this (maySubscribe). */
const KIOSK_TOPIC_PREFIX = `${TOPIC_ROOT}/kiosk/`

/**
 * True when every topic that `filter` matches is also matched by `allowed`
 * (so "narrower or equal"). Both are MQTT topic filters split on '/'.
 */
export function filterWithin(filter: string, allowed: string): boolean {
  const f = filter.split('/')
  const a = allowed.split('/')
  for (let i = 0; ; i++) {
    const al = a[i]
    const fl = f[i]
    if (al === '#') return true
    if (al === undefined || fl === undefined) return al === undefined && fl === undefined
    if (fl === '#') return false
    if (al === '+') {
      if (fl.includes('#')) return false
      continue
    }
    if (fl !== al) return false
  }
}

/** Whether `principal` may publish on `topic` (a concrete topic, never a filter). */
export function mayPublish(principal: Principal, topic: string): boolean {
  switch (principal.role) {
    case 'kiosk':
      return (
        topic === topics.kioskTx(principal.kioskId) ||
        topic === topics.kioskState(principal.kioskId) ||
        topic === topics.kioskQuery(principal.kioskId) ||
        topic === topics.kioskCmdAnswer(principal.kioskId)
      )
    case 'operator':
      // Read-only operators publish nothing; admins only commands (any kiosk's cmd topic).
      return principal.admin === true && filterWithin(topic, ALL_KIOSK_CMD)
    case 'gateway':
      return topic.startsWith(`${TOPIC_ROOT}/`)
  }
}

/** Whether `principal` may subscribe to `filter`. Kiosks get exact topics only, no wildcards. */
export function maySubscribe(principal: Principal, filter: string): boolean {
  switch (principal.role) {
    case 'kiosk':
      return filter === topics.kioskReply(principal.kioskId) || filter === topics.kioskConfig(principal.kioskId) || filter === topics.kioskCmd(principal.kioskId)
    case 'operator':
      return (principal.admin === true ? ADMIN_SUBSCRIBE_FILTERS : OPERATOR_SUBSCRIBE_FILTERS).some((allowed) => filterWithin(filter, allowed))
    case 'gateway':
      return filterWithin(filter, `${TOPIC_ROOT}/#`)
  }
}

// ---------------------------------------------------------------------------
// Client ids. A client id names a session: whoever connects under it kicks the
// live connection off and, with clean=false, inherits its subscriptions and its
// queued messages (a kiosk's replies). So every account owns its own ids:
// `kiosk-{kioskId}` (what the kiosk daemon uses), `operator-{name}`,
// `gateway`, each also with any `/suffix` (`/` occurs in neither kiosk ids nor
// operator names, so no account's ids are a prefix of another's). Ids outside
// every account's namespace (mqtt.js's random `mqttjs_…`, test tools) stay
// allowed for clean sessions, which carry nothing over; the broker also
// refuses them while another account holds them live (see createBroker).

export type ClientIdRefusal =
  /** The id lies in another account's namespace (`kiosk-…`, `operator-…`, `gateway…`). */
  | 'foreign_namespace'
  /** A persistent session (clean=false) outside the account's own namespace: nobody could own it. */
  | 'persistent_outside_namespace'
  /** A clean session under an id that another account holds live (decided by the broker, which knows who is connected). */
  | 'held_by_another_account'

const CLIENT_ID_NAMESPACE_PREFIXES = ['kiosk-', 'operator-', 'gateway']

/** The client id an account uses by default; its namespace is this id and this id + `/…`. */
export function ownClientId(principal: Principal): string {
  switch (principal.role) {
    case 'kiosk':
      return `kiosk-${principal.kioskId}`
    case 'operator':
      return `operator-${principal.name}`
    case 'gateway':
      return 'gateway'
  }
}

/** Why `principal` may not connect under `clientId`, or null when it may (as far as the id itself tells). */
export function clientIdRefusal(principal: Principal, clientId: string, clean: boolean): Exclude<ClientIdRefusal, 'held_by_another_account'> | null {
  const own = ownClientId(principal)
  if (clientId === own || clientId.startsWith(`${own}/`)) return null
  if (CLIENT_ID_NAMESPACE_PREFIXES.some((prefix) => clientId.startsWith(prefix))) return 'foreign_namespace'
  if (!clean) return 'persistent_outside_namespace'
  return null
}

// ---------------------------------------------------------------------------
// Packet size bound. mqtt-packet (inside aedes) buffers a whole packet before
// it parses it and has no size limit, so one client announcing a 256 MB packet
// could exhaust the gateway's memory. This guard reads only the fixed headers
// of the byte stream and reports a packet whose announced size is too large.

export interface FrameSizeGuard {
  /** Feeds the next bytes of the stream; returns an error text as soon as a packet is too large or malformed. */
  push(chunk: Buffer): string | null
}

export function createFrameSizeGuard(maxPacketBytes: number): FrameSizeGuard {
  // States: 'type' expects the first header byte, 'length' the variable-length
  // remaining length (1–4 bytes, MQTT 3.1.1 §2.2.3), 'body' skips the packet body.
  let state: 'type' | 'length' | 'body' = 'type'
  let length = 0
  let multiplier = 1
  let lengthBytes = 0
  let remaining = 0
  let failed: string | null = null
  return {
    push(chunk) {
      if (failed) return failed
      let i = 0
      while (i < chunk.length) {
        if (state === 'type') {
          i++
          state = 'length'
          length = 0
          multiplier = 1
          lengthBytes = 0
        } else if (state === 'length') {
          const byte = chunk[i++]!
          length += (byte & 0x7f) * multiplier
          multiplier *= 128
          lengthBytes++
          if (byte & 0x80) {
            if (lengthBytes >= 4) return (failed = 'malformed remaining length')
            continue
          }
          if (length > maxPacketBytes) return (failed = `packet of ${length} bytes exceeds ${maxPacketBytes}`)
          remaining = length
          state = remaining === 0 ? 'type' : 'body'
        } else {
          const take = Math.min(remaining, chunk.length - i)
          i += take
          remaining -= take
          if (remaining === 0) state = 'type'
        }
      }
      return null
    },
  }
}

// ---------------------------------------------------------------------------

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (::ffff:127.0.0.1). */
export function isLoopbackAddress(remoteAddress: string | undefined): boolean {
  if (remoteAddress === undefined) return false
  const address = remoteAddress.toLowerCase().replace(/^::ffff:/, '')
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)
}

/**
 * A kiosk's MQTT password and its transactions cross the network in clear text
 * when it connects without TLS from another machine: unless the gateway has a
 * certificate (config mqtt.tls), the network itself (a private festival
 * network, a VPN such as WireGuard, or a TLS-terminating proxy on the gateway)
 * must protect it.
 */
export function isCleartextRemote(socket: { remoteAddress?: string | undefined; encrypted?: boolean }, isLoopback: (address: string | undefined) => boolean = isLoopbackAddress): boolean {
  return socket.encrypted !== true && !isLoopback(socket.remoteAddress)
}

function authError(message: string, returnCode: 2 | 3 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

function describe(principal: Principal | undefined): Record<string, string> {
  if (!principal) return { role: 'unknown' }
  if (principal.role === 'kiosk') return { role: 'kiosk', kioskId: principal.kioskId }
  if (principal.role === 'operator') return { role: 'operator', operator: principal.name }
  return { role: 'gateway' }
}

/** Usernames and client ids end up in logs and alerts: keep them short and printable. */
function loggableUsername(username: string | undefined): string | undefined {
  if (username === undefined) return undefined
  return username.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')
}

function describeAccount(principal: Principal): string {
  if (principal.role === 'kiosk') return `kiosk ${principal.kioskId}`
  if (principal.role === 'operator') return `operator ${principal.name}`
  return 'the gateway account'
}

/** aedes' `concurrency`: so many that no delivery ever waits for another's slot (see createBroker). */
export const BROKER_DELIVERIES_IN_FLIGHT = 1_000_000

export async function createBroker(options: BrokerOptions): Promise<Broker> {
  const log = options.logger
  const maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES
  const limits = resolveBrokerLimits(options.limits)
  const clock = options.clock ?? systemClock
  const principals = new WeakMap<Client, Principal>()
  // Who holds each client id right now (from a successful login until its socket closes),
  // so that a clean session cannot kick another account's live connection off.
  const clientIdHolders = new Map<string, { client: Client; account: string }>()
  const throttle = createLoginThrottle({
    failuresBeforeBlock: limits.loginFailuresBeforeBlock,
    blockBaseMs: limits.loginBlockBaseMs,
    blockMaxMs: limits.loginBlockMaxMs,
    forgetAfterMs: limits.loginFailureMemoryMs,
    maxTrackedAddresses: limits.loginTrackedAddresses,
  })
  // Keyed by the stream aedes reads (the TCP socket itself, or a WebSocket's stream).
  const admission = createConnectionAdmission<Duplex>(limits)
  const addressOf = new WeakMap<object, string>()
  const peerOf = new WeakMap<object, ConnectionPeer>()
  // The live session of each kiosk id: a second connection with the same kiosk
  // id (whatever its clientId) replaces the first, as aedes does for a clientId.
  const kioskSessions = new Map<string, Client>()
  /** Connected clients that are not kiosks: the only ones the ACLs let read anything outside kiosk topics. */
  let nonKioskClients = 0
  const counts = {
    authFailures: 0,
    deniedPublishes: 0,
    deniedSubscribes: 0,
    oversizedPackets: 0,
    sessionTakeovers: 0,
    clientIdRefusals: 0,
    authThrottled: 0,
    loginBlocks: 0,
    connectionsRefused: 0,
    connectionsEvicted: 0,
    connectTimeouts: 0,
    cleartextKioskLogins: 0,
    tlsHandshakeFailures: 0,
    kioskTxReceived: 0,
    messagesFromClients: 0,
    messagesFromGateway: 0,
    kioskTxHandlerErrors: 0,
    invalidKioskStates: 0,
    clientErrors: 0,
  }

  // Every sale costs two writes to its kiosk's socket: aedes writes the PUBACK as soon as the transaction
  // arrives, and the answer follows once it is committed, a few milliseconds later. Each write is a system call
  // (on loopback the kernel also runs the receiving side's TCP on this thread), and in profiles of the gateway
  // they were its largest cost after the ledger. So the kiosk's connection is corked when a transaction
  // arrives (before aedes writes its PUBACK) and uncorked when the gateway's answer on the kiosk's reply topic
  // has been written: both leave in one write. Nothing is acknowledged earlier than before; a transaction
  // that gets no answer (refused without an id, dropped, a failed commit) releases the hold at the next sweep
  // but one, so a PUBACK, a ping answer or a config waits at most about two sweeps.
  const ackHoldMs = Math.max(0, options.ackHoldMs ?? DEFAULT_ACK_HOLD_MS)
  /** By the kiosk's reply topic: the connection held and how often it was corked for it. */
  const holds = new Map<string, { conn: Connection; corks: number; sweeps: number }>()
  function holdWrites(replyTopic: string, conn: Connection): void {
    let hold = holds.get(replyTopic)
    if (hold !== undefined && hold.conn !== conn) {
      // The kiosk connected again: what the old connection held goes out (or is dropped with it).
      releaseWrites(replyTopic, hold)
      hold = undefined
    }
    if (hold === undefined) {
      hold = { conn, corks: 0, sweeps: 0 }
      holds.set(replyTopic, hold)
    }
    conn.cork()
    hold.corks++
  }
  function releaseWrites(replyTopic: string, hold: { conn: Connection; corks: number }): void {
    holds.delete(replyTopic)
    for (let i = 0; i < hold.corks; i++) hold.conn.uncork()
  }
  const holdSweeper =
    ackHoldMs > 0
      ? setInterval(() => {
          for (const [replyTopic, hold] of holds) if (hold.sweeps++ > 0) releaseWrites(replyTopic, hold)
        }, ackHoldMs)
      : undefined
  holdSweeper?.unref()

  function failedLogin(address: string): void {
    const blockedForMs = throttle.recordFailure(address, clock.now())
    if (blockedForMs > 0) {
      counts.loginBlocks++
      log.warn({ address, blockedForMs }, 'mqtt logins from this address blocked after failed logins')
    }
  }

  /** Published in-process like the gateway's own alerts, so that operators see it on events/alert. */
  function alert(kind: string, message: string, kioskId?: string): void {
    const event: AlertEvent = { kind, message: message.slice(0, 1024), ...(kioskId ? { kiosk: kioskId } : {}), at: clock.now() }
    const packet: PublishPacket = { cmd: 'publish', topic: topics.event('alert'), payload: Buffer.from(JSON.stringify(event)), qos: 1, retain: false, dup: false }
    aedes.publish(packet, (err) => {
      if (err) log.error({ err, kind }, 'mqtt alert publish failed')
    })
  }

  const aedes: Aedes = await Aedes.createBroker({
    // Deliveries in flight at once. aedes' default of 100 held every message past the 100th in a queue
    // that each delivery released only two turns of the event loop later: under overload the broker
    // passed about 50 messages per turn, answers and kiosk sales alike, so throughput fell as turns grew
    // longer, and one client that stopped reading held slots of everyone. Memory stays bounded by ingest's
    // own queue (maxQueued) and by drainTimeout for a client that does not read.
    concurrency: BROKER_DELIVERIES_IN_FLIGHT,
    connectTimeout: limits.connectTimeoutMs,
    // A client that stops reading must not stall delivery to every other one.
    drainTimeout: 30_000,
    maxTopicLevels: 16,

    authenticate(client, username, password, done) {
      const address = addressOf.get(client.conn) ?? 'unknown'
      if (throttle.blockedForMs(address, clock.now()) > 0) {
        // Refused before the password is looked at: a guesser learns nothing here.
        counts.authFailures++
        counts.authThrottled++
        log.debug({ address, username: loggableUsername(username) }, 'mqtt connection refused: address blocked after failed logins')
        return done(authError('not authorized', 5), false)
      }
      let principal: Principal | null
      try {
        principal =
          username === undefined || password === undefined
            ? null
            : options.authenticate(username, password.toString('utf8'))
      } catch (err) {
        counts.authFailures++
        log.error({ err, clientId: client.id }, 'mqtt authenticate failed with an error')
        return done(authError('server unavailable', 3), false)
      }
      if (principal && principal.role === 'kiosk' && principal.kioskId !== username) {
        // The ACLs rely on username === kiosk id; an authenticate callback that breaks this is a bug.
        log.error({ clientId: client.id }, 'mqtt authenticate returned a kiosk id other than the username; refused')
        principal = null
      }
      if (!principal) {
        counts.authFailures++
        failedLogin(address)
        const anonymous = username === undefined
        log.warn({ clientId: client.id, username: loggableUsername(username), anonymous }, 'mqtt connection refused')
        return done(authError(anonymous ? 'not authorized' : 'bad username or password', anonymous ? 5 : 4), false)
      }
      const account = ownClientId(principal)
      const holder = clientIdHolders.get(client.id)
      const refusal: ClientIdRefusal | null =
        clientIdRefusal(principal, client.id, client.clean) ??
        (holder && holder.account !== account && !holder.client.closed ? 'held_by_another_account' : null)
      if (refusal) {
        // A takeover attempt by an authenticated account: refused before aedes registers the
        // client, so the holder stays connected and its stored session stays its own.
        counts.clientIdRefusals++
        failedLogin(address)
        const clientId = loggableUsername(client.id)
        log.warn({ clientId, ...describe(principal), refusal, address }, 'mqtt connection refused: client id of another account')
        alert('mqtt_client_id_refused', `${describeAccount(principal)} tried to connect as client id ${clientId} (${refusal}); refused`, principal.role === 'kiosk' ? principal.kioskId : undefined)
        return done(authError('identifier rejected', 2), false)
      }
      if (!admission.authenticated(client.conn, principal.role === 'kiosk' ? 'kiosk' : 'other')) {
        // Operators may not take the last slots that let a kiosk's new connection in.
        counts.connectionsRefused++
        log.warn({ ...describe(principal), address }, 'mqtt connection refused: operator connections at their limit')
        return done(authError('server unavailable', 3), false)
      }
      principals.set(client, principal)
      clientIdHolders.set(client.id, { client, account })
      const heldId = client.id
      client.conn.once('close', () => {
        if (clientIdHolders.get(heldId)?.client === client) clientIdHolders.delete(heldId)
      })
      if (principal.role === 'kiosk') {
        const conn = peerOf.get(client.conn) ?? {}
        if (isCleartextRemote(conn, options.isLoopback)) {
          counts.cleartextKioskLogins++
          log.warn(
            { kioskId: principal.kioskId, remoteAddress: conn.remoteAddress },
            `kiosk ${principal.kioskId} connected in clear text from ${conn.remoteAddress ?? 'an unknown address'}: its token and transactions are readable on that network; keep MQTT on a private network or a VPN, or give the gateway a certificate (mqtt.tls) and the kiosk an mqtts:// URL`,
          )
        }
        const previous = kioskSessions.get(principal.kioskId)
        if (previous && previous !== client && !previous.closed) {
          counts.sessionTakeovers++
          log.warn({ kioskId: principal.kioskId, oldClientId: previous.id, clientId: client.id }, 'kiosk connected again: the newer session replaces the older')
          previous.close()
        }
        kioskSessions.set(principal.kioskId, client)
      } else {
        nonKioskClients++
        client.conn.once('close', () => nonKioskClients--)
      }
      done(null, true)
    },

    authorizePublish(client, packet, done) {
      // client is null only for the will of a client that is already gone: that
      // will was authorized when it was stored with the client's own principal.
      const principal = client ? principals.get(client) : undefined
      // Every sale passes here: a kiosk's own transaction topic is allowed and never retained, and none of the
      // checks below concern it (they are of other topics and roles), so it is answered at once.
      if (principal?.role === 'kiosk' && packet.topic === topics.kioskTx(principal.kioskId)) {
        packet.retain = false
        // aedes writes the PUBACK right after this: held until the answer is written (see holdWrites).
        if (holdSweeper !== undefined && packet.qos === 1) holdWrites(topics.kioskReply(principal.kioskId), client!.conn)
        return done(null)
      }
      if (client && (!principal || !mayPublish(principal, packet.topic))) {
        counts.deniedPublishes++
        log.warn({ clientId: client.id, ...describe(principal), topic: packet.topic.slice(0, 256) }, 'mqtt publish denied')
        // aedes closes the connection: MQTT 3.1.1 has no way to tell the client, and a
        // kiosk that publishes outside its topics is misconfigured or compromised.
        return done(new Error('publish not authorized'))
      }
      if (client === null && !packet.topic.startsWith(`${TOPIC_ROOT}/kiosk/`)) {
        return done(new Error('publish not authorized'))
      }
      // A retained transaction or question would be kept by the broker for nobody: strip the flag.
      if (principal?.role === 'kiosk' && (packet.topic === topics.kioskTx(principal.kioskId) || packet.topic === topics.kioskQuery(principal.kioskId))) packet.retain = false
      // The will of a connection older than the kiosk's latest birth (noticed late, after a fast reconnect)
      // must not replace the live birth as the retained state that consumers find when they subscribe.
      if (principal?.role === 'kiosk' && options.isStaleKioskState && packet.topic === topics.kioskState(principal.kioskId) && packet.payload.length > 0) {
        const state = parseJson(packet.payload, validateKioskState)
        if (state.ok && state.value.kiosk === principal.kioskId && options.isStaleKioskState(principal.kioskId, state.value)) packet.retain = false
      }
      if (principal?.role === 'operator') {
        // The kiosk shows and logs who sent a command: an admin may send commands only in their own name.
        const command = parseJson(packet.payload, validateKioskCommand, MAX_COMMAND_PAYLOAD_BYTES)
        if (!command.ok || command.value.by !== principal.name) {
          counts.deniedPublishes++
          log.warn({ clientId: client?.id, ...describe(principal), topic: packet.topic.slice(0, 256), error: command.ok ? 'by names another operator' : command.error }, 'mqtt publish denied: not a command in the operator\'s own name')
          return done(new Error('publish not authorized'))
        }
        // Commands sent past the gateway's own sender are logged here, with who sent them; the gateway logs the answer.
        log.info({ operator: principal.name, topic: packet.topic, commandId: command.value.id, command: command.value.command, kiosk: command.value.kiosk }, `kiosk command ${command.value.command} to ${command.value.kiosk} sent over MQTT by operator ${principal.name}`)
      }
      // A retained command would be delivered again to every new session, a retained answer kept for nobody.
      if (filterWithin(packet.topic, ALL_KIOSK_CMD) || filterWithin(packet.topic, topics.allKioskCmdAnswers)) packet.retain = false
      done(null)
    },

    authorizeSubscribe(client, subscription, done) {
      const principal = principals.get(client)
      if (!principal || !maySubscribe(principal, subscription.topic)) {
        counts.deniedSubscribes++
        log.warn({ clientId: client.id, ...describe(principal), topic: subscription.topic.slice(0, 256) }, 'mqtt subscribe denied')
        // null negates this subscription only: the SUBACK says 0x80 and the session goes on.
        return done(null, null)
      }
      done(null, subscription)
    },

    published(packet, client, done) {
      // Called for in-process publishes too (client null): only kiosk messages matter here.
      // aedes' own $SYS heartbeats are not messages of ours.
      if (!packet.topic.startsWith('$')) {
        if (client) counts.messagesFromClients++
        else counts.messagesFromGateway++
      }
      const principal = client ? principals.get(client) : undefined
      if (principal?.role === 'kiosk') {
        try {
          if (packet.topic === topics.kioskTx(principal.kioskId)) {
            counts.kioskTxReceived++
            options.onKioskTx?.(principal.kioskId, Buffer.from(packet.payload))
          } else if (packet.topic === topics.kioskQuery(principal.kioskId)) {
            options.onKioskQuery?.(principal.kioskId, Buffer.from(packet.payload))
          } else if (packet.topic === topics.kioskCmdAnswer(principal.kioskId)) {
            options.onKioskCommandAnswer?.(principal.kioskId, Buffer.from(packet.payload))
          } else if (packet.topic === topics.kioskState(principal.kioskId) && packet.payload.length > 0) {
            // Not blocked (a kiosk that cannot report state must still sell), but counted.
            const state = parseJson(packet.payload, validateKioskState)
            if (!state.ok || state.value.kiosk !== principal.kioskId) {
              counts.invalidKioskStates++
              log.warn({ kioskId: principal.kioskId, error: state.ok ? 'kiosk field differs from topic' : state.error }, 'invalid kiosk state payload')
            } else options.onKioskState?.(principal.kioskId, state.value)
          }
        } catch (err) {
          counts.kioskTxHandlerErrors++
          log.error({ err, kioskId: principal.kioskId }, 'kiosk message handler failed')
        }
      }
      done()
    },
  })

  aedes.on('clientError', (client, err) => {
    counts.clientErrors++
    log.debug({ clientId: client?.id, err: err.message }, 'mqtt client error')
  })
  aedes.on('connectionError', (client, err) => {
    counts.clientErrors++
    // aedes's own text for its CONNECT timer (lib/client.js); the test of connectTimeoutMs pins it.
    if (err.message === 'connect did not arrive in time') counts.connectTimeouts++
    log.debug({ err: err.message }, 'mqtt connection error')
  })
  aedes.on('clientDisconnect', (client) => {
    const principal = principals.get(client)
    if (principal?.role === 'kiosk' && kioskSessions.get(principal.kioskId) === client) kioskSessions.delete(principal.kioskId)
  })
  // Persistence errors surface as 'error' on the broker; an unhandled one would crash the process.
  ;(aedes as unknown as NodeJS.EventEmitter).on('error', (err: unknown) => log.error({ err }, 'mqtt broker error'))

  const sockets = new Set<Duplex>()
  /**
   * One new connection of either listener: admitted (or refused) against the shared limits, then
   * handed to aedes with the packet-size guard. `conn` is what aedes reads, `peer` who sent it.
   */
  function acceptConnection(conn: Duplex, peer: ConnectionPeer, request?: IncomingMessage): void {
    conn.on('error', () => {}) // aedes reports errors through the client; avoid an unhandled 'error'.
    const address = sourceAddressKey(peer.remoteAddress)
    const admitted = admission.admit(conn, address)
    if (!admitted.admitted) {
      counts.connectionsRefused++
      log.debug({ address, reason: admitted.reason }, 'mqtt connection refused: no room')
      conn.destroy()
      return
    }
    if (admitted.evict) {
      counts.connectionsEvicted++
      log.debug({ address: addressOf.get(admitted.evict) }, 'mqtt connection closed before CONNECT to make room')
      admitted.evict.destroy()
    }
    addressOf.set(conn, address)
    peerOf.set(conn, peer)
    sockets.add(conn)
    conn.on('close', () => {
      sockets.delete(conn)
      admission.closed(conn)
    })
    aedes.handle(conn, request)
    // aedes reads with 'readable' + read(); a 'data' listener added after it does not
    // switch the stream to flowing mode but sees every chunk read(), before aedes parses it.
    const guard = createFrameSizeGuard(maxPacketBytes)
    conn.on('data', (chunk: Buffer) => {
      const problem = guard.push(chunk)
      if (problem && !conn.destroyed) {
        counts.oversizedPackets++
        log.warn({ remoteAddress: peer.remoteAddress, problem }, 'mqtt connection closed: packet too large')
        conn.destroy()
      }
    })
  }

  // Made once: a bad certificate or key fails here, when the broker is made, not at the first kiosk.
  const secureContext = options.tls ? createSecureContext(options.tls) : undefined

  const server: Server = createServer((socket) => {
    // Replies are small and latency-bound: without this, Nagle holds one back
    // until the kiosk's delayed ACK (~40 ms) whenever a packet is unacknowledged.
    socket.setNoDelay(true)
    if (!secureContext) return acceptConnection(socket, socket)
    // TLS over the accepted socket rather than a tls.Server: the connection counts against the
    // limits from its first byte, as a plain one does, and one that never finishes its handshake
    // is closed by the CONNECT timeout like a silent one.
    const secure = new TLSSocket(socket, { isServer: true, secureContext })
    let established = false
    secure.once('secure', () => (established = true))
    secure.on('error', (err) => {
      if (established) return
      counts.tlsHandshakeFailures++
      log.debug({ remoteAddress: socket.remoteAddress, err: err.message }, 'mqtt tls handshake failed')
    })
    acceptConnection(secure, { remoteAddress: socket.remoteAddress, encrypted: true })
  })
  // The admission above keeps the count; this is a backstop with room for sockets still closing.
  server.maxConnections = limits.maxConnections + 64
  server.on('error', (err) => log.error({ err }, 'mqtt listener error'))

  // MQTT over WebSocket (browsers: the operator console). Only the upgrade on WEBSOCKET_PATH is served;
  // every other request gets 404. Its connections go through acceptConnection like TCP ones.
  const notFound = (_request: IncomingMessage, response: ServerResponse) => void response.writeHead(404).end()
  // With a certificate, wss:// only (an HTTPS server under the WebSocket server), with the same one as TCP.
  const webServer = options.tls ? createHttpsServer({ ...options.tls, handshakeTimeout: limits.connectTimeoutMs }, notFound) : createHttpServer(notFound)
  // A client has as long to finish its upgrade request as a TCP client has to send CONNECT.
  webServer.headersTimeout = limits.connectTimeoutMs
  webServer.requestTimeout = limits.connectTimeoutMs
  webServer.maxConnections = limits.maxConnections + 64
  webServer.on('error', (err) => log.error({ err }, 'mqtt websocket listener error'))
  // A WebSocket message carries at most one MQTT packet in practice; the frame guard checks the packets themselves.
  const webSockets = new WebSocketServer({ server: webServer, path: WEBSOCKET_PATH, maxPayload: maxPacketBytes + 16 })
  webSockets.on('error', (err) => log.error({ err }, 'mqtt websocket listener error'))
  webSockets.on('connection', (ws, request) => {
    request.socket.setNoDelay(true)
    acceptConnection(createWebSocketStream(ws), request.socket, request)
  })

  let bound: { host: string; port: number } | null = null
  let webBound: { host: string; port: number } | null = null
  let closed: Promise<void> | null = null

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err)
        server.once('error', onError)
        server.listen(port, host, () => {
          server.off('error', onError)
          const addr = server.address() as AddressInfo
          bound = { host: addr.address, port: addr.port }
          log.info(bound, 'mqtt broker listening')
          resolve(bound)
        })
      })
    },
    address: () => bound,
    listenWebSocket(host, port) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err)
        webServer.once('error', onError)
        webServer.listen(port, host, () => {
          webServer.off('error', onError)
          const addr = webServer.address() as AddressInfo
          webBound = { host: addr.address, port: addr.port }
          log.info({ ...webBound, path: WEBSOCKET_PATH }, 'mqtt websocket listener listening')
          resolve(webBound)
        })
      })
    },
    webSocketAddress: () => webBound,
    stopAccepting() {
      // close() stops accepting at once; its callback would wait for every connection to end, which is not wanted here.
      if (server.listening) server.close()
      if (webServer.listening) webServer.close()
    },
    publish(topic, payload, { qos, retain = false }) {
      const packet: PublishPacket = { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain, dup: false }
      return new Promise((resolve, reject) =>
        aedes.publish(packet, (err) => {
          // Written (or queued for an offline session): whatever the kiosk's connection held goes out with it.
          if (holds.size > 0) {
            const hold = holds.get(topic)
            if (hold !== undefined) releaseWrites(topic, hold)
          }
          if (err) reject(err)
          else resolve()
        }),
      )
    },
    mayHaveReaders: (topic) => nonKioskClients > 0 || topic.startsWith(KIOSK_TOPIC_PREFIX),
    counters: () => ({ connectedClients: aedes.connectedClients ?? 0, pendingConnections: admission.counts().pending, ...counts }),
    disconnectKiosk(kioskId) {
      const client = kioskSessions.get(kioskId)
      if (client === undefined || client.closed) return false
      log.warn({ kioskId }, 'kiosk connection closed: the kiosk was retired or its token changed')
      client.close()
      return true
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        if (holdSweeper !== undefined) clearInterval(holdSweeper)
        for (const [replyTopic, hold] of holds) releaseWrites(replyTopic, hold)
        if (server.listening) server.close()
        if (webServer.listening) webServer.close()
        webSockets.close()
        aedes.close(() => {
          // aedes closed its clients; destroy anything still half-open (e.g. never sent CONNECT).
          for (const socket of sockets) socket.destroy()
          resolve()
        })
      })
      return closed
    },
  }
}
