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
import pino from 'pino'
import { createKioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { kioskDaemonConfig, tapAndAwait } from '../e2e/kiosk-harness.js'
import { serveKioskChildRequests } from './kiosk-child-loop.js'
import type { KioskChildOptions } from './kiosk-protocol.js'

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

const presenter = { present: reader.present.bind(reader), remove: reader.remove.bind(reader), awaitingTag: () => reader.listenerCount('tag') > 0 }

serveKioskChildRequests({ daemon, tap: (operation, uid) => tapAndAwait(operation, presenter, uid, 1) })
