// Linking a user's prepaid balance to a wristband, on the real ledger: one
// body per engine (a SQLite file and a PostgreSQL database).
import t, { type Test } from 'tap'
import { makeWorld, silentLogger, UID } from '../ledger/testing/test-helpers.js'
import type { UsersLedger } from './ledger-port.js'
import { LinkRefusedError, linkWristband } from './linking.js'
import { createUsersStore } from './store.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'

function setup(t: Test, { engine }: { engine: WorldEngine }) {
  const world = makeWorld(engine.database(t))
  t.teardown(() => world.close())
  const store = createUsersStore(world.db)
  const user = (email: string) =>
    store.insertUser({ id: store.newUserId(), userName: 'U', email, passwordHash: 'x', createdAt: world.clock.now() })
  /** Money arriving for a user before the event, as a confirmed Stripe payment would book it. */
  const prepay = (userId: string, cents: number, ref: string) =>
    world.ledger.bookExternal({
      ref,
      kind: 'prepayment',
      postings: [
        { account: world.ledger.ensureAccount('clearing', 'stripe'), amount: -cents },
        { account: world.ledger.ensureAccount('prepaid', userId), amount: cents },
      ],
    })
  const deps = { store, ledger: world.ledger as UsersLedger, clock: world.clock, logger: silentLogger }
  return { world, store, user, prepay, deps }
}

function refusal(t: Test, fn: () => unknown, code: string) {
  try {
    fn()
    t.fail(`expected refusal ${code}`)
  } catch (err) {
    t.ok(err instanceof LinkRefusedError, 'a LinkRefusedError')
    t.equal((err as LinkRefusedError).code, code)
  }
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: linking moves the whole prepaid balance to the wristband exactly once`, async (t) => {
    const { world, store, user, prepay, deps } = setup(t, { engine })
    const u = user('a@example.org')
    prepay(u.id, 1500, 'test:1')
    prepay(u.id, 500, 'test:2')
    const before = world.ledger.balanceOf(UID.alice)!

    const first = linkWristband(deps, { userId: u.id, uid: UID.alice })
    t.match(first, { status: 'linked', movedCents: 2000, uid: UID.alice, userId: u.id })
    t.type(first.bookingId, 'string')
    t.equal(world.ledger.balanceOf(UID.alice), before + 2000)
    t.equal(world.ledger.accountBalance(`prepaid:${u.id}`), 0)
    t.equal(store.userById(u.id)!.linkedUid, UID.alice)
    t.equal(world.ledger.externalBookingByRef(`link:${u.id}:${UID.alice}`)?.kind, 'prepaid_transfer')

    const again = linkWristband(deps, { userId: u.id, uid: UID.alice })
    t.match(again, { status: 'replay', movedCents: 0, bookingId: null })
    t.equal(world.ledger.balanceOf(UID.alice), before + 2000, 'nothing moved twice')
    t.same(world.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: linking with nothing prepaid records the link and books nothing`, async (t) => {
    const { world, store, user, deps } = setup(t, { engine })
    const u = user('a@example.org')
    const result = linkWristband(deps, { userId: u.id, uid: UID.bob })
    t.match(result, { status: 'linked', movedCents: 0, bookingId: null })
    t.equal(store.userById(u.id)!.linkedUid, UID.bob)
    t.equal(world.ledger.externalBookingByRef(`link:${u.id}:${UID.bob}`), undefined)
  })

  t.test(`${engine.name}: refusals change nothing`, async (t) => {
    const { world, store, user, prepay, deps } = setup(t, { engine })
    const a = user('a@example.org')
    const b = user('b@example.org')
    prepay(b.id, 700, 'test:b')
    linkWristband(deps, { userId: a.id, uid: UID.alice })
    const aliceBalance = world.ledger.balanceOf(UID.alice)

    refusal(t, () => linkWristband(deps, { userId: a.id, uid: UID.bob }), 'already_linked')
    refusal(t, () => linkWristband(deps, { userId: b.id, uid: UID.alice }), 'wristband_taken')
    refusal(t, () => linkWristband(deps, { userId: b.id, uid: UID.stranger }), 'unknown_tag')
    refusal(t, () => linkWristband(deps, { userId: b.id, uid: UID.blocked }), 'tag_blocked')
    refusal(t, () => linkWristband(deps, { userId: 'nobody', uid: UID.bob }), 'unknown_user')

    t.equal(store.userById(b.id)!.linkedUid, null)
    t.equal(world.ledger.accountBalance(`prepaid:${b.id}`), 700)
    t.equal(world.ledger.balanceOf(UID.alice), aliceBalance)
    t.equal(world.ledger.balanceOf(UID.blocked), 0)
    t.same(world.ledger.checkInvariants(), [])
  })

  t.test(`${engine.name}: a failed transfer leaves the user unlinked (link and money move together)`, async (t) => {
    const { world, store, user, prepay, deps } = setup(t, { engine })
    const u = user('a@example.org')
    prepay(u.id, 900, 'test:1')
    const failing: UsersLedger = {
      ...deps.ledger,
      ensureAccount: (kind, ref) => world.ledger.ensureAccount(kind, ref),
      accountBalance: (id) => world.ledger.accountBalance(id),
      wristband: (uid) => world.ledger.wristband(uid),
      registry: { verifyPin: (uid, pin) => world.ledger.registry.verifyPin(uid, pin) },
      bookExternal: () => {
        throw new Error('disk full')
      },
    }
    t.throws(() => linkWristband({ ...deps, ledger: failing }, { userId: u.id, uid: UID.alice }), /disk full/)
    t.equal(store.userById(u.id)!.linkedUid, null, 'not linked')
    t.equal(world.ledger.accountBalance(`prepaid:${u.id}`), 900, 'money still prepaid')
    // And a retry with a working ledger succeeds.
    t.match(linkWristband(deps, { userId: u.id, uid: UID.alice }), { status: 'linked', movedCents: 900 })
  })
}
