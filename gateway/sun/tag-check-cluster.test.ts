// Secure wristbands on two gateways sharing one PostgreSQL database: the SUN
// keys live in each gateway's memory only, so when one gateway imports a set-up
// the other must not go on checking wristbands against keys the event no longer
// uses (it drops them and refuses secure taps until it imports the set-up too),
// and a new policy with the same keys takes effect there at its next batch.
import t from 'tap'
import type { Line, TagSun } from '../../device-protocol/index.js'
import type { EventSetup } from '../event-setup.js'
import { createLedger, type Ledger } from '../ledger/ledger.js'
import { SigningKiosk, UID, fixedClock, silentLogger, testSetup, verified } from '../ledger/testing/test-helpers.js'
import { sqlEngines } from '../testing/sql-engines.js'
import { createSimulatedNtag424 } from '../../simulators/ntag424-tag.js'
import { isBatchConflict } from '../ledger/pg-store.js'
import { TagCounterRaceError, createTagCheck, keysDigest } from './tag-check.js'

const postgres = (await sqlEngines(t)).find((engine) => engine.name === 'postgres')
const skip = postgres?.openShared === undefined ? 'PostgreSQL 15 server binaries not installed (CI installs them)' : false

const OLD_META = '0f1e2d3c4b5a69788796a5b4c3d2e1f0'
const OLD_FILE = '00112233445566778899aabbccddeeff'
const NEW_META = '1f2e3d4c5b6a79889706a5b4c3d2e1f1'
const NEW_FILE = '10112233445566778899aabbccddeef1'
const beer: Line = { product: 'beer', qty: 1, unitPrice: 450 }
const strict = (meta: string, file: string, acceptedTypes = ['ntag424']): NonNullable<EventSetup['tagPolicy']> => ({
  acceptedTypes,
  requireSun: true,
  sun: { metaReadKey: meta, fileReadKey: file },
})

t.test('keysDigest: the same keys give the same digest, other keys another, no keys none; it does not contain them', async (t) => {
  const setup = (policy?: EventSetup['tagPolicy']): EventSetup => ({ ...testSetup({}), ...(policy ? { tagPolicy: policy } : {}) })
  const a = keysDigest(setup(strict(OLD_META, OLD_FILE)))
  t.match(a, /^[0-9a-f]{64}$/)
  t.equal(keysDigest(setup(strict(OLD_META.toUpperCase(), OLD_FILE, ['ntag424', 'ntag215']))), a, 'same keys in another case, another policy')
  t.not(keysDigest(setup(strict(OLD_META, NEW_FILE))), a)
  t.not(keysDigest(setup(strict(NEW_META, OLD_FILE))), a)
  t.equal(keysDigest(setup(undefined)), undefined)
  t.notOk(a!.includes(OLD_META) || a!.includes(OLD_FILE))
})

t.test('a set-up imported on another gateway rules this gateway\'s secure taps from its next batch', { skip }, async (t) => {
  const [dbA, dbB] = postgres!.openShared!(t, 2)
  const clock = fixedClock()
  const bar = new SigningKiosk('bar-1')
  const cash = new SigningKiosk('cash-1')
  const setupWith = (policy: EventSetup['tagPolicy']): EventSetup => ({ ...testSetup({ 'bar-1': bar.keys, 'cash-1': cash.keys }), tagPolicy: policy })
  const gatewayA = createLedger({ db: dbA!, clock, logger: silentLogger })
  gatewayA.registry.importEventSetup(setupWith(strict(OLD_META, OLD_FILE)))
  const gatewayB = createLedger({ db: dbB!, clock, logger: silentLogger })
  gatewayB.registry.importEventSetup(setupWith(strict(OLD_META, OLD_FILE)))
  gatewayB.applyBatch([verified(cash.topup(UID.alice, 5_000))])

  const oldTag = createSimulatedNtag424({ uid: UID.alice, metaReadKey: Buffer.from(OLD_META, 'hex'), fileReadKey: Buffer.from(OLD_FILE, 'hex') })
  const newTag = createSimulatedNtag424({ uid: UID.alice, metaReadKey: Buffer.from(NEW_META, 'hex'), fileReadKey: Buffer.from(NEW_FILE, 'hex') })
  const sell = (ledger: Ledger, tag: { uid: string; type: string; sun?: TagSun }) => (ledger.applyBatch([verified(bar.sale(tag.uid, [beer], { tag }))])[0] as { result?: unknown }).result
  t.match(sell(gatewayB, { uid: UID.alice, type: 'ntag424', sun: oldTag.read() }), { status: 'accepted' }, 'both gateways hold the old keys')

  // The operator re-keys the wristbands and imports the new set-up through gateway A only.
  gatewayA.registry.importEventSetup(setupWith(strict(NEW_META, NEW_FILE)))
  t.match(sell(gatewayB, { uid: UID.alice, type: 'ntag424', sun: oldTag.read() }), { status: 'rejected', reason: 'tag_not_authentic' }, 'B dropped the old keys: a wristband still on them is refused')
  t.match(sell(gatewayB, { uid: UID.alice, type: 'ntag424', sun: newTag.read() }), { status: 'rejected', reason: 'tag_not_authentic' }, 'B has no new keys either: it fails closed')
  t.match(sell(gatewayA, { uid: UID.alice, type: 'ntag424', sun: newTag.read() }), { status: 'accepted' }, 'A checks the new keys')

  gatewayB.registry.importEventSetup(setupWith(strict(NEW_META, NEW_FILE)))
  t.match(sell(gatewayB, { uid: UID.alice, type: 'ntag424', sun: newTag.read() }), { status: 'accepted' }, 'imported on B too: B checks the new keys')

  // Same keys, another policy: B takes the policy at once and keeps its keys.
  gatewayA.registry.importEventSetup(setupWith(strict(NEW_META, NEW_FILE, ['ntag424', 'ntag215'])))
  t.match(sell(gatewayB, { uid: UID.alice, type: 'ntag215' }), { status: 'rejected', reason: 'tag_not_authentic' }, 'still requireSun: a plain tag has no SUN')
  gatewayA.registry.importEventSetup(setupWith({ acceptedTypes: ['ntag424', 'ntag215'], requireSun: false, sun: { metaReadKey: NEW_META, fileReadKey: NEW_FILE } }))
  t.match(sell(gatewayB, { uid: UID.bob, type: 'ntag215' }), { status: 'rejected', reason: 'insufficient_balance' }, 'B took the policy: a plain tag passes the tag check')
  t.match(sell(gatewayB, { uid: UID.alice, type: 'ntag424', sun: newTag.read() }), { status: 'accepted' }, 'and kept its keys, which are the same')
  t.same(gatewayB.checkInvariants(), [])
})

t.test('a SUN booked by another gateway between this batch\'s check and its write makes the batch run again, and then it is a replay', { skip }, async (t) => {
  const [dbA, dbB] = postgres!.openShared!(t, 2)
  const bar = new SigningKiosk('bar-1')
  const setup: EventSetup = { ...testSetup({ 'bar-1': bar.keys }), tagPolicy: strict(OLD_META, OLD_FILE) }
  createLedger({ db: dbA!, clock: fixedClock(), logger: silentLogger }).registry.importEventSetup(setup)
  const checkA = createTagCheck({ db: dbA!, logger: silentLogger })
  const checkB = createTagCheck({ db: dbB!, logger: silentLogger })
  checkA.activate(setup)
  checkB.activate(setup)
  const tag = createSimulatedNtag424({ uid: UID.alice, metaReadKey: Buffer.from(OLD_META, 'hex'), fileReadKey: Buffer.from(OLD_FILE, 'hex') })
  const sun = tag.read()
  // The same SUN at two tills (a cloned tag), one on each gateway: both check it before either writes.
  const onA = bar.sale(UID.alice, [beer], { tag: { uid: UID.alice, type: 'ntag424', sun } }).tx
  const onB = bar.sale(UID.alice, [beer], { tag: { uid: UID.alice, type: 'ntag424', sun } }).tx
  const seenA = checkA.check(onA)
  const seenB = checkB.check(onB)
  t.match(seenA, { ok: true, counter: Number })
  t.same(seenB, seenA)
  checkA.record(UID.alice, (seenA as { counter: number }).counter)
  let raced: unknown
  try {
    checkB.record(UID.alice, (seenB as { counter: number }).counter)
  } catch (err) {
    raced = err
  }
  t.type(raced, TagCounterRaceError, 'B does not write the counter A wrote')
  t.equal(isBatchConflict(raced), true, 'the PostgreSQL store calls it a conflict: the ledger runs the batch again')
  t.same(checkB.check(onB), { ok: false, reason: 'tag_replayed' }, 'run again, B refuses the replay')
  t.equal(checkB.lastCounter(UID.alice), (seenA as { counter: number }).counter)
})
