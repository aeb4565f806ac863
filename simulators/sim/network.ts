// The simulated broker and the network between it and the kiosks. It keeps
// what matters of MQTT for the protocol: a connection per kiosk (a new one
// takes over from an old one), QoS 1 sessions that keep replies for a kiosk
// that is away (clean: false) until its next connection, and nothing of that
// after a broker restart (in-flight messages and sessions are lost, as with
// aedes' in-memory persistence). Faults come from windows the plan opens:
//
// - drop: the message is lost and the kiosk's connection breaks with it. A
//   live TCP connection does not lose a message by itself, and QoS 1 would
//   deliver it again on the same session; losing it together with the
//   connection is the harsher case (only the outbox resend brings it back).
// - duplicate: delivered twice (a QoS 1 redelivery).
// - delay: delivered late; later messages on the connection wait behind it.
// - reorder: delivered at its own random time, overtaking or overtaken.
//
// Partitions cut a kiosk off the broker for a while (its connects fail).
import type { Prng } from './prng.js'
import { createOwner, type Owner, type SimScheduler } from './scheduler.js'

export type Direction = 'up' | 'down'
export type MessageFault = 'drop' | 'duplicate' | 'delay' | 'reorder'

export interface FaultWindow {
  kiosk: string | '*'
  dir: Direction | 'both'
  kind: MessageFault
  probability: number
  untilMs: number
}

/** The kiosk end of a connection (the simulated link). Called inside the link's owner. */
export interface LinkEnd {
  readonly owner: Owner
  connected(connection: number): void
  connectFailed(): void
  lost(): void
  deliver(payload: string): void
}

/** The gateway end: what the real gateway's broker hooks call (onKioskTx, onKioskQuery). */
export interface GatewayEnd {
  readonly owner: Owner
  tx(kioskId: string, payload: string): void
  query(kioskId: string, payload: string): void
}

interface Connection {
  id: number
  kioskId: string
  end: LinkEnd
  /** Latest scheduled delivery per direction: the FIFO order of one connection. */
  lastAt: Record<Direction, number>
}

interface Session {
  /** Replies kept for the kiosk while it is away (QoS 1, clean: false). */
  queue: string[]
  connection?: Connection
}

export interface NetworkObserver {
  fault(kind: string, detail: string): void
}

export class SimNetwork {
  private brokerOwner: Owner = createOwner('broker#0')
  private brokerGeneration = 0
  private brokerDownUntil = -1
  private nextConnection = 1
  private readonly sessions = new Map<string, Session>()
  private readonly partitions = new Map<string, number>()
  windows: FaultWindow[] = []
  gateway: GatewayEnd | undefined

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly rng: Prng,
    private readonly observer: NetworkObserver,
  ) {}

  brokerUp(): boolean {
    return this.scheduler.now >= this.brokerDownUntil
  }

  partitioned(kioskId: string): boolean {
    return (this.partitions.get(kioskId) ?? -1) > this.scheduler.now
  }

  isConnected(kioskId: string): boolean {
    return this.sessions.get(kioskId)?.connection !== undefined
  }

  private session(kioskId: string): Session {
    let s = this.sessions.get(kioskId)
    if (!s) {
      s = { queue: [] }
      this.sessions.set(kioskId, s)
    }
    return s
  }

  /** A connect attempt: its outcome comes after a round trip, as an event of the link's owner. */
  connect(kioskId: string, end: LinkEnd): void {
    this.scheduler.at(
      this.rng.between(2, 40),
      `connect ${kioskId}`,
      () => {
        if (!this.brokerUp() || this.partitioned(kioskId) || this.gateway === undefined) {
          end.connectFailed()
          return
        }
        const session = this.session(kioskId)
        const old = session.connection
        // MQTT's session takeover: the broker closes the old connection of the same client id.
        if (old) this.scheduler.within(old.end.owner, () => old.end.lost())
        const connection: Connection = { id: this.nextConnection++, kioskId, end, lastAt: { up: 0, down: 0 } }
        session.connection = connection
        end.connected(connection.id)
        // What waited in the session goes out first, in order.
        const waiting = session.queue.splice(0)
        for (const payload of waiting) this.sendDown(connection, payload)
      },
      end.owner,
    )
  }

  /** The link closes its side (a kiosk process that ends). */
  disconnect(kioskId: string, connection: number): void {
    const session = this.sessions.get(kioskId)
    if (session?.connection?.id === connection) delete session.connection
  }

  /** Breaks the kiosk's connection now (the kiosk notices and reconnects). */
  cut(kioskId: string): void {
    const session = this.sessions.get(kioskId)
    const connection = session?.connection
    if (!session || !connection) return
    delete session.connection
    this.scheduler.within(connection.end.owner, () => connection.end.lost())
  }

  partition(kioskId: string, durationMs: number): void {
    this.partitions.set(kioskId, Math.max(this.partitions.get(kioskId) ?? 0, this.scheduler.now + durationMs))
    this.cut(kioskId)
  }

  /** The broker goes down for downMs: every connection, session and message in flight is lost. */
  restartBroker(downMs: number): void {
    this.brokerOwner.dead = true
    this.brokerGeneration += 1
    this.brokerOwner = createOwner(`broker#${this.brokerGeneration}`)
    this.brokerDownUntil = Math.max(this.brokerDownUntil, this.scheduler.now + downMs)
    for (const kioskId of [...this.sessions.keys()].sort()) {
      this.cut(kioskId)
      this.sessions.delete(kioskId)
    }
  }

  /** Ends every fault: partitions heal, message faults stop. */
  heal(): void {
    this.partitions.clear()
    this.windows = []
  }

  /** Kiosk to gateway (a transaction or a query), on the kiosk's current connection. */
  publishUp(kioskId: string, connection: number, kind: 'tx' | 'query', payload: string): void {
    const conn = this.sessions.get(kioskId)?.connection
    if (!conn || conn.id !== connection) return
    this.transmit(conn, 'up', `${kind} ${kioskId}`, () => {
      // Arrived at the broker: the gateway gets it if it is up (the broker lives in its process).
      const live = this.sessions.get(kioskId)?.connection
      if (!live || live.id !== connection) return
      const gateway = this.gateway
      if (!gateway || gateway.owner.dead) return
      this.scheduler.within(gateway.owner, () => (kind === 'tx' ? gateway.tx(kioskId, payload) : gateway.query(kioskId, payload)))
    })
  }

  /** Gateway to kiosk (a reply): now if connected, else kept in the kiosk's session. */
  publishDown(kioskId: string, payload: string): void {
    if (!this.brokerUp()) return
    const session = this.session(kioskId)
    if (session.connection) this.sendDown(session.connection, payload)
    else session.queue.push(payload)
  }

  private sendDown(conn: Connection, payload: string): void {
    this.transmit(conn, 'down', `reply ${conn.kioskId}`, () => {
      const session = this.sessions.get(conn.kioskId)
      if (session?.connection?.id !== conn.id) {
        // Not acknowledged on that connection: QoS 1 keeps it for the next one.
        if (session) session.queue.push(payload)
        return
      }
      this.scheduler.within(conn.end.owner, () => conn.end.deliver(payload))
    })
  }

  private applicable(kioskId: string, dir: Direction): FaultWindow[] {
    const now = this.scheduler.now
    return this.windows.filter((w) => w.untilMs > now && (w.kiosk === '*' || w.kiosk === kioskId) && (w.dir === 'both' || w.dir === dir))
  }

  private transmit(conn: Connection, dir: Direction, label: string, arrive: () => void): void {
    let latency = this.rng.between(1, 12)
    let fifo = true
    let duplicate = false
    for (const window of this.applicable(conn.kioskId, dir)) {
      if (!this.rng.chance(window.probability)) continue
      this.observer.fault(window.kind, `${dir} ${label}`)
      if (window.kind === 'drop') {
        // Lost with the connection it was on.
        this.scheduler.at(this.rng.between(1, 200), `break ${conn.kioskId}`, () => this.cutConnection(conn), this.brokerOwner)
        return
      }
      if (window.kind === 'delay') latency += this.rng.between(100, 5_000)
      if (window.kind === 'reorder') {
        fifo = false
        latency = this.rng.between(1, 3_000)
      }
      if (window.kind === 'duplicate') duplicate = true
    }
    let at = this.scheduler.now + latency
    if (fifo) {
      at = Math.max(at, conn.lastAt[dir])
      conn.lastAt[dir] = at
    }
    this.scheduler.at(at - this.scheduler.now, label, arrive, this.brokerOwner)
    if (duplicate) this.scheduler.at(at - this.scheduler.now + this.rng.between(1, 300), `${label} (again)`, arrive, this.brokerOwner)
  }

  private cutConnection(conn: Connection): void {
    const session = this.sessions.get(conn.kioskId)
    if (session?.connection?.id === conn.id) this.cut(conn.kioskId)
  }
}
