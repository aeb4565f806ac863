// The chaos run's fault proxy over loopback sockets: what each mode forwards,
// drops and closes.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'

interface Target {
  server: Server
  port: number
  /** The target's side of each connection, in order of arrival. */
  sockets: Socket[]
  received: Buffer[]
  /** Number of 'data' events seen by the target. */
  chunks: () => number
}

async function startTarget(): Promise<Target> {
  const sockets: Socket[] = []
  const received: Buffer[] = []
  let chunks = 0
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.on('data', (chunk: Buffer) => {
      chunks += 1
      received.push(chunk)
    })
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as AddressInfo).port, sockets, received, chunks: () => chunks }
}

async function connect(proxy: FaultProxy): Promise<{ socket: Socket; received: Buffer[]; closed: Promise<void> }> {
  const socket = createConnection({ host: '127.0.0.1', port: proxy.port })
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  socket.on('error', () => {})
  // Not events.once: a reset emits 'error' before 'close', and once() would reject on it.
  const closed = new Promise<void>((done) => socket.once('close', () => done()))
  await once(socket, 'connect')
  return { socket, received, closed }
}

/** Polls (bounded) until `condition` holds; fails the wait with `what` otherwise. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (condition()) return
    await new Promise((done) => setTimeout(done, 5))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString()

async function setUp(t: Test): Promise<{ target: Target; proxy: FaultProxy }> {
  const target = await startTarget()
  const proxy = await startFaultProxy({ targetPort: target.port })
  t.teardown(async () => {
    await proxy.close()
    for (const socket of target.sockets) socket.destroy()
    await new Promise((done) => target.server.close(done))
  })
  return { target, proxy }
}

t.test('pass forwards both ways and an end closes the other side', async (t) => {
  const { target, proxy } = await setUp(t)
  const client = await connect(proxy)
  client.socket.write('hello broker')
  await until(() => text(target.received) === 'hello broker', 'the target to get the bytes')
  target.sockets[0]!.write('hello kiosk')
  await until(() => text(client.received) === 'hello kiosk', 'the client to get the answer')
  target.sockets[0]!.end()
  await client.closed
  t.pass('the client saw the target close')
})

t.test('delay keeps the order of chunks, and a cut drops what it still held', async (t) => {
  const { target, proxy } = await setUp(t)
  proxy.setMode({ kind: 'delay', ms: 20 })
  const client = await connect(proxy)
  for (let i = 0; i < 10; i++) client.socket.write(`${i},`)
  await until(() => text(target.received) === '0,1,2,3,4,5,6,7,8,9,', 'all ten chunks in order')
  t.equal(text(target.received), '0,1,2,3,4,5,6,7,8,9,')

  proxy.setMode({ kind: 'delay', ms: 60_000 })
  client.socket.write('late')
  await until(() => proxy.connections() === 1 && target.sockets.length === 1, 'the connection to stand')
  // The chunk is held for a minute; the cut comes first.
  t.equal(proxy.cut(), 1, 'one connection cut')
  await client.closed
  t.equal(text(target.received), '0,1,2,3,4,5,6,7,8,9,', 'the held chunk never arrived')
  t.equal(proxy.connections(), 0)
})

t.test('slow forwards everything, in order, in many small pieces', async (t) => {
  const { target, proxy } = await setUp(t)
  proxy.setMode({ kind: 'slow', bytesPerSecond: 40_000 })
  const client = await connect(proxy)
  const payload = Buffer.alloc(8_000, 0)
  for (let i = 0; i < payload.length; i++) payload[i] = i % 251
  client.socket.write(payload)
  await until(() => Buffer.concat(target.received).length === payload.length, 'the whole payload')
  t.ok(Buffer.concat(target.received).equals(payload), 'the bytes arrive unchanged')
  t.ok(target.chunks() >= 2, `the payload arrived in pieces (${target.chunks()})`)
})

t.test('cut destroys both sides', async (t) => {
  const { target, proxy } = await setUp(t)
  const client = await connect(proxy)
  await until(() => target.sockets.length === 1, 'the target connection')
  const targetClosed = new Promise<void>((done) => target.sockets[0]!.once('close', () => done()))
  t.equal(proxy.cut(), 1)
  await Promise.all([client.closed, targetClosed])
  t.pass('client and target both closed')
})

t.test('half-open towards the client: the target hears the client, the client hears nothing, nobody is closed until the path heals', async (t) => {
  const { target, proxy } = await setUp(t)
  const client = await connect(proxy)
  await until(() => target.sockets.length === 1, 'the target connection')
  proxy.setMode({ kind: 'half-open', direction: 'to-client' })
  target.sockets[0]!.write('answer that is lost')
  client.socket.write('ping')
  await until(() => text(target.received) === 'ping', 'the client to be heard')
  // A round trip through the open direction after the lost answer: had it been forwarded, it would be here.
  target.sockets[0]!.write('second answer')
  client.socket.write('ping2')
  await until(() => text(target.received) === 'pingping2', 'the second ping')
  t.equal(client.received.length, 0, 'the client got none of the answers')
  t.notOk(client.socket.destroyed, 'the client is not closed')
  t.equal(proxy.connections(), 1)
  // The stream lost bytes: healing ends it instead of resuming a broken stream.
  proxy.setMode({ kind: 'pass' })
  await client.closed
  t.equal(client.received.length, 0, 'the lost answers never arrive')
  const fresh = await connect(proxy)
  fresh.socket.write('again')
  await until(() => text(target.received).endsWith('again'), 'a new connection works')
  t.pass('a new connection passes')
  fresh.socket.destroy()
})

t.test('half-open towards the target: the client hears the target, the target hears nothing', async (t) => {
  const { target, proxy } = await setUp(t)
  const client = await connect(proxy)
  await until(() => target.sockets.length === 1, 'the target connection')
  proxy.setMode({ kind: 'half-open', direction: 'to-target' })
  client.socket.write('lost')
  target.sockets[0]!.write('hello')
  await until(() => text(client.received) === 'hello', 'the target to be heard')
  t.equal(target.received.length, 0, 'the target got nothing')
  proxy.setMode({ kind: 'pass' })
  await client.closed
  t.equal(target.received.length, 0, 'the lost bytes never arrive')
})

t.test('blackhole accepts connections and forwards nothing either way', async (t) => {
  const { target, proxy } = await setUp(t)
  proxy.setMode({ kind: 'blackhole' })
  const client = await connect(proxy)
  client.socket.write('into the void')
  await until(() => target.sockets.length === 1, 'the proxy to reach the target')
  target.sockets[0]!.write('nobody hears this')
  // A connection that passes, opened after the first, shows that the void connection's bytes stayed behind.
  proxy.setMode({ kind: 'pass' })
  await client.closed
  t.equal(target.received.length, 0, 'the target got nothing')
  t.equal(client.received.length, 0, 'the client got nothing')
  t.equal(proxy.mode().kind, 'pass')
})
