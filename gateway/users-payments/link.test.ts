// POST /user/{id}/wristband over HTTP: the user proves the wristband with its
// PIN, the prepaid balance moves onto it once, and later prepayments go there;
// on SQLite and on PostgreSQL (one body per engine).
import t, { type Test } from 'tap'
import { PIN, UID } from '../ledger/testing/test-helpers.js'
import { startHarness } from './testing/harness.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

onEveryEngine('linking moves the prepaid balance once; later payments go straight to the wristband', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  await h.prepay(a.token, 'cuid-before-link-1', 1500)
  await h.prepay(a.token, 'cuid-before-link-2', 500)
  t.equal(h.world.ledger.accountBalance(`prepaid:${a.userId}`), 2000)
  const bandBefore = h.world.ledger.balanceOf(UID.alice)!

  const linked = await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.alice, pin: PIN.alice.toLowerCase() }, a.token)
  t.equal(linked.status, 201)
  t.same(linked.body, { userId: a.userId, uid: UID.alice, status: 'linked', amount: 2000 })
  t.equal(h.world.ledger.balanceOf(UID.alice), bandBefore + 2000)
  t.equal(h.world.ledger.accountBalance(`prepaid:${a.userId}`), 0)

  const replay = await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.alice, pin: PIN.alice }, a.token)
  t.equal(replay.status, 200)
  t.same(replay.body, { userId: a.userId, uid: UID.alice, status: 'replay', amount: 0 })
  t.equal(h.world.ledger.balanceOf(UID.alice), bandBefore + 2000, 'moved once')

  const paymentId = await h.prepay(a.token, 'cuid-after-link-01', 700)
  t.equal(h.world.ledger.balanceOf(UID.alice), bandBefore + 2700, 'a later prepayment lands on the wristband')
  t.equal(h.world.ledger.accountBalance(`prepaid:${a.userId}`), 0)
  t.match(h.world.ledger.externalBookingByRef(`users:${paymentId}`), { kind: 'prepayment', customerUid: UID.alice, amount: 700 })
  t.ok(
    h.world.ledger.customerOrders(UID.alice).some((o) => o.amount === 700),
    'the guest sees the prepayment among the wristband\'s orders',
  )
  t.same(h.world.ledger.checkInvariants(), [])
})

onEveryEngine('a wrong PIN, another user or a taken wristband changes nothing', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const b = await h.register('b@example.org')
  await h.prepay(b.token, 'cuid-b-prepaid-01', 900)

  const wrongPin = await h.api('POST', `/user/${b.userId}/wristband`, { uid: UID.bob, pin: PIN.alice }, b.token)
  t.equal(wrongPin.status, 403)
  t.equal(wrongPin.body.type, 'wrong_pin')
  const unknownBand = await h.api('POST', `/user/${b.userId}/wristband`, { uid: UID.stranger, pin: PIN.alice }, b.token)
  t.same([unknownBand.status, unknownBand.body.type], [403, 'wrong_pin'], 'an unknown wristband answers like a wrong PIN')
  const otherUser = await h.api('POST', `/user/${b.userId}/wristband`, { uid: UID.alice, pin: PIN.alice }, a.token)
  t.equal(otherUser.status, 403, 'a cannot link b\'s account')
  t.equal(otherUser.body.type, 'forbidden')

  t.equal((await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.alice, pin: PIN.alice }, a.token)).status, 201)
  const taken = await h.api('POST', `/user/${b.userId}/wristband`, { uid: UID.alice, pin: PIN.alice }, b.token)
  t.equal(taken.status, 409)
  t.equal(taken.body.type, 'wristband_taken')
  const second = await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.bob, pin: PIN.bob }, a.token)
  t.equal(second.status, 409)
  t.equal(second.body.type, 'already_linked')
  const blocked = await h.api('POST', `/user/${b.userId}/wristband`, { uid: UID.blocked, pin: PIN.blocked }, b.token)
  t.equal(blocked.status, 409)
  t.equal(blocked.body.type, 'tag_blocked')

  for (const body of [{ uid: UID.bob }, { uid: 'not-hex', pin: PIN.bob }, { uid: UID.bob, pin: '' }, { uid: UID.bob, pin: PIN.bob, amount: 5 }]) {
    t.equal((await h.api('POST', `/user/${b.userId}/wristband`, body, b.token)).status, 400, JSON.stringify(body))
  }
  t.equal(h.world.ledger.accountBalance(`prepaid:${b.userId}`), 900, 'b\'s money still prepaid')
  t.equal(h.world.ledger.balanceOf(UID.bob), 0)
  t.equal(h.store.userById(b.userId)!.linkedUid, null)
  t.same(h.world.ledger.checkInvariants(), [])
})

onEveryEngine('a payment for a user whose wristband was blocked since is kept on the prepaid account', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  t.equal((await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.bob, pin: PIN.bob }, a.token)).status, 201)
  h.world.ledger.registry.setWristbandBlocked(UID.bob, true)
  await h.prepay(a.token, 'cuid-blocked-band1', 1100)
  t.equal(h.world.ledger.balanceOf(UID.bob), 0, 'the lost wristband got nothing')
  t.equal(h.world.ledger.accountBalance(`prepaid:${a.userId}`), 1100, 'the money is kept for the user')
  t.same(h.world.ledger.checkInvariants(), [])
})

t.test('PIN checks on the link route are rate limited', async (t) => {
  const h = await startHarness(t, { linkRateLimit: { max: 2, timeWindowMs: 60_000 } })
  const a = await h.register('a@example.org')
  const statuses: number[] = []
  for (let i = 0; i < 4; i++)
    statuses.push((await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.bob, pin: `WRONGPIN${i + 2}` }, a.token)).status)
  t.same(statuses, [403, 403, 429, 429])
  const correct = await h.api('POST', `/user/${a.userId}/wristband`, { uid: UID.bob, pin: PIN.bob }, a.token)
  t.equal(correct.status, 429, 'even the right PIN waits: guessing gets no answer')
  t.equal(h.store.userById(a.userId)!.linkedUid, null)
})
