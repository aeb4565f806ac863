// The ceilings an end-to-end figure is compared against, measured in the same
// run on the same machine: how fast this machine verifies Ed25519 signatures,
// and how many QoS 1 request/answer round trips the embedded broker carries
// without any ledger behind it.
import { createServer, type AddressInfo, type Server } from 'node:net'
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'

/** Synchronous verifies of 64-byte messages on one core, per second. */
export function measureVerifiesPerSec(durationMs: number): number {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const message = randomBytes(64)
  const signature = sign(null, message, privateKey)
  const start = performance.now()
  let count = 0
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < 100; i++) verify(null, message, publicKey, signature)
    count += 100
  }
  return Math.round((count * 1000) / (performance.now() - start))
}

/** Verifies per second with the callback API, which spreads them over libuv's thread pool. */
export async function measureAsyncVerifiesPerSec(durationMs: number, window = 256): Promise<number> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const message = randomBytes(64)
  const signature = sign(null, message, privateKey)
  const start = performance.now()
  let count = 0
  const worker = async (): Promise<void> => {
    while (performance.now() - start < durationMs) {
      await new Promise<void>((resolve) => verify(null, message, publicKey, signature, () => resolve()))
      count += 1
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  return Math.round((count * 1000) / (performance.now() - start))
}

/**
 * QoS 1 round trips per second through a bare aedes broker on loopback: a
 * client publishes a 200-byte request, a responder subscribed to it publishes
 * an answer, the client receives it; `window` requests are kept in flight,
 * as the kiosks of the end-to-end benchmark do.
 */
export async function measureBrokerRoundTripsPerSec(durationMs: number, window = 256): Promise<number> {
  const broker = await Aedes.createBroker()
  const server: Server = createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  const requester = await mqtt.connectAsync(url, { clientId: 'limit-requester' })
  const responder = await mqtt.connectAsync(url, { clientId: 'limit-responder' })
  try {
    responder.on('message', (_topic, payload) => responder.publish('bench/answer', payload, { qos: 1 }))
    await responder.subscribeAsync('bench/request', { qos: 1 })
    await requester.subscribeAsync('bench/answer', { qos: 1 })
    const body = randomBytes(200)
    let answered = 0
    let sent = 0
    const start = performance.now()
    await new Promise<void>((resolve) => {
      const sendOne = () => {
        sent += 1
        requester.publish('bench/request', body, { qos: 1 })
      }
      requester.on('message', () => {
        answered += 1
        if (performance.now() - start < durationMs) sendOne()
        else if (answered === sent) resolve()
      })
      for (let i = 0; i < window; i++) sendOne()
    })
    return Math.round((answered * 1000) / (performance.now() - start))
  } finally {
    await requester.endAsync()
    await responder.endAsync()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
