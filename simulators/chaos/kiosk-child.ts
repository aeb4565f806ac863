// The chaos run's kiosk: a real kiosk daemon (memory reader) in its own
// process, driven over stdin and answering on stdout, one JSON object a line.
// The chaos run kills it with SIGKILL and starts it again on the same data
// folder (keys and outbox), as a power cut and a reboot would.
//
// argv[2]: KioskChildOptions as JSON. Its clock may run off the true time by
// clockOffsetMs: a kiosk whose clock is wrong (a test-only knob; production
// kiosks take the system clock).
//
// In:  {"op":"topup","n":7,"uid":"04…","amount":10007}
//      {"op":"sale","n":8,"uid":"04…","unitPrice":8}
//      {"op":"status"}
//      {"op":"answers","ids":["…"]}
// Out: {"type":"ready"}
//      {"type":"outcome","n":7,"status":"accepted","id":"…","seq":3,"amount":10007,"reason":…}
//      {"type":"refused","n":8,"error":"offline_limit"}      (the kiosk refused before signing)
//      {"type":"status","depth":0,"connected":true,"chain":"intact"}
//      {"type":"answers","answers":{"…":"accepted"}}
import { createInterface } from 'node:readline'
import pino from 'pino'
import { createKioskDaemon } from '../../daemon/app.js'
import { KioskError } from '../../daemon/kiosk.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { kioskDaemonConfig, tapAndAwait } from '../e2e/kiosk-harness.js'
import { CHAOS_PRODUCT, type KioskChildOptions, type KioskReply, type KioskRequest } from './kiosk-protocol.js'

const options = JSON.parse(process.argv[2] ?? '{}') as KioskChildOptions
const reader = createMemoryReader()
const daemon = await createKioskDaemon({
  config: kioskDaemonConfig({
    kioskId: options.kioskId,
    token: options.token,
    mqttUrl: options.mqttUrl,
    dataDir: options.dataDir,
    overrides: {
      replyTimeoutMs: options.replyTimeoutMs,
      tapTimeoutMs: 10_000,
      reconnectInitialDelayMs: 100,
      reconnectMaxDelayMs: 1_000,
      feedbackDurationMs: 10,
    },
  }),
  logger: pino({ level: 'silent' }),
  clock: { now: () => Date.now() + options.clockOffsetMs },
  reader,
})
await daemon.start()

const send = (reply: KioskReply) => process.stdout.write(`${JSON.stringify(reply)}\n`)
const presenter = { present: reader.present.bind(reader), remove: reader.remove.bind(reader), awaitingTag: () => reader.listenerCount('tag') > 0 }

async function handle(request: KioskRequest): Promise<void> {
  if (request.op === 'status') {
    const status = daemon.status()
    send({ type: 'status', depth: daemon.outbox.depth(), connected: status.connected, chain: status.chain.status })
    return
  }
  if (request.op === 'answers') {
    const answers: Record<string, string> = {}
    for (const id of request.ids) {
      const record = daemon.outbox.answered(id)
      if (record) answers[id] = record.status
    }
    send({ type: 'answers', answers })
    return
  }
  const operation = request.op === 'topup' ? daemon.kiosk.topUp(request.amount) : daemon.kiosk.sale([{ product: CHAOS_PRODUCT, qty: 1, unitPrice: request.unitPrice }])
  try {
    const outcome = await tapAndAwait(operation, presenter, request.uid, 1)
    send({ type: 'outcome', n: request.n, status: outcome.status, id: outcome.id, seq: outcome.seq, amount: outcome.amount, ...(outcome.reason === undefined ? {} : { reason: outcome.reason }) })
  } catch (err) {
    send({ type: 'refused', n: request.n, error: err instanceof KioskError ? err.type : String((err as Error).message ?? err) })
  }
}

// One operation at a time, in order, as at a real till.
let queue = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return
  const request = JSON.parse(line) as KioskRequest
  queue = queue.then(() => handle(request))
})
// The parent went away: a kiosk nobody drives is of no use.
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'))
send({ type: 'ready' })
