import t from 'tap'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { generateKeyPairSync } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import { GENESIS_HASH, envelopeHash, signTransaction, type Envelope } from '../device-protocol/index.js'
import Database from 'better-sqlite3'
import { OUTBOX_PAGE_CACHE_KIB, OutboxFullError, createOutbox } from './outbox.js'

const { privateKey } = generateKeyPairSync('ed25519')
const clock = { now: () => 1_700_000_000_000 }

function builder(amount = 250) {
  return (seq: number, prev: string): Envelope =>
    signTransaction(
      { v: 1, id: uuidv7(), kiosk: 'bar-1', seq, prev, type: 'sale', tag: { uid: '04A1B2C3', type: 'ntag215' }, lines: [{ product: 'beer', qty: 1, unitPrice: amount }], amount, at: clock.now() },
      privateKey,
    )
}

t.test('append numbers from 1 and chains each envelope to the previous one', async (t) => {
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  const a = outbox.append(builder())
  const b = outbox.append(builder())
  t.equal(a.seq, 1)
  t.equal(a.envelope.tx.prev, GENESIS_HASH)
  t.equal(b.seq, 2)
  t.equal(b.envelope.tx.prev, envelopeHash(a.envelope))
  t.same(outbox.head(), { nextSeq: 3, prev: envelopeHash(b.envelope) })
  t.equal(outbox.depth(), 2)
  t.same(outbox.pending().map((e) => e.seq), [1, 2])
  t.same(outbox.pending({ fromSeq: 2 }).map((e) => e.seq), [2])
})

t.test("the outbox's SQLite page cache is SQLite's 2 MB, not better-sqlite3's 16 MB, from the moment it opens", async (t) => {
  const path = join(t.testdir(), 'o.sqlite')
  const outbox = createOutbox({ path, maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  t.equal(outbox.database.pragma('cache_size', { simple: true }), -OUTBOX_PAGE_CACHE_KIB)
  t.equal(OUTBOX_PAGE_CACHE_KIB, 2000)
  // better-sqlite3's own default, which the outbox would otherwise have.
  const plain = new Database(join(t.testdir(), 'plain.sqlite'))
  t.teardown(() => plain.close())
  t.equal(plain.pragma('cache_size', { simple: true }), -16000)
})

t.test('entries, seq and prev survive close and reopen with no gap', async (t) => {
  const path = join(t.testdir(), 'o.sqlite')
  const first = createOutbox({ path, maxEntries: 10, clock })
  const one = first.append(builder())
  const two = first.append(builder())
  first.markAnswered(one.id, { status: 'accepted', balance: 750 })
  first.close()

  const reopened = createOutbox({ path, maxEntries: 10, clock })
  t.teardown(() => reopened.close())
  t.same(reopened.pending().map((e) => e.id), [two.id], 'the unanswered entry is still there')
  t.same(reopened.pending()[0]!.envelope, two.envelope, 'byte for byte the same envelope')
  t.match(reopened.answered(one.id), { status: 'accepted', balance: 750, seq: 1 })
  const three = reopened.append(builder())
  t.equal(three.seq, 3)
  t.equal(three.envelope.tx.prev, envelopeHash(two.envelope))
})

t.test('a full outbox refuses new entries and changes nothing', async (t) => {
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 2, clock })
  t.teardown(() => outbox.close())
  const a = outbox.append(builder())
  outbox.append(builder())
  t.equal(outbox.isFull(), true)
  let built = 0
  t.throws(
    () =>
      outbox.append((seq, prev) => {
        built += 1
        return builder()(seq, prev)
      }),
    OutboxFullError,
  )
  t.equal(built, 0, 'nothing is signed for a refused append')
  t.equal(outbox.head().nextSeq, 3)
  outbox.markAnswered(a.id, { status: 'rejected', reason: 'insufficient_balance' })
  t.equal(outbox.append(builder()).seq, 3, 'an answer frees a place')
})

t.test('a builder that ignores the head or throws leaves the outbox unchanged', async (t) => {
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 5, clock })
  t.teardown(() => outbox.close())
  t.throws(() => outbox.append((seq, prev) => builder()(seq + 1, prev)), /expected 1/)
  t.throws(() => outbox.append(() => { throw new Error('signing failed') }), /signing failed/)
  t.equal(outbox.depth(), 0)
  t.same(outbox.head(), { nextSeq: 1, prev: GENESIS_HASH })
})

t.test('markAnswered records once: duplicates keep the first answer, unknown ids change nothing', async (t) => {
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 5, clock })
  t.teardown(() => outbox.close())
  const a = outbox.append(builder())
  t.match(outbox.markAnswered(a.id, { status: 'accepted', balance: 10 }), { outcome: 'recorded', entry: { seq: 1 } })
  t.match(outbox.markAnswered(a.id, { status: 'rejected', reason: 'unknown_tag' }), { outcome: 'duplicate', record: { status: 'accepted' } })
  t.same(outbox.markAnswered('01890000-0000-7000-8000-000000000000', { status: 'accepted' }), { outcome: 'unknown' })
  t.equal(outbox.depth(), 0)
  t.match(outbox.answered(a.id), { status: 'accepted', balance: 10 })
})

t.test('the answered history is bounded, oldest first out', async (t) => {
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 50, clock, historySize: 3 })
  t.teardown(() => outbox.close())
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    const e = outbox.append(builder())
    outbox.markAnswered(e.id, { status: 'accepted' })
    ids.push(e.id)
  }
  t.same(ids.map((id) => outbox.answered(id) !== undefined), [false, false, true, true, true])
  t.equal(outbox.head().nextSeq, 6, 'pruning never touches the chain head')
})

t.test('an outbox of another kiosk is refused', async (t) => {
  const path = join(t.testdir(), 'o.sqlite')
  createOutbox({ path, maxEntries: 5, clock, kioskId: 'bar-1' }).close()
  t.throws(() => createOutbox({ path, maxEntries: 5, clock, kioskId: 'bar-2' }), /belongs to kiosk bar-1/)
})

t.test('bad limits are refused', async (t) => {
  const path = join(t.testdir(), 'o.sqlite')
  t.throws(() => createOutbox({ path, maxEntries: 0, clock }), RangeError)
  t.throws(() => createOutbox({ path, maxEntries: 1.5, clock }), RangeError)
})

t.test('a process killed right after appending loses nothing, and the next seq follows', async (t) => {
  const path = join(t.testdir(), 'o.sqlite')
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(new URL('./testing/outbox-crash-child.ts', import.meta.url)), path, '3'], { encoding: 'utf8' })
  t.equal(child.signal, 'SIGKILL', 'the child died without closing the database')
  const ids = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as string[]
  t.equal(ids.length, 3)
  const outbox = createOutbox({ path, maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  const pending = outbox.pending()
  t.same(pending.map((e) => e.id), ids)
  t.same(pending.map((e) => e.seq), [1, 2, 3])
  const next = outbox.append(builder())
  t.equal(next.seq, 4)
  t.equal(next.envelope.tx.prev, envelopeHash(pending[2]!.envelope))
})

t.test('offline exposure: unanswered offline sales and booked ones answered within the window, across a reopen', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto')
  const { signTransaction } = await import('../device-protocol/index.js')
  const { v7 } = await import('uuid')
  const key = generateKeyPairSync('ed25519').privateKey
  const path = join(t.testdir(), 'o.sqlite')
  let nowMs = 10_000
  const clockAt = { now: () => nowMs }
  let outbox = createOutbox({ path, maxEntries: 100, clock: clockAt })
  const add = (type: 'sale' | 'return', uid: string, amount: number, offline: boolean) =>
    outbox.append((seq, prev) => signTransaction({ v: 1, id: v7(), kiosk: 'bar-1', seq, prev, type, tag: { uid, type: 'ntag215' }, lines: [], amount, at: nowMs, ...(offline ? { offline: true } : {}) }, key))
  const A = '04000000000001'
  const B = '04000000000002'
  const booked = add('sale', A, 500, true)
  const refused = add('sale', A, 900, true)
  const online = add('sale', A, 300, false)
  const returned = add('return', A, 200, true)
  const otherTag = add('sale', B, 400, true)
  t.same(outbox.offlineExposure(A, 0), { tagCents: 1_400, kioskCents: 1_800 }, 'unanswered offline sales count')
  nowMs = 20_000
  outbox.markAnswered(booked.id, { status: 'accepted' })
  outbox.markAnswered(refused.id, { status: 'rejected', reason: 'offline_limit_exceeded' })
  outbox.markAnswered(online.id, { status: 'accepted' })
  outbox.markAnswered(returned.id, { status: 'accepted' })
  nowMs = 30_000
  outbox.markAnswered(otherTag.id, { status: 'accepted' })
  t.same(outbox.offlineTotals(A), { tagCents: 0, kioskCents: 0, count: 0 }, 'nothing is unanswered any more')
  t.same(outbox.offlineExposure(A, 19_999), { tagCents: 500, kioskCents: 900 }, 'booked offline sales answered within the window still count; refused ones, returns and online sales do not')
  outbox.close()

  outbox = createOutbox({ path, maxEntries: 100, clock: clockAt })
  t.teardown(() => outbox.close())
  t.same(outbox.offlineExposure(A, 19_999), { tagCents: 500, kioskCents: 900 }, 'and after a reopen')
  t.same(outbox.offlineExposure(A, 20_000), { tagCents: 0, kioskCents: 400 }, 'a sale answered before the window leaves it')
  t.same(outbox.offlineExposure(B, 30_000), { tagCents: 0, kioskCents: 0 })
  const again = add('sale', B, 100, true)
  t.same(outbox.offlineExposure(B, 20_000), { tagCents: 500, kioskCents: 500 }, 'unanswered and booked add up')
  outbox.markAnswered(again.id, { status: 'accepted' })
  outbox.markAnswered(again.id, { status: 'accepted' })
  t.same(outbox.offlineExposure(B, 20_000), { tagCents: 500, kioskCents: 500 }, 'a duplicate answer counts once')
})

t.test('last accepted sale and offline totals come from the outbox and survive a reopen', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto')
  const { signTransaction } = await import('../device-protocol/index.js')
  const { v7 } = await import('uuid')
  const key = generateKeyPairSync('ed25519').privateKey
  const path = join(t.testdir(), 'o.sqlite')
  const clockAt = { now: () => 1_000 }
  let outbox = createOutbox({ path, maxEntries: 100, clock: clockAt })
  const add = (type: 'sale' | 'return' | 'topup_cash' | 'cancel', uid: string, amount: number, extra: Record<string, unknown> = {}) =>
    outbox.append((seq, prev) => signTransaction({ v: 1, id: v7(), kiosk: 'bar-1', seq, prev, type, tag: { uid, type: 'ntag215', sun: { piccData: 'A'.repeat(32), cmac: 'B'.repeat(16) } }, lines: [], amount, at: 100 + seq, ...extra }, key))
  const A = '04000000000001'
  const B = '04000000000002'
  const s1 = add('sale', A, 500, { offline: true })
  add('sale', A, 300, { offline: true })
  add('sale', B, 200, { offline: true })
  add('return', A, 400, { offline: true })
  add('sale', A, 999)
  t.same(outbox.offlineTotals(A), { tagCents: 800, kioskCents: 1_000, count: 4 }, 'returns and online sales are not exposure')
  t.same(outbox.offlineTotals(), { tagCents: 0, kioskCents: 1_000, count: 4 })
  t.equal(outbox.lastSale(), undefined)
  outbox.markAnswered(s1.id, { status: 'accepted' })
  outbox.close()

  outbox = createOutbox({ path, maxEntries: 100, clock: clockAt })
  t.same(outbox.offlineTotals(A), { tagCents: 300, kioskCents: 500, count: 3 }, 'answered entries no longer count')
  t.same(outbox.lastSale(), { id: s1.id, seq: 1, type: 'sale', amount: 500, at: 101, tag: { uid: A, type: 'ntag215' }, cancelled: false })
  const [, s2, s3, r4, s5] = [s1, ...outbox.pending()]
  outbox.markAnswered(s5!.id, { status: 'rejected', reason: 'insufficient_balance' })
  outbox.markAnswered(r4!.id, { status: 'accepted' })
  t.match(outbox.lastSale(), { id: r4!.id, type: 'return', amount: 400 }, 'a rejected sale is not the last sale')
  outbox.markAnswered(s2!.id, { status: 'accepted' })
  t.match(outbox.lastSale(), { id: r4!.id }, 'a late answer of an earlier seq does not replace it')
  outbox.markAnswered(s3!.id, { status: 'accepted' })
  const cancel = add('cancel', A, 400, { ref: r4!.id })
  outbox.markAnswered(cancel.id, { status: 'accepted' })
  t.match(outbox.lastSale(), { id: r4!.id, cancelled: true })
  outbox.close()
  t.match(createOutbox({ path, maxEntries: 100, clock: clockAt }).lastSale(), { id: r4!.id, cancelled: true })
})

t.test('a file that is no database, or a corrupt one, is refused with a clear error and left as it was', async (t) => {
  const { writeFileSync, readFileSync, openSync, writeSync, closeSync } = await import('node:fs')
  const garbage = join(t.testdir(), 'garbage.sqlite')
  writeFileSync(garbage, Buffer.alloc(8192, 'not a database '))
  t.throws(() => createOutbox({ path: garbage, maxEntries: 10, clock }), { name: 'OutboxDamagedError', message: /garbage\.sqlite is damaged .*refusing to start/ })
  t.same(readFileSync(garbage), Buffer.alloc(8192, 'not a database '), 'the damaged file is kept for inspection')

  // A real outbox with pages of entries, then a page in the middle overwritten.
  const path = join(t.testdir(), 'o.sqlite')
  const outbox = createOutbox({ path, maxEntries: 500, clock })
  for (let i = 0; i < 60; i++) outbox.append(builder())
  outbox.database.pragma('wal_checkpoint(TRUNCATE)')
  outbox.close()
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096 * 3)
  closeSync(fd)
  t.throws(() => createOutbox({ path, maxEntries: 500, clock }), { name: 'OutboxDamagedError', message: /is damaged/ })
})

t.test('rebase goes on from the gateway head: entries ahead are kept or re-signed with the same id, the head moves, damage is cleared', async (t) => {
  const path = join(t.testdir(), 'o.sqlite')
  const outbox = createOutbox({ path, maxEntries: 20, clock })
  t.teardown(() => outbox.close())
  const entries = Array.from({ length: 5 }, () => outbox.append(builder()))
  // Seq 3 is lost from the outbox (a deleted row); the gateway booked 1 and 2.
  outbox.database.prepare('DELETE FROM pending WHERE seq = 3').run()
  outbox.setChainDamage({ reason: 'entries_missing', localNextSeq: 6, gatewayNextSeq: 3, missing: 1, detectedAt: 1 })
  const gateway = { nextSeq: 3, lastHash: envelopeHash(entries[1]!.envelope) }
  const resign = (entry: { envelope: Envelope }, seq: number, prev: string) => signTransaction({ ...entry.envelope.tx, seq, prev }, privateKey)
  const result = outbox.rebase(gateway, resign)
  t.same(result.resigned, [
    { id: entries[3]!.id, fromSeq: 4, toSeq: 3 },
    { id: entries[4]!.id, fromSeq: 5, toSeq: 4 },
  ])
  const pending = outbox.pending()
  t.same(pending.map((e) => [e.seq, e.id]), [[1, entries[0]!.id], [2, entries[1]!.id], [3, entries[3]!.id], [4, entries[4]!.id]], 'entries below the head stay as they were')
  t.equal(pending[2]!.envelope.tx.prev, gateway.lastHash)
  t.equal(pending[3]!.envelope.tx.prev, envelopeHash(pending[2]!.envelope))
  t.same({ ...pending[2]!.envelope.tx, seq: 4, prev: entries[3]!.envelope.tx.prev }, entries[3]!.envelope.tx, 'same content, only seq and prev differ')
  t.same(outbox.head(), { nextSeq: 5, prev: envelopeHash(pending[3]!.envelope) })
  t.equal(outbox.chainDamage(), undefined)
  t.equal(outbox.append(builder()).seq, 5)

  const moved = outbox.requeue(entries[0]!.id, resign)
  t.match(moved, { id: entries[0]!.id, seq: 6 }, 'requeue signs an entry again on the head')
  t.equal(outbox.head().nextSeq, 7)
  t.equal(outbox.requeue('01890000-0000-7000-8000-000000000000', resign), undefined)
  const before = outbox.head()
  t.throws(() => outbox.rebase({ nextSeq: 3, lastHash: 'f'.repeat(64) }, (entry, seq, prev) => signTransaction({ ...entry.envelope.tx, id: uuidv7(), seq, prev }, privateKey)), /re-sign/, 'a re-sign that changes the id is refused')
  t.same(outbox.head(), before, 'and changes nothing')
  t.equal(outbox.depth(), 5)
})

t.test('a seq whose only answer is an unrecorded refusal is void; once re-anchored and answered again it is answered', async (t) => {
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  const refused = outbox.append(builder())
  const signed = outbox.append(builder())
  const other = outbox.append(builder())
  outbox.markAnswered(refused.id, { status: 'rejected', reason: 'unknown_kiosk' })
  outbox.markAnswered(signed.id, { status: 'rejected', reason: 'bad_signature' })
  outbox.markAnswered(other.id, { status: 'rejected', reason: 'insufficient_balance' })
  t.same([1, 2, 3].map((seq) => [outbox.answeredSeq(seq), outbox.voidedSeq(seq)]), [[false, true], [false, true], [true, false]], 'the gateway holds seq 3 only')
  t.equal(outbox.voidedSeq(4), false, 'a seq never signed is not void')

  // Re-anchored on seq 1: the next transaction takes it, and its answer is one the gateway recorded.
  outbox.rebase({ nextSeq: 1, lastHash: GENESIS_HASH }, () => {
    throw new Error('nothing unanswered to sign again')
  })
  const next = outbox.append(builder())
  t.equal(next.seq, 1)
  outbox.markAnswered(next.id, { status: 'accepted', balance: 0 })
  t.same([outbox.answeredSeq(1), outbox.voidedSeq(1)], [true, false])
})
