// Test-only child process: a real kiosk daemon (memory reader) books cash
// top-ups at a gateway, checkpoints its outbox's WAL after `checkpointAfter` of
// them, reports the ids on stdout and dies by SIGKILL without closing anything
// (a power cut, as far as the process knows). What is left on disk is a
// crashed kiosk's outbox: the database file plus the WAL holding the rest.
//
// argv: dataDir mqttUrl kioskId token count checkpointAfter uid
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createKioskDaemon } from '../app.js'
import { DEFAULTS } from '../config.js'
import { createMemoryReader } from '../reader/memory-reader.js'
import { waitUntil } from './wait.js'

const [dataDir, mqttUrl, kioskId, token, countText, checkpointText, uid] = process.argv.slice(2) as [string, string, string, string, string, string, string]
const reader = createMemoryReader()
const daemon = await createKioskDaemon({
  config: { ...DEFAULTS, kioskId, token, mqttUrl, dataDir, reader: { kind: 'memory' }, apiPort: 0, replyTimeoutMs: 10_000, tapTimeoutMs: 10_000 },
  logger: pino({ level: 'silent' }),
  clock: systemClock,
  reader,
})
await daemon.start()
await waitUntil(() => daemon.status().config !== null && daemon.kiosk.chainState().status === 'intact', 'connected, configured and the chain checked', 4_000, 5)

const ids: string[] = []
for (let i = 0; i < Number(countText); i++) {
  const topUp = daemon.kiosk.topUp(1_000)
  await waitUntil(() => reader.listenerCount('tag') > 0, 'the kiosk waits for a tap', 2_000, 5)
  reader.present(uid, 'ntag215')
  const outcome = await topUp
  reader.remove()
  if (outcome.status !== 'accepted') throw new Error(`top-up ${i + 1} was ${outcome.status}`)
  ids.push(outcome.id)
  if (i + 1 === Number(checkpointText)) daemon.outbox.database.pragma('wal_checkpoint(TRUNCATE)')
}
process.stdout.write(`${JSON.stringify(ids)}\n`, () => process.kill(process.pid, 'SIGKILL'))
