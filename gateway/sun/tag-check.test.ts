// Secure wristbands at the ledger: table tests of the tag policy and the SUN
// checks (authentic, cloned, replayed, another tag's SUN, missing, type not
// accepted), and that refusals change no balance and keep the invariants.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Envelope, Line, TagSun } from '../../device-protocol/index.js'
import type { EventSetup } from '../event-setup.js'
import { openLedgerDatabase } from '../ledger/db.js'
import { createLedger, type Ledger } from '../ledger/ledger.js'
import { SigningKiosk, UID, fixedClock, makeWorld, silentLogger, testSetup, verified } from '../ledger/testing/test-helpers.js'
import { createSimulatedNtag424, type SimulatedNtag424 } from '../../simulators/ntag424-tag.js'

const META = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex')
const FILE = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
const BOB_KEY = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', 'hex')
const beer: Line = { product: 'beer', qty: 1, unitPrice: 450 }

interface World {
  ledger: Ledger
  kiosks: { bar: SigningKiosk; cash: SigningKiosk }
  alice: SimulatedNtag424
  bob: SimulatedNtag424
  close(): void
}

function setupWith(keys: Parameters<typeof testSetup>[0], policy: EventSetup['tagPolicy'], bobKey = false): EventSetup {
  const setup = testSetup(keys)
  return {
    ...setup,
    ...(policy ? { tagPolicy: policy } : {}),
    wristbands: setup.wristbands.map((w) => (bobKey && w.uid === UID.bob ? { ...w, sunFileReadKey: BOB_KEY.toString('hex') } : w)),
  }
}

function world(policy: EventSetup['tagPolicy'], { path = ':memory:', bobKey = false } = {}): World {
  const db = openLedgerDatabase(path)
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  const kiosks = { bar: new SigningKiosk('bar-1'), cash: new SigningKiosk('cash-1') }
  ledger.registry.importEventSetup(setupWith({ 'bar-1': kiosks.bar.keys, 'cash-1': kiosks.cash.keys }, policy, bobKey))
  const alice = createSimulatedNtag424({ uid: UID.alice, metaReadKey: META, fileReadKey: FILE })
  const bob = createSimulatedNtag424({ uid: UID.bob, metaReadKey: META, fileReadKey: bobKey ? BOB_KEY : FILE })
  // Money on both wristbands first: top-ups are never refused by the tag policy.
  for (const uid of [UID.alice, UID.bob]) ledger.applyBatch([verified(kiosks.cash.topup(uid, 5_000))])
  return { ledger, kiosks, alice, bob, close: () => db.close() }
}

const STRICT = { acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META.toString('hex'), fileReadKey: FILE.toString('hex') } }
const MIXED = { acceptedTypes: ['ntag215', 'ntag424'], requireSun: false, sun: { metaReadKey: META.toString('hex') , fileReadKey: FILE.toString('hex') } }

const secureTag = (uid: string, sun?: TagSun, type = 'ntag424') => (sun === undefined ? { uid, type } : { uid, type, sun })
function sale(w: World, tag: ReturnType<typeof secureTag>): Envelope {
  return w.kiosks.bar.sale(tag.uid, [beer], { tag })
}
const resultOf = (w: World, envelope: Envelope) => w.ledger.applyBatch([verified(envelope)])[0]!

t.test('strict policy: the table', async (t) => {
  const w = world(STRICT)
  t.teardown(w.close)
  const forger = createSimulatedNtag424({ uid: UID.alice, metaReadKey: META, fileReadKey: Buffer.alloc(16, 0x42), counter: 100 })
  const genuine = w.alice.read() // counter 1, used in the first row
  const older = w.alice.read() // counter 2
  const newer = w.alice.read() // counter 3
  const cases: Array<[string, () => ReturnType<typeof secureTag>, string]> = [
    ['authentic', () => secureTag(UID.alice, genuine), 'accepted'],
    ['the same SUN again (replayed)', () => secureTag(UID.alice, genuine), 'tag_replayed'],
    ['cloned: same UID, MAC made without the key', () => secureTag(UID.alice, forger.read()), 'tag_not_authentic'],
    ['cloned: made-up PICC data and MAC', () => secureTag(UID.alice, { piccData: 'AB'.repeat(16), cmac: 'CD'.repeat(8) }), 'tag_not_authentic'],
    ['another wristband\'s genuine SUN on this UID', () => secureTag(UID.alice, w.bob.read()), 'tag_not_authentic'],
    ['no SUN where the event requires one', () => secureTag(UID.alice), 'tag_not_authentic'],
    ['a tag type the event does not accept', () => secureTag(UID.alice, undefined, 'ntag215'), 'tag_type_not_accepted'],
    ['a newer read', () => secureTag(UID.alice, newer), 'accepted'],
    ['an older read after a newer one', () => secureTag(UID.alice, older), 'tag_replayed'],
  ]
  let balance = 5_000
  for (const [name, tag, expected] of cases) {
    const before = w.ledger.stats()
    const outcome = resultOf(w, sale(w, tag()))
    if (outcome.kind !== 'result') throw new Error('unexpected gap')
    if (expected === 'accepted') {
      balance -= 450
      t.match(outcome, { booked: true, recorded: true, result: { status: 'accepted', balance } }, name)
    } else {
      t.match(outcome, { booked: false, recorded: true, result: { status: 'rejected', reason: expected } }, name)
      t.equal(w.ledger.stats().accepted, before.accepted, `${name}: nothing booked`)
    }
    t.equal(w.ledger.balanceOf(UID.alice), balance, `${name}: balance`)
  }
  t.same(w.ledger.checkInvariants(), [])
  t.match(w.ledger.stats().rejectedByReason, { tag_replayed: 2, tag_not_authentic: 4, tag_type_not_accepted: 1 })
})

t.test('a resent transaction gets its first answer, not tag_replayed; one SUN twice in a batch books once', async (t) => {
  const w = world(STRICT)
  t.teardown(w.close)
  const first = sale(w, secureTag(UID.alice, w.alice.read()))
  t.match(resultOf(w, first), { result: { status: 'accepted' } })
  t.match(resultOf(w, first), { replay: true, result: { status: 'accepted', balance: 4_550 } }, 'same id: first outcome')
  const sun = w.alice.read()
  const outcomes = w.ledger.applyBatch([verified(sale(w, secureTag(UID.alice, sun))), verified(sale(w, secureTag(UID.alice, sun)))])
  t.match(outcomes, [{ result: { status: 'accepted' } }, { result: { status: 'rejected', reason: 'tag_replayed' } }])
  t.equal(w.ledger.balanceOf(UID.alice), 4_100)
})

t.test('top-ups are never refused by the tag policy, but their SUN moves the counter on', async (t) => {
  const w = world(STRICT)
  t.teardown(w.close)
  const early = w.alice.read()
  const late = w.alice.read()
  t.match(resultOf(w, w.kiosks.cash.topup(UID.alice, 1_000, { tag: secureTag(UID.alice, late) })), { result: { status: 'accepted' } })
  t.match(resultOf(w, w.kiosks.cash.topup(UID.alice, 1_000, { tag: secureTag(UID.alice, { piccData: 'AB'.repeat(16), cmac: 'CD'.repeat(8) }) })), { result: { status: 'accepted' } }, 'a forged SUN on a top-up credits the genuine account')
  t.match(resultOf(w, w.kiosks.cash.topup(UID.alice, 1_000, { tag: secureTag(UID.alice, undefined, 'mifare-classic') })), { result: { status: 'accepted' } })
  t.equal(w.ledger.balanceOf(UID.alice), 8_000)
  t.match(resultOf(w, sale(w, secureTag(UID.alice, early))), { result: { status: 'rejected', reason: 'tag_replayed' } }, 'a read older than the top-up\'s cannot be spent')
})

t.test('mixed event: plain wristbands as before, secure ones cannot be downgraded', async (t) => {
  const w = world(MIXED, { bobKey: true })
  t.teardown(w.close)
  t.match(resultOf(w, sale(w, secureTag(UID.alice, undefined, 'ntag215'))), { result: { status: 'accepted' } }, 'a plain tag without SUN')
  t.match(resultOf(w, sale(w, secureTag(UID.bob, undefined, 'ntag215'))), { result: { status: 'rejected', reason: 'tag_not_authentic' } }, 'a wristband with its own key must show a SUN')
  t.match(resultOf(w, sale(w, secureTag(UID.bob, w.bob.read()))), { result: { status: 'accepted' } }, 'its per-wristband key checks it')
  t.match(resultOf(w, sale(w, secureTag(UID.alice, w.alice.read()))), { result: { status: 'accepted' } }, 'event-wide file key')
  t.match(resultOf(w, sale(w, secureTag(UID.alice, undefined, 'ntag215'))), { result: { status: 'rejected', reason: 'tag_not_authentic' } }, 'once seen secure, always secure')
  t.match(resultOf(w, sale(w, secureTag(UID.alice, { piccData: 'AB'.repeat(16), cmac: 'CD'.repeat(8) }))), { result: { status: 'rejected', reason: 'tag_not_authentic' } }, 'a SUN that fails is a clone even where none is required')
  t.match(resultOf(w, sale(w, secureTag(UID.alice, undefined, 'mifare-classic'))), { result: { status: 'rejected', reason: 'tag_type_not_accepted' } })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('no policy: tags and SUN messages are not checked, as before', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  w.ledger.applyBatch([verified(w.kiosks.cash.topup(UID.alice, 1_000))])
  const forged = { uid: UID.alice, type: 'floppy', sun: { piccData: 'AB'.repeat(16), cmac: 'CD'.repeat(8) } }
  t.match(w.ledger.applyBatch([verified(w.kiosks.bar.sale(UID.alice, [beer], { tag: forged }))]), [{ result: { status: 'accepted', balance: 550 } }])
})

t.test('the policy survives a restart, the keys do not: without an import secure taps are refused (fail closed)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-sun-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const w = world(STRICT, { path })
  t.match(resultOf(w, sale(w, secureTag(UID.alice, w.alice.read()))), { result: { status: 'accepted' } })
  w.close()

  const db = openLedgerDatabase(path)
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  const resend = (tag: ReturnType<typeof secureTag>) => ledger.applyBatch([verified(w.kiosks.bar.sale(UID.alice, [beer], { tag }))])[0]
  t.match(resend(secureTag(UID.alice, w.alice.read())), { result: { status: 'rejected', reason: 'tag_not_authentic' } }, 'no keys loaded')
  t.match(resend(secureTag(UID.alice, undefined, 'ntag215')), { result: { status: 'rejected', reason: 'tag_type_not_accepted' } }, 'the stored policy holds')
  ledger.registry.importEventSetup(setupWith({ 'bar-1': w.kiosks.bar.keys, 'cash-1': w.kiosks.cash.keys }, STRICT))
  t.match(resend(secureTag(UID.alice, w.alice.read())), { result: { status: 'accepted' } }, 'keys back after the import')
  ledger.registry.importEventSetup(setupWith({ 'bar-1': w.kiosks.bar.keys, 'cash-1': w.kiosks.cash.keys }, undefined))
  t.match(resend(secureTag(UID.alice, undefined, 'ntag215')), { result: { status: 'accepted' } }, 'a set-up without a policy removes it')
  t.same(ledger.checkInvariants(), [])
})
