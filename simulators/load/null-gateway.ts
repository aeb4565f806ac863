// The null gateway: a bare aedes broker on loopback whose in-process responder
// answers every transaction at once as accepted, without checking the
// signature or booking anything. What the load generator achieves against it
// is the most it can offer on this machine (generator and broker together),
// the ceiling any real gateway figure sits under.
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes, type PublishPacket } from 'aedes'
import { parseKioskTopic, topics, type TxResult } from '../../device-protocol/index.js'

export interface NullGateway {
  url: string
  /** Transactions answered so far. */
  answered(): number
  close(): Promise<void>
}

export async function startNullGateway(): Promise<NullGateway> {
  // Its message queue is not what is measured: so wide that nothing ever waits in it (a message
  // that waits is released from inside the previous one's delivery, and a long queue overflows the stack).
  const broker = await Aedes.createBroker({ concurrency: 1_000_000 })
  const server: Server = createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  let answered = 0
  // Answers go out on the next turn of the event loop, all that came in this one: publishing from
  // inside the broker's own delivery of the request would nest one delivery in another without end.
  let answers: PublishPacket[] = []
  const flush = () => {
    const batch = answers
    answers = []
    for (const answer of batch) broker.publish(answer, () => {})
  }
  broker.on('publish', (packet, client) => {
    if (!client) return // our own answers
    const topic = parseKioskTopic(packet.topic)
    if (topic?.kind !== 'tx') return
    // Just enough of the envelope to address the answer: no schema, no signature, no ledger.
    let tx: { id?: unknown; seq?: unknown } | undefined
    try {
      tx = (JSON.parse(packet.payload.toString()) as { tx?: { id?: unknown; seq?: unknown } }).tx
    } catch {
      return
    }
    if (typeof tx?.id !== 'string' || typeof tx.seq !== 'number') return
    const result: TxResult = { kind: 'result', id: tx.id, seq: tx.seq, status: 'accepted' }
    const answer: PublishPacket = { cmd: 'publish', topic: topics.kioskReply(topic.kioskId), payload: Buffer.from(JSON.stringify(result)), qos: 1, retain: false, dup: false }
    answered += 1
    if (answers.push(answer) === 1) setImmediate(flush)
  })
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answered: () => answered,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
