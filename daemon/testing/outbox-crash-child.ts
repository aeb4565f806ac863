// Test-only child process: appends entries to an outbox, reports them, then
// dies by SIGKILL without closing anything (a power cut, as far as the process knows).
import { generateKeyPairSync } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import { signTransaction } from '../../device-protocol/index.js'
import { createOutbox } from '../outbox.js'

const [path, countText] = process.argv.slice(2)
const { privateKey } = generateKeyPairSync('ed25519')
const outbox = createOutbox({ path: path!, maxEntries: 100, clock: { now: () => Date.now() } })
const ids: string[] = []
for (let i = 0; i < Number(countText); i++) {
  const entry = outbox.append((seq, prev) =>
    signTransaction({ v: 1, id: uuidv7(), kiosk: 'bar-1', seq, prev, type: 'topup_cash', tag: { uid: '04A1B2C3', type: 'ntag215' }, lines: [], amount: 100, at: Date.now() }, privateKey),
  )
  ids.push(entry.id)
}
process.stdout.write(`${JSON.stringify(ids)}\n`, () => process.kill(process.pid, 'SIGKILL'))
