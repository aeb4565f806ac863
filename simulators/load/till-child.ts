// The growth bench's till: a real kiosk daemon (memory reader) in its own
// process, driven over stdin and answering on stdout in the chaos run's kiosk
// protocol (../chaos/kiosk-protocol.ts: topup, sale, status). Unlike the
// chaos run's kiosk it loads nothing but the daemon, so that its resident
// memory is the daemon's: the chaos kiosk's harness brings the gateway's
// modules along.
//
// argv[2]: { kioskId, token, mqttUrl, dataDir } as JSON.
import { createKioskDaemon } from '../../daemon/app.js'
import { systemClock } from '../../device-protocol/index.js'
import { DEFAULTS } from '../../daemon/config.js'
import type { Outcome } from '../../daemon/kiosk.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { serveKioskChildRequests } from '../chaos/kiosk-child-loop.js'
import type { KioskChildOptions } from '../chaos/kiosk-protocol.js'
import { requirePackage } from '../../daemon/require-package.js'

// pino is CommonJS: required as the daemon's command line requires it (daemon/require-package.ts).
const { pino } = requirePackage('pino') as typeof import('pino')

const options = JSON.parse(process.argv[2] ?? '{}') as Pick<KioskChildOptions, 'kioskId' | 'token' | 'mqttUrl' | 'dataDir'>
const reader = createMemoryReader()
const daemon = await createKioskDaemon({
  config: {
    ...DEFAULTS,
    kioskId: options.kioskId,
    token: options.token,
    mqttUrl: options.mqttUrl,
    dataDir: options.dataDir,
    reader: { kind: 'memory' },
    apiPort: 0,
    tapTimeoutMs: 10_000,
    feedbackDurationMs: 10,
  },
  logger: pino({ level: 'silent' }),
  clock: systemClock,
  reader,
})
await daemon.start()


/**
 * Resolves once the kiosk listens for a tag (at once if it does already), or
 * after 10 s. Told by the reader's newListener event rather than polled: a
 * poll every millisecond cost the measured daemon CPU and garbage of its own.
 */
function listeningForTag(): Promise<void> {
  if (reader.listenerCount('tag') > 0) return Promise.resolve()
  return new Promise((done) => {
    const finish = () => {
      clearTimeout(timer)
      reader.off('newListener', onListener)
      done()
    }
    // newListener comes before the listener is added; the awaiting caller runs after it is.
    const onListener = (event: string | symbol) => void (event === 'tag' && finish())
    const timer = setTimeout(finish, 10_000)
    reader.on('newListener', onListener)
  })
}

/** The guest taps once the kiosk listens for a tag, and takes the wristband away when the answer is shown. */
async function tap(operation: Promise<Outcome>, uid: string): Promise<Outcome> {
  let settled = false
  operation.then(
    () => void (settled = true),
    () => void (settled = true),
  )
  await Promise.race([listeningForTag(), operation.catch(() => undefined)])
  if (settled) return operation
  reader.present(uid, 'ntag215')
  try {
    return await operation
  } finally {
    reader.remove()
  }
}

serveKioskChildRequests({ daemon, tap: tap })
