// The embedded MQTT broker (aedes) with device authentication and the ACLs of
// DESIGN.md. The gateway does not connect to it as a client: it publishes
// in-process and receives kiosk transactions through the `published` hook, so
// no network hop and no extra credentials sit between the broker and the ledger.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import { parseJson, topics, TOPIC_ROOT, validateKioskState } from '../device-protocol/index.js'

export type Principal = { role: 'kiosk'; kioskId: string } | { role: 'operator'; name: string } | { role: 'gateway' }

export interface BrokerOptions {
  /** Decides who a connecting client is; null refuses it. A throw refuses it as "server unavailable". */
  authenticate: (username: string | undefined, password: string | undefined) => Principal | null
  logger: Logger
  /** Called for every message a kiosk publishes on its own `kiosk/{id}/tx` topic. */
  onKioskTx?: (kioskId: string, payload: Buffer) => void
  /** Called for every message a kiosk publishes on its own `kiosk/{id}/query` topic (balance checks). */
  onKioskQuery?: (kioskId: string, payload: Buffer) => void
  /** Largest MQTT packet (remaining length) accepted from a client; the connection is closed beyond it. */
  maxPacketBytes?: number
  /** Open TCP connections at most; more are refused by the listener. */
  maxConnections?: number
  /** A client has this long after TCP connect to send CONNECT. */
  connectTimeoutMs?: number
}

export interface BrokerCounters {
  connectedClients: number
  authFailures: number
  deniedPublishes: number
  deniedSubscribes: number
  oversizedPackets: number
  sessionTakeovers: number
  kioskTxReceived: number
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
  /** Stops accepting new TCP connections; connected clients stay (used first in a graceful stop). */
  stopAccepting(): void
  /** Publishes in-process, bypassing the ACLs (the gateway is trusted). */
  publish(topic: string, payload: Buffer | string, options: PublishOptions): Promise<void>
  counters(): BrokerCounters
  /** Disconnects every client and closes the listener. Idempotent. */
  close(): Promise<void>
}

export const DEFAULT_MAX_PACKET_BYTES = 64 * 1024 + 512

// ---------------------------------------------------------------------------
// ACLs: pure functions, so they can be tested without sockets.

const OPERATOR_SUBSCRIBE_FILTERS = [topics.allKioskState, topics.gatewayState, topics.allEvents]

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
      return topic === topics.kioskTx(principal.kioskId) || topic === topics.kioskState(principal.kioskId) || topic === topics.kioskQuery(principal.kioskId)
    case 'operator':
      return false
    case 'gateway':
      return topic.startsWith(`${TOPIC_ROOT}/`)
  }
}

/** Whether `principal` may subscribe to `filter`. Kiosks get exact topics only, no wildcards. */
export function maySubscribe(principal: Principal, filter: string): boolean {
  switch (principal.role) {
    case 'kiosk':
      return filter === topics.kioskReply(principal.kioskId) || filter === topics.kioskConfig(principal.kioskId)
    case 'operator':
      return OPERATOR_SUBSCRIBE_FILTERS.some((allowed) => filterWithin(filter, allowed))
    case 'gateway':
      return filterWithin(filter, `${TOPIC_ROOT}/#`)
  }
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

function authError(message: string, returnCode: 3 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

function describe(principal: Principal | undefined): Record<string, string> {
  if (!principal) return { role: 'unknown' }
  if (principal.role === 'kiosk') return { role: 'kiosk', kioskId: principal.kioskId }
  if (principal.role === 'operator') return { role: 'operator', operator: principal.name }
  return { role: 'gateway' }
}

/** Usernames end up in logs: keep them short and printable. */
function loggableUsername(username: string | undefined): string | undefined {
  if (username === undefined) return undefined
  return username.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')
}

export async function createBroker(options: BrokerOptions): Promise<Broker> {
  const log = options.logger
  const maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES
  const principals = new WeakMap<Client, Principal>()
  // The live session of each kiosk id: a second connection with the same kiosk
  // id (whatever its clientId) replaces the first, as aedes does for a clientId.
  const kioskSessions = new Map<string, Client>()
  const counts = {
    authFailures: 0,
    deniedPublishes: 0,
    deniedSubscribes: 0,
    oversizedPackets: 0,
    sessionTakeovers: 0,
    kioskTxReceived: 0,
    kioskTxHandlerErrors: 0,
    invalidKioskStates: 0,
    clientErrors: 0,
  }

  const aedes = await Aedes.createBroker({
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // A client that stops reading must not stall delivery to every other one.
    drainTimeout: 30_000,
    maxTopicLevels: 16,

    authenticate(client, username, password, done) {
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
        const anonymous = username === undefined
        log.warn({ clientId: client.id, username: loggableUsername(username), anonymous }, 'mqtt connection refused')
        return done(authError(anonymous ? 'not authorized' : 'bad username or password', anonymous ? 5 : 4), false)
      }
      principals.set(client, principal)
      if (principal.role === 'kiosk') {
        const previous = kioskSessions.get(principal.kioskId)
        if (previous && previous !== client && !previous.closed) {
          counts.sessionTakeovers++
          log.warn({ kioskId: principal.kioskId, oldClientId: previous.id, clientId: client.id }, 'kiosk connected again: the newer session replaces the older')
          previous.close()
        }
        kioskSessions.set(principal.kioskId, client)
      }
      done(null, true)
    },

    authorizePublish(client, packet, done) {
      // client is null only for the will of a client that is already gone: that
      // will was authorized when it was stored with the client's own principal.
      const principal = client ? principals.get(client) : undefined
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
      const principal = client ? principals.get(client) : undefined
      if (principal?.role === 'kiosk') {
        try {
          if (packet.topic === topics.kioskTx(principal.kioskId)) {
            counts.kioskTxReceived++
            options.onKioskTx?.(principal.kioskId, Buffer.from(packet.payload))
          } else if (packet.topic === topics.kioskQuery(principal.kioskId)) {
            options.onKioskQuery?.(principal.kioskId, Buffer.from(packet.payload))
          } else if (packet.topic === topics.kioskState(principal.kioskId) && packet.payload.length > 0) {
            // Not blocked (a kiosk that cannot report state must still sell), but counted.
            const state = parseJson(packet.payload, validateKioskState)
            if (!state.ok || state.value.kiosk !== principal.kioskId) {
              counts.invalidKioskStates++
              log.warn({ kioskId: principal.kioskId, error: state.ok ? 'kiosk field differs from topic' : state.error }, 'invalid kiosk state payload')
            }
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
    log.debug({ err: err.message }, 'mqtt connection error')
  })
  aedes.on('clientDisconnect', (client) => {
    const principal = principals.get(client)
    if (principal?.role === 'kiosk' && kioskSessions.get(principal.kioskId) === client) kioskSessions.delete(principal.kioskId)
  })
  // Persistence errors surface as 'error' on the broker; an unhandled one would crash the process.
  ;(aedes as unknown as NodeJS.EventEmitter).on('error', (err: unknown) => log.error({ err }, 'mqtt broker error'))

  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    // Replies are small and latency-bound: without this, Nagle holds one back
    // until the kiosk's delayed ACK (~40 ms) whenever a packet is unacknowledged.
    socket.setNoDelay(true)
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {}) // aedes reports errors through the client; avoid an unhandled 'error'.
    aedes.handle(socket)
    // aedes reads with 'readable' + read(); a 'data' listener added after it does not
    // switch the socket to flowing mode but sees every chunk read(), before aedes parses it.
    const guard = createFrameSizeGuard(maxPacketBytes)
    socket.on('data', (chunk: Buffer) => {
      const problem = guard.push(chunk)
      if (problem && !socket.destroyed) {
        counts.oversizedPackets++
        log.warn({ remoteAddress: socket.remoteAddress, problem }, 'mqtt connection closed: packet too large')
        socket.destroy()
      }
    })
  })
  server.maxConnections = options.maxConnections ?? 2000
  server.on('error', (err) => log.error({ err }, 'mqtt listener error'))

  let bound: { host: string; port: number } | null = null
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
    stopAccepting() {
      // close() stops accepting at once; its callback would wait for every connection to end, which is not wanted here.
      if (server.listening) server.close()
    },
    publish(topic, payload, { qos, retain = false }) {
      const packet: PublishPacket = { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain, dup: false }
      return new Promise((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())))
    },
    counters: () => ({ connectedClients: aedes.connectedClients ?? 0, ...counts }),
    close() {
      closed ??= new Promise<void>((resolve) => {
        if (server.listening) server.close()
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
