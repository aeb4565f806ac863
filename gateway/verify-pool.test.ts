// Signature checks in batches on worker threads: the same answers as
// node:crypto on the main thread, in order; a thread that dies fails only its
// batches and is started again; ingest sends the envelopes of one turn of the
// event loop as one batch and checks a failed batch on libuv's pool instead.
import { generateKeyPairSync, sign, verify as cryptoVerify } from 'node:crypto'
import t from 'tap'
import type { ReplyMessage } from '../device-protocol/index.js'
import { createIngest } from './ingest.js'
import { UID, makeWorld, silentLogger } from './ledger/testing/test-helpers.js'
import { createVerifyPool, defaultVerifyThreads, type SignatureCheck, type VerifyPool } from './verify-pool.js'

function keyPair() {
  return generateKeyPairSync('ed25519')
}

t.test('the pool answers each check as crypto.verify does, in order, across keys and split batches', async (t) => {
  const pool = createVerifyPool({ threads: 2 })
  t.teardown(() => pool.close())
  const a = keyPair()
  const b = keyPair()
  const checks: SignatureCheck[] = []
  for (let i = 0; i < 80; i++) {
    const text = JSON.stringify({ i, note: 'Bier \u00fc \ud83c\udf7a' })
    const signer = i % 2 === 0 ? a : b
    const sig = sign(null, Buffer.from(text, 'utf8'), signer.privateKey).toString('base64')
    const kind = i % 5
    if (kind === 0) checks.push({ key: signer.publicKey, text, sig })
    else if (kind === 1) checks.push({ key: signer.publicKey, text: `${text} `, sig }) // changed text
    else if (kind === 2) checks.push({ key: (signer === a ? b : a).publicKey, text, sig }) // another kiosk's key
    else if (kind === 3) checks.push({ key: signer.publicKey, text, sig: Buffer.alloc(64, 7).toString('base64') })
    else checks.push({ key: signer.publicKey, text, sig: 'not base64 at all' })
  }
  const expected = checks.map((c) => cryptoVerify(null, Buffer.from(c.text, 'utf8'), c.key, Buffer.from(c.sig, 'base64')))
  t.same(await pool.verify(checks), expected, 'above the split size: both threads, answers in order')
  t.equal(expected.filter(Boolean).length, 16, 'only the untouched ones verify')
  t.equal(pool.threads, 2)
  t.same(await pool.verify(checks.slice(0, 3)), expected.slice(0, 3), 'a small batch, with keys the threads already hold')
  t.same(await pool.verify([]), [])
})

t.test('a thread holds a bounded number of keys: past the bound it forgets them and is sent again what it needs', async (t) => {
  const pool = createVerifyPool({ threads: 1, maxKeysPerThread: 2 })
  t.teardown(() => pool.close())
  // Four kiosks' keys, as a registry hands out new KeyObjects after its cache is forgotten.
  const kiosks = Array.from({ length: 4 }, () => keyPair())
  const checkOf = (pair: ReturnType<typeof keyPair>, text: string): SignatureCheck => ({ key: pair.publicKey, text, sig: sign(null, Buffer.from(text), pair.privateKey).toString('base64') })
  for (let round = 0; round < 3; round++)
    for (const [i, pair] of kiosks.entries()) {
      const good = checkOf(pair, `sale ${round} ${i}`)
      t.same(await pool.verify([good, { ...good, text: 'changed' }]), [true, false], `round ${round}, key ${i}: verified with a key sent again after the thread forgot`)
      t.ok(pool.keysHeld <= 2, `the thread holds ${pool.keysHeld} keys`)
    }
  const many = kiosks.map((pair, i) => checkOf(pair, `one batch ${i}`))
  t.same(await pool.verify(many), [true, true, true, true], 'a batch with more keys than the bound gets them all')
})

t.test('one thread per core but the main thread\'s, at least one, at most four', async (t) => {
  t.same([1, 2, 3, 8, 64].map((cores) => defaultVerifyThreads(cores)), [1, 1, 2, 4, 4])
})

t.test('a thread that dies fails its batch, and the next batch gets a new thread', async (t) => {
  // The thread dies on its first batch; a thread started later works (its flag lives in the process, not the thread).
  const flag = `WRISTPAY_VERIFY_POOL_TEST_${process.pid}`
  const source = `
    const { parentPort } = require('node:worker_threads')
    const { createPublicKey, verify } = require('node:crypto')
    const keys = new Map()
    parentPort.on('message', (r) => {
      if (process.env.${flag} === undefined) { process.env.${flag} = '1'; process.exit(3) }
      for (const [id, der] of r.keys) keys.set(id, createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }))
      const ok = new Uint8Array(r.texts.length)
      for (let i = 0; i < ok.length; i++) ok[i] = verify(null, Buffer.from(r.texts[i]), keys.get(r.keyIds[i]), Buffer.from(r.sigs[i], 'base64')) ? 1 : 0
      parentPort.postMessage({ id: r.id, ok })
    })`
  // Worker threads share process.env only as a copy: the flag is set in this process before the second thread starts.
  const pool = createVerifyPool({ threads: 1, threadSource: source })
  t.teardown(() => pool.close())
  const { publicKey, privateKey } = keyPair()
  const check: SignatureCheck = { key: publicKey, text: 'x', sig: sign(null, Buffer.from('x'), privateKey).toString('base64') }
  await t.rejects(pool.verify([check]), /exited \(code 3\)/)
  t.equal(pool.threads, 0, 'the dead thread is gone')
  process.env[flag] = '1'
  t.teardown(() => delete process.env[flag])
  t.same(await pool.verify([check, { ...check, text: 'y' }]), [true, false], 'a new thread, sent the key again')
})

t.test('ingest sends the envelopes of one turn as one batch and books them all in order', async (t) => {
  const world = makeWorld()
  t.teardown(world.close)
  const real = createVerifyPool({ threads: 2 })
  t.teardown(() => real.close())
  const batches: number[] = []
  const pool: VerifyPool = {
    verify(checks) {
      batches.push(checks.length)
      return real.verify(checks)
    },
    get threads() {
      return real.threads
    },
    close: () => real.close(),
  }
  const replies: ReplyMessage[] = []
  const ingest = createIngest({ ledger: world.ledger, logger: silentLogger, clock: world.clock, publishReply: (_k, m) => void replies.push(m), publishEvent: () => {}, verifyPool: pool })
  const envelopes = Array.from({ length: 30 }, (_, i) => world.kiosks.cash.topup(UID.alice, i + 1))
  const forged = { ...envelopes[29]!, tx: { ...envelopes[29]!.tx, amount: 100_000 } }
  for (const e of envelopes.slice(0, 29)) ingest.submit('cash-1', Buffer.from(JSON.stringify(e)))
  ingest.submit('cash-1', Buffer.from(JSON.stringify(forged)))
  await ingest.drain()
  t.same(batches, [30], 'one batch for the turn')
  t.same(
    replies.map((r) => (r.kind === 'result' ? [r.seq, r.status, r.reason] : r.kind)),
    [...envelopes.slice(0, 29).map((e) => [e.tx.seq, 'accepted', undefined]), [30, 'rejected', 'bad_signature']],
  )
  t.equal(world.ledger.balanceOf(UID.alice), (29 * 30) / 2)
})

t.test('when the pool fails, ingest checks the batch on libuv\'s pool and books it', async (t) => {
  const world = makeWorld()
  t.teardown(world.close)
  const pool: VerifyPool = { verify: () => Promise.reject(new Error('thread gone')), threads: 0, close: async () => {} }
  const replies: ReplyMessage[] = []
  const ingest = createIngest({ ledger: world.ledger, logger: silentLogger, clock: world.clock, publishReply: (_k, m) => void replies.push(m), publishEvent: () => {}, verifyPool: pool })
  const good = world.kiosks.cash.topup(UID.alice, 500)
  const forged = { ...world.kiosks.cash.topup(UID.alice, 700), sig: Buffer.alloc(64, 1).toString('base64') }
  ingest.submit('cash-1', Buffer.from(JSON.stringify(good)))
  ingest.submit('cash-1', Buffer.from(JSON.stringify(forged)))
  await ingest.drain()
  t.match(replies, [
    { kind: 'result', seq: 1, status: 'accepted' },
    { kind: 'result', seq: 2, status: 'rejected', reason: 'bad_signature' },
  ])
  t.equal(world.ledger.balanceOf(UID.alice), 500)
})
