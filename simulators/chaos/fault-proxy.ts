// A TCP proxy on loopback that puts a bad network between a kiosk and the
// broker: every chunk either way passes through a pipe whose mode the chaos
// run changes while it runs. A mode applies to the connections already open
// and to new ones.
//
//   pass       forward as it comes
//   delay      hold every chunk `ms` before forwarding it (order kept)
//   slow       forward at most `bytesPerSecond`
//   half-open  forward nothing in one direction and close nothing: only the
//              endpoints' keepalives can notice
//   blackhole  accept connections, forward nothing either way
//
// cut() destroys both sides of every open connection (a reset, a cable pulled).
// Bytes dropped by half-open or blackhole leave a stream that no protocol can
// resume, so a connection that lost bytes is destroyed when the mode changes
// back to one that forwards (as a real broken path ends in a timeout).
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net'

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'delay'; ms: number }
  | { kind: 'slow'; bytesPerSecond: number }
  /** to-target: the client's bytes are dropped (the broker hears nothing); to-client: the target's are. */
  | { kind: 'half-open'; direction: 'to-target' | 'to-client' }
  | { kind: 'blackhole' }

export interface FaultProxyOptions {
  /** Where connections go: a loopback port. */
  targetPort: number
  targetHost?: string
  /** The port to listen on (127.0.0.1); 0 or absent: any free one. */
  port?: number
}

export interface FaultProxy {
  readonly port: number
  mode(): FaultMode
  setMode(mode: FaultMode): void
  /** Destroys both sides of every open connection; returns how many there were. */
  cut(): number
  /** Connections open now. */
  connections(): number
  close(): Promise<void>
}

/** How often a slow pipe forwards its share. */
const SLOW_TICK_MS = 50

type Direction = 'to-target' | 'to-client'

interface Pipe {
  queue: Array<{ chunk: Buffer; readyAt: number }>
  timer: NodeJS.Timeout | undefined
  /** The source ended: end the destination once the queue is empty. */
  ended: boolean
}

interface Connection {
  client: Socket
  target: Socket
  pipes: Record<Direction, Pipe>
  /** Bytes were dropped: the stream is broken for good. */
  damaged: boolean
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const targetHost = options.targetHost ?? '127.0.0.1'
  let current: FaultMode = { kind: 'pass' }
  const open = new Set<Connection>()

  const drops = (direction: Direction): boolean => current.kind === 'blackhole' || (current.kind === 'half-open' && current.direction === direction)

  function destroy(connection: Connection): void {
    if (!open.delete(connection)) return
    for (const pipe of Object.values(connection.pipes)) {
      clearTimeout(pipe.timer)
      pipe.queue.length = 0
    }
    connection.client.destroy()
    connection.target.destroy()
  }

  function pump(connection: Connection, direction: Direction): void {
    const pipe = connection.pipes[direction]
    const destination = direction === 'to-target' ? connection.target : connection.client
    if (pipe.timer !== undefined || !open.has(connection)) return
    if (destination.destroyed) {
      pipe.queue.length = 0
      return
    }
    while (pipe.queue.length > 0) {
      const head = pipe.queue[0]!
      const waitMs = head.readyAt - Date.now()
      if (waitMs > 0) {
        pipe.timer = setTimeout(() => {
          pipe.timer = undefined
          pump(connection, direction)
        }, waitMs)
        return
      }
      if (current.kind === 'slow') {
        const share = Math.max(1, Math.floor((current.bytesPerSecond * SLOW_TICK_MS) / 1000))
        destination.write(head.chunk.subarray(0, share))
        if (head.chunk.length > share) head.chunk = head.chunk.subarray(share)
        else pipe.queue.shift()
        pipe.timer = setTimeout(() => {
          pipe.timer = undefined
          pump(connection, direction)
        }, SLOW_TICK_MS)
        return
      }
      pipe.queue.shift()
      destination.write(head.chunk)
    }
    if (pipe.ended) destination.end()
  }

  function onChunk(connection: Connection, direction: Direction, chunk: Buffer): void {
    if (drops(direction)) {
      connection.damaged = true
      return
    }
    const readyAt = Date.now() + (current.kind === 'delay' ? current.ms : 0)
    // Order is kept: a chunk never overtakes one queued before it.
    const last = connection.pipes[direction].queue.at(-1)
    connection.pipes[direction].queue.push({ chunk, readyAt: Math.max(readyAt, last?.readyAt ?? 0) })
    pump(connection, direction)
  }

  const server: Server = createServer((client) => {
    const target = createConnection({ host: targetHost, port: options.targetPort })
    const pipe = (): Pipe => ({ queue: [], timer: undefined, ended: false })
    const connection: Connection = { client, target, pipes: { 'to-target': pipe(), 'to-client': pipe() }, damaged: false }
    open.add(connection)
    client.on('data', (chunk: Buffer) => onChunk(connection, 'to-target', chunk))
    target.on('data', (chunk: Buffer) => onChunk(connection, 'to-client', chunk))
    for (const [socket, direction] of [
      [client, 'to-target'],
      [target, 'to-client'],
    ] as const) {
      const sourceEnded = () => {
        connection.pipes[direction].ended = true
        // A dropping direction forwards no end either: the other side learns nothing.
        if (!drops(direction)) pump(connection, direction)
      }
      socket.on('end', sourceEnded)
      // A reset: the other side is reset too.
      socket.on('error', () => destroy(connection))
      socket.on('close', () => {
        sourceEnded()
        if (connection.client.destroyed && connection.target.destroyed) destroy(connection)
      })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  server.on('error', () => {})

  return {
    port: (server.address() as AddressInfo).port,
    mode: () => current,
    setMode(mode) {
      current = mode
      if (drops('to-target') || drops('to-client')) return
      for (const connection of [...open]) {
        if (connection.damaged) destroy(connection)
        else {
          pump(connection, 'to-target')
          pump(connection, 'to-client')
        }
      }
    },
    cut() {
      const count = open.size
      for (const connection of [...open]) destroy(connection)
      return count
    },
    connections: () => open.size,
    async close() {
      for (const connection of [...open]) destroy(connection)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
