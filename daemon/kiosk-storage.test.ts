// The kiosk when its outbox's disk fills or fails (SQLITE_FULL, SQLITE_IOERR,
// SQLITE_BUSY): the sale is refused with storage_failed before anything is
// shown as paid, what the outbox holds stays and is still sent, the episode
// is logged once and shown in storageFault(), and the next sale after the
// disk takes writes again simply works.
import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { KioskConfig } from '../device-protocol/index.js'
import { OutboxStorageError, type Outbox } from './outbox.js'
import type { KioskErrorType } from './kiosk.js'
import { startKioskWorld, type KioskWorld, type KioskWorldOptions } from './testing/kiosk-world.js'
import { waitUntil } from './testing/wait.js'
import { FakeTerminal } from './testing/fake-terminal.js'

const KIOSK = 'bar-1'
const TAG = { uid: '04A1B2C3D4E5F6', type: 'ntag215' }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'Main bar', version: 3, products: [{ id: 'beer', name: 'Beer', price: 450 }], topupAllowed: true, saleAllowed: true }

/** A logger whose lines the test reads. */
function capturedLogger() {
  const lines: Array<{ level: number; msg: string; code?: string }> = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines }
}

/** An outbox whose writes fail with `fault.append` / `fault.answer` while they are set (what better-sqlite3 would throw). */
function faultyOutbox(fault: { append?: string; answer?: string }) {
  const sqliteError = (code: string) => Object.assign(new Error(`injected ${code}`), { code })
  return (outbox: Outbox): Outbox => ({
    ...outbox,
    append(buildTx, within) {
      if (fault.append !== undefined) throw new OutboxStorageError(fault.append, sqliteError(fault.append))
      return outbox.append(buildTx, within)
    },
    markAnswered(id, result) {
      if (fault.answer !== undefined) throw new OutboxStorageError(fault.answer, sqliteError(fault.answer))
      return outbox.markAnswered(id, result)
    },
  })
}

const rig = (t: Test, options: KioskWorldOptions = {}): Promise<KioskWorld> => startKioskWorld(t, { kioskId: KIOSK, config: catalog, waitFor: 'chain', ...options })

const sale = (world: KioskWorld) => Promise.all([world.kiosk.sale([{ product: 'beer', qty: 1 }]), world.reader.tapWhenReady(TAG)]).then(([outcome]) => outcome)

async function refusedAs(t: Test, promise: Promise<unknown>, type: KioskErrorType, message: RegExp): Promise<void> {
  await t.rejects(promise, { name: 'KioskError', type, message }, type)
}

t.test('a really full outbox disk (SQLite max_page_count): storage_failed after the tap, nothing lost, the next sale after space is back works', async (t) => {
  const { logger, lines } = capturedLogger()
  const world = await rig(t, { replyTimeoutMs: 150, logger })
  const { responder, reader, outbox, kiosk } = world
  // The gateway is slow: every sale stays pending, so the outbox grows until the disk is full.
  responder.holdReplies = true
  const db = outbox.database
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
  const pending: string[] = []
  let refusal: unknown
  for (let i = 0; i < 40 && refusal === undefined; i++) {
    try {
      const outcome = await sale(world)
      t.equal(outcome.status, 'pending')
      pending.push(outcome.id)
    } catch (err) {
      refusal = err
    }
  }
  t.ok(pending.length > 0, 'some sales were stored before the disk filled')
  t.match(refusal, { name: 'KioskError', type: 'storage_failed', message: /^Storage full: this till cannot record sales\. Call a supervisor\. \(SQLITE_FULL\)$/ })
  t.same(reader.feedbacks.at(-1), { led: 'red', beep: 'error', durationMs: reader.feedbacks.at(-1)!.durationMs }, 'the guest sees red, never green')
  t.match(kiosk.storageFault(), { code: 'SQLITE_FULL', unrecordedAnswers: 0 })
  t.equal(outbox.head().nextSeq, pending.length + 1, 'the refused sale used no seq')
  t.same(outbox.pending().map((e) => e.id), pending, 'what was stored is all still there')

  // A second tap while the disk is still full: refused again, logged once per episode.
  await refusedAs(t, sale(world), 'storage_failed', /Storage full/)
  t.equal(lines.filter((l) => /outbox cannot be written/.test(l.msg)).length, 1, 'one error line for the episode')

  // The gateway answers while the disk is still full: an answer that cannot be recorded leaves its entry stored.
  responder.holdReplies = false
  responder.releaseHeld()
  const handled = () => pending.filter((id) => outbox.answered(id) !== undefined).length + (kiosk.storageFault()?.unrecordedAnswers ?? 0)
  await waitUntil(() => handled() >= pending.length, 'every answer recorded or found unrecordable')
  for (const id of pending) t.ok(outbox.get(id) !== undefined || outbox.answered(id)?.status === 'accepted', 'no stored sale is lost')

  // Space is back: no restart, the next sale simply works, the problem clears and the stored sales are answered again.
  db.pragma('max_page_count = 1073741823')
  const next = await sale(world)
  // Stored and sent (its answer may take longer than this world's short reply timeout, behind the resent ones).
  t.match(next, { status: /^(accepted|pending)$/, seq: pending.length + 1 })
  t.equal(kiosk.storageFault(), undefined)
  await waitUntil(() => outbox.depth() === 0, 'the stored sales answered')
  for (const id of [...pending, next.id]) t.match(outbox.answered(id), { status: 'accepted' })
  t.equal(lines.filter((l) => /outbox can be written again/.test(l.msg)).length, 1)
  t.same(responder.problems, [], 'the chain has no gap')
})

t.test('SQLITE_BUSY and SQLITE_IOERR on append: refused as a storage error before anything is signed or sent', async (t) => {
  const fault: { append?: string } = { append: 'SQLITE_BUSY' }
  const { logger, lines } = capturedLogger()
  const world = await rig(t, { wrapOutbox: faultyOutbox(fault), logger })
  const { responder, outbox, kiosk, reader } = world
  await refusedAs(t, sale(world), 'storage_failed', /^Storage error: this till cannot record sales\. Call a supervisor\. \(SQLITE_BUSY\)$/)
  fault.append = 'SQLITE_IOERR_WRITE'
  await refusedAs(t, sale(world), 'storage_failed', /\(SQLITE_IOERR_WRITE\)/)
  t.match(kiosk.storageFault(), { code: 'SQLITE_IOERR_WRITE' }, 'the latest code')
  t.same(reader.feedbacks.map((f) => f.led), ['red', 'red'])
  t.same(responder.received, [], 'nothing sent')
  t.equal(outbox.head().nextSeq, 1)
  t.equal(lines.filter((l) => l.level === 50).length, 1, 'logged once for the episode')
  t.equal(kiosk.counters().refused, 2)

  delete fault.append
  t.match(await sale(world), { status: 'accepted', seq: 1 })
  t.equal(kiosk.storageFault(), undefined)
})

t.test('an answer that cannot be recorded: the entry stays pending, and is sent and answered again once the outbox takes writes', async (t) => {
  const fault: { answer?: string } = { answer: 'SQLITE_IOERR_FSYNC' }
  const world = await rig(t, { wrapOutbox: faultyOutbox(fault), replyTimeoutMs: 150 })
  const { responder, outbox, kiosk } = world
  const first = await sale(world)
  t.equal(first.status, 'pending', 'not shown as paid: the answer is not on disk')
  t.same(outbox.pending().map((e) => e.id), [first.id], 'the envelope is kept')
  t.match(kiosk.storageFault(), { code: 'SQLITE_IOERR_FSYNC', unrecordedAnswers: 1 })
  t.equal(outbox.answered(first.id), undefined)

  delete fault.answer
  const second = await sale(world)
  t.match(second, { status: 'accepted', seq: 2 })
  await waitUntil(() => outbox.depth() === 0, 'the first answered again')
  t.match(outbox.answered(first.id), { status: 'accepted' })
  t.equal(kiosk.storageFault(), undefined)
  t.ok(responder.received.filter((e) => e.tx.id === first.id).length >= 2, 'the first was sent again')
  t.same(responder.problems, [])
})

t.test('a card top-up on a really full disk is refused before the card is charged; with space back it works', async (t) => {
  const world = await rig(t, { terminal: new FakeTerminal() })
  const { outbox, kiosk, reader, terminal } = world
  const db = outbox.database
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
  // Fill every page the card payment record needs, with closed records of shrinking size, until nothing fits.
  const filler = db.prepare(`INSERT INTO card_payments (id, uid, tag_type, amount, started_at, state, closed_at, note) VALUES (?, 'F1', 't', 1, 0, 'declined', 0, ?)`)
  let n = 0
  for (const size of [1_000, 200, 40, 0]) {
    for (let i = 0; i < 1_000; i++) {
      try {
        filler.run(`filler-${n++}`, 'x'.repeat(size))
      } catch (err) {
        t.equal((err as { code?: string }).code, 'SQLITE_FULL')
        break
      }
    }
  }
  await refusedAs(t, Promise.all([kiosk.cardTopUp(2_000), reader.tapWhenReady(TAG)]), 'storage_failed', /^Storage full: this till cannot record sales\. Call a supervisor\. \(SQLITE_FULL\)$/)
  t.same(terminal!.payCalls, [], 'the card was not charged')
  t.equal(reader.feedbacks.at(-1)?.led, 'red')

  db.pragma('max_page_count = 1073741823')
  const [outcome] = await Promise.all([kiosk.cardTopUp(2_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'accepted' })
  t.same(terminal!.payCalls, [2_000])
})
