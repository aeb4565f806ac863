// The vpcd card simulator: its length-prefix codec, its answers, and its socket
// behaviour against a fake vpcd (a TCP server on 127.0.0.1, port 0).
import t, { type Test } from 'tap'
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import {
  NTAG_ATR,
  VPCD_CONTROL,
  answerVpcdMessage,
  createVpcdDeframer,
  encodeVpcdMessage,
  parseVirtualUid,
  startVpcdCard,
} from './vpcd-card.js'

const tag = { uid: Buffer.from('04A1B2C3D4E5F6', 'hex'), atr: NTAG_ATR }

t.test('codec: length prefix, split chunks, several messages in one chunk', async (t) => {
  t.same([...encodeVpcdMessage(Buffer.from([4]))], [0, 1, 4])
  t.same([...encodeVpcdMessage(Buffer.alloc(0))], [0, 0])
  t.throws(() => encodeVpcdMessage(Buffer.alloc(0x10000)), RangeError)

  const d = createVpcdDeframer()
  const apdu = Buffer.from('FFCA000000', 'hex')
  const wire = encodeVpcdMessage(apdu)
  t.same(d.push(wire.subarray(0, 1)), [], 'half a header')
  t.same(d.push(wire.subarray(1, 4)), [], 'header and part of the body')
  t.equal(d.pendingBytes, 4)
  t.same(d.push(wire.subarray(4)), [apdu], 'completed by the last chunk')
  t.equal(d.pendingBytes, 0)

  const two = Buffer.concat([encodeVpcdMessage(Buffer.from([1])), encodeVpcdMessage(Buffer.from([4])), encodeVpcdMessage(apdu).subarray(0, 3)])
  t.same(d.push(two), [Buffer.from([1]), Buffer.from([4])], 'two messages and the start of a third')
  t.same(d.push(encodeVpcdMessage(apdu).subarray(3)), [apdu])

  t.same(createVpcdDeframer().push(Buffer.from([0, 0, 0, 1, 4])), [Buffer.alloc(0), Buffer.from([4])], 'an empty message is a message')
  const many = createVpcdDeframer().push(Buffer.concat(Array.from({ length: 100 }, () => wire)))
  t.equal(many.length, 100)
})

t.test('answers: control codes, GET DATA, LED pseudo-APDU, unknown and malformed commands', async (t) => {
  t.same(answerVpcdMessage(Buffer.from([VPCD_CONTROL.getAtr]), tag), NTAG_ATR)
  t.equal(answerVpcdMessage(Buffer.from([VPCD_CONTROL.powerOn]), tag), null)
  t.equal(answerVpcdMessage(Buffer.from([VPCD_CONTROL.powerOff]), tag), null)
  t.equal(answerVpcdMessage(Buffer.from([VPCD_CONTROL.reset]), tag), null)
  t.equal(answerVpcdMessage(Buffer.from([0x77]), tag), null, 'unknown control code: no answer')
  t.equal(answerVpcdMessage(Buffer.alloc(0), tag), null)
  t.same(answerVpcdMessage(Buffer.from('FFCA000000', 'hex'), tag), Buffer.from('04A1B2C3D4E5F69000', 'hex'))
  t.same(answerVpcdMessage(Buffer.from('FFCA0000', 'hex'), tag), Buffer.from('04A1B2C3D4E5F69000', 'hex'), 'case 2 without Le')
  t.same(answerVpcdMessage(Buffer.from('FFCA000004', 'hex'), tag), Buffer.from('6C07', 'hex'), 'Le too short: told the right one')
  t.same(answerVpcdMessage(Buffer.from('FFCA010000', 'hex'), tag), Buffer.from('6A81', 'hex'), 'ATS not offered')
  t.same(answerVpcdMessage(Buffer.from('FF0040AC0401000100', 'hex'), tag), Buffer.from('9000', 'hex'), 'ACR122U LED/buzzer')
  t.same(answerVpcdMessage(Buffer.from('FF0040AC04', 'hex'), tag), Buffer.from('6700', 'hex'), 'LED command cut short')
  t.same(answerVpcdMessage(Buffer.from('FFB0000010', 'hex'), tag), Buffer.from('6D00', 'hex'), 'unknown instruction')
  t.same(answerVpcdMessage(Buffer.from('00A4040000', 'hex'), tag), Buffer.from('6E00', 'hex'), 'not a reader pseudo-APDU class')
  t.same(answerVpcdMessage(Buffer.from('FFCA', 'hex'), tag), Buffer.from('6700', 'hex'), 'too short for a command')
})

t.test('parseVirtualUid', async (t) => {
  t.same(parseVirtualUid('de:ad:be:ef'), Buffer.from('DEADBEEF', 'hex'))
  t.equal(parseVirtualUid('00112233445566778899').length, 10)
  for (const bad of ['', 'DEADBE', 'XYZXYZXY', '001122334455', '0'.repeat(22)]) {
    t.throws(() => parseVirtualUid(bad), TypeError, JSON.stringify(bad))
  }
})

/** A stand-in for vpcd in server mode: accepts the card, sends messages, collects answers. */
async function fakeVpcd(t: Test) {
  const connections: Socket[] = []
  let onConnection: (s: Socket) => void = () => {}
  const server = createServer((s) => {
    connections.push(s)
    onConnection(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const port = (server.address() as AddressInfo).port
  const nextConnection = () => new Promise<Socket>((resolve) => (onConnection = resolve))
  /** Sends each message (one write per chunk given) and resolves with the next answer. */
  function ask(s: Socket, ...chunks: Buffer[]): Promise<Buffer> {
    const d = createVpcdDeframer()
    return new Promise((resolve) => {
      const onData = (chunk: Buffer) => {
        const [answer] = d.push(chunk)
        if (answer) {
          s.off('data', onData)
          resolve(answer)
        }
      }
      s.on('data', onData)
      for (const c of chunks) s.write(c)
    })
  }
  return { port, connections, nextConnection, ask }
}

t.test('socket: insert connects, answers vpcd, remove disconnects, a new UID after insert', async (t) => {
  const vpcd = await fakeVpcd(t)
  const connected = vpcd.nextConnection()
  const card = await startVpcdCard({ host: '127.0.0.1', port: vpcd.port, uid: '04a1b2c3d4e5f6' })
  t.teardown(() => card.close())
  const s = await connected
  t.equal(card.uid, '04A1B2C3D4E5F6')

  s.write(encodeVpcdMessage(Buffer.from([VPCD_CONTROL.powerOn]))) // not answered
  t.same(await vpcd.ask(s, encodeVpcdMessage(Buffer.from([VPCD_CONTROL.getAtr]))), NTAG_ATR)
  const getUid = encodeVpcdMessage(Buffer.from('FFCA000000', 'hex'))
  t.same(await vpcd.ask(s, getUid.subarray(0, 2), getUid.subarray(2)), Buffer.from('04A1B2C3D4E5F69000', 'hex'), 'APDU split over two writes')
  t.same(card.apduLog, [Buffer.from('FFCA000000', 'hex')], 'APDUs logged, control codes not')

  const closed = new Promise((resolve) => s.once('close', resolve))
  await card.remove()
  await closed
  t.equal(card.connected, false)

  const again = vpcd.nextConnection()
  await card.insert('DEADBEEF')
  const s2 = await again
  t.same(await vpcd.ask(s2, getUid), Buffer.from('DEADBEEF9000', 'hex'))
  t.equal(card.connections, 2)

  // A different UID while present: the old tag leaves (connection closed) and the new one comes.
  const third = vpcd.nextConnection()
  const closed2 = new Promise((resolve) => s2.once('close', resolve))
  await card.insert('CAFEBABE')
  await closed2
  t.same(await vpcd.ask(await third, getUid), Buffer.from('CAFEBABE9000', 'hex'))
  await t.rejects(card.insert('nonsense'), TypeError)
})

t.test('socket: the card redials when vpcd drops it while it should be present', async (t) => {
  const vpcd = await fakeVpcd(t)
  const first = vpcd.nextConnection()
  const card = await startVpcdCard({ port: vpcd.port, uid: 'DEADBEEF', retryDelayMs: 10 })
  t.teardown(() => card.close())
  const s = await first
  const second = vpcd.nextConnection()
  s.destroy()
  await second
  t.equal(vpcd.connections.length, 2, 'a second connection without insert()')
})

t.test('socket: present false waits for insert(); close() stops for good', async (t) => {
  const vpcd = await fakeVpcd(t)
  const card = await startVpcdCard({ port: vpcd.port, uid: 'DEADBEEF', present: false })
  t.equal(card.connected, false)
  t.equal(vpcd.connections.length, 0)
  const c = vpcd.nextConnection()
  await card.insert()
  await c
  await card.close()
  await t.rejects(card.insert(), /closed/)
})

t.test('socket: insert() while vpcd is not listening resolves once remove() gives up', async (t) => {
  const vpcd = await fakeVpcd(t)
  const card = await startVpcdCard({ port: 1, uid: 'DEADBEEF', present: false, retryDelayMs: 10 })
  const pending = card.insert()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(card.connected, false)
  await card.remove()
  await pending
  await card.close()
  t.equal(vpcd.connections.length, 0)
})
