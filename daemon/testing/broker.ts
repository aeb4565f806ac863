// Test-only: a real aedes broker on 127.0.0.1 (ephemeral port) that can be
// stopped and started again on the same port, with username/password auth.
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface TestBroker {
  readonly port: number
  readonly url: string
  /** Closes the broker and its connections (a gateway outage). */
  stop(): Promise<void>
  /** A fresh broker on the same port. */
  restart(): Promise<void>
  /** Cuts one client's connection without an MQTT DISCONNECT (its will is published). */
  dropClient(clientId: string): boolean
  /** Decides who may connect (beyond the password); tests use it to keep kiosks out for a while. */
  admit: (username: string) => boolean
}

/** `credentials`: username → password; anyone else is refused. */
export async function startTestBroker(credentials: Record<string, string>): Promise<TestBroker> {
  let port = 0
  let server: Server | undefined
  let broker: { close(cb?: () => void): void; handle: (s: Socket) => unknown } | undefined
  const sockets = new Set<Socket>()
  const connections = new Map<string, Socket>()
  const self = { admit: (_username: string) => true }

  async function up(): Promise<void> {
    const { Aedes } = await import('aedes')
    const b = await Aedes.createBroker({
      authenticate: (_client, username, password, done) => {
        const ok = username !== undefined && Object.hasOwn(credentials, username) && password?.toString() === credentials[username] && self.admit(username)
        if (ok) done(null, true)
        else done(Object.assign(new Error('not authorized'), { returnCode: 5 }) as never, false)
      },
    })
    b.on('client', (client) => connections.set(client.id, (client as unknown as { conn: Socket }).conn))
    b.on('clientDisconnect', (client) => connections.delete(client.id))
    const s = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      b.handle(socket)
    })
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => resolve())
    })
    port = (s.address() as AddressInfo).port
    server = s
    broker = b
  }

  async function down(): Promise<void> {
    const s = server
    const b = broker
    server = undefined
    broker = undefined
    if (b) await new Promise<void>((resolve) => b.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  await up()
  return {
    get port() {
      return port
    },
    get url() {
      return `mqtt://127.0.0.1:${port}`
    },
    stop: down,
    restart: up,
    dropClient(clientId) {
      const socket = connections.get(clientId)
      if (!socket) return false
      socket.destroy()
      return true
    },
    get admit() {
      return self.admit
    },
    set admit(fn) {
      self.admit = fn
    },
  }
}
