// Secure wristbands through ingest: signed envelopes from MQTT payloads to the
// ledger and back as replies, with the SUN checks in between.
import t from 'tap'
import { createValidator, validateReply, type Envelope, type ReplyMessage, type TxResult } from '../../device-protocol/index.js'
import { createIngest } from '../ingest.js'
import { openLedgerDatabase } from '../ledger/db.js'
import { createLedger } from '../ledger/ledger.js'
import { SigningKiosk, UID, fixedClock, silentLogger, testSetup } from '../ledger/testing/test-helpers.js'
import { createSimulatedNtag424 } from '../../simulators/ntag424-tag.js'
import { Envelope as EnvelopeSchema } from '../../device-protocol/index.js'

const META = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex')
const FILE = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
const beer = { product: 'beer', qty: 1, unitPrice: 450 }
const validateEnvelopeSchema = createValidator(EnvelopeSchema)

t.test('authentic, cloned, replayed and malformed SUN messages through ingest', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger })
  const bar = new SigningKiosk('bar-1')
  const cash = new SigningKiosk('cash-1')
  ledger.registry.importEventSetup({
    ...testSetup({ 'bar-1': bar.keys, 'cash-1': cash.keys }),
    tagPolicy: { acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META.toString('hex'), fileReadKey: FILE.toString('hex') } },
  })
  const replies: ReplyMessage[] = []
  const ingest = createIngest({ ledger, logger: silentLogger, clock, publishReply: (_kiosk, message) => void replies.push(message), publishEvent: () => undefined })
  const send = (kioskId: string, envelope: unknown) => ingest.submit(kioskId, Buffer.from(JSON.stringify(envelope)))
  const alice = createSimulatedNtag424({ uid: UID.alice, metaReadKey: META, fileReadKey: FILE })
  const clone = createSimulatedNtag424({ uid: UID.alice, metaReadKey: META, fileReadKey: Buffer.alloc(16, 7) })
  const tag = (sun: { piccData: string; cmac: string }) => ({ uid: UID.alice, type: 'ntag424', sun })

  send('cash-1', cash.topup(UID.alice, 2_000))
  const tap = alice.read()
  send('bar-1', bar.sale(UID.alice, [beer], { tag: tag(tap) }))
  send('bar-1', bar.sale(UID.alice, [beer], { tag: tag(clone.read()) }))
  send('bar-1', bar.sale(UID.alice, [beer], { tag: tag(tap) }))
  send('bar-1', bar.sale(UID.alice, [beer], { tag: { uid: UID.alice, type: 'ntag424' } }))
  send('bar-1', bar.sale(UID.alice, [beer], { tag: tag(alice.read()) }))
  await ingest.drain()
  const results = replies.filter((r): r is TxResult => r.kind === 'result')
  for (const r of results) t.ok(validateReply(r).ok, 'the new reasons are part of the reply schema')
  t.same(
    results.map((r) => [r.status, r.reason ?? r.balance]),
    [
      ['accepted', 2_000],
      ['accepted', 1_550],
      ['rejected', 'tag_not_authentic'],
      ['rejected', 'tag_replayed'],
      ['rejected', 'tag_not_authentic'],
      ['accepted', 1_100],
    ],
  )
  t.equal(ledger.balanceOf(UID.alice), 1_100)

  // A SUN that is not upper-case hex of the right length never reaches the ledger: the envelope is malformed.
  const before = ledger.stats()
  const good = bar.sign({ ...bar.history.at(-1)!.tx, id: '018f0000-0000-7000-8000-000000000001', seq: bar.history.length + 1 })
  const bad: Envelope[] = [
    { ...good, tx: { ...good.tx, tag: tag({ piccData: tap.piccData.toLowerCase(), cmac: tap.cmac }) } },
    { ...good, tx: { ...good.tx, tag: tag({ piccData: tap.piccData.slice(2), cmac: tap.cmac }) } },
    { ...good, tx: { ...good.tx, tag: { ...tag(tap), sun: { ...tap, extra: 1 } as never } } },
  ]
  for (const envelope of bad) {
    t.notOk(validateEnvelopeSchema(envelope).ok, 'schema refuses it')
    send('bar-1', envelope)
  }
  await ingest.drain()
  t.match(ingest.counters(), { malformed: bad.length })
  t.same(ledger.stats().accepted + ledger.stats().rejected, before.accepted + before.rejected, 'nothing recorded')
  t.same(ledger.checkInvariants(), [])
})
