// PIN guessing from outside (issue 9, points 4 and 5), against the real parts
// sharing one limiter as the gateway wires them: the portal login, the users
// API's wristband link and a kiosk's tag switch through ingest, all on one
// ledger. The sizes are the reported ones: 27 link attempts for one wristband;
// 21 guesses sharing a guest's first three PIN characters from three addresses
// in one second.
import t, { type Test } from 'tap'
import { CompactEncrypt, importJWK } from 'jose'
import type { AlertEvent, Envelope, ReplyMessage } from '../device-protocol/index.js'
import { TEST_SECRET, fakeTopups } from '../portal-api/testing/helpers.js'
import { createHttpServer } from './http.js'
import { createIngest } from './ingest.js'
import { PIN_ALPHABET } from './registry/pins.js'
import { PIN, UID, fixedClock, silentLogger, testSetup } from './ledger/testing/test-helpers.js'
import { createPinAttempts, type PinAttemptLimits } from './pin-attempts.js'
import { portalMount } from './portal-backend.js'
import { EVENT_CONFIG } from './testing/portal-world.js'
import { startHarness } from './users-payments/testing/harness.js'

const NEW_BAND = '04C0FFEEC0FFEE'

/** The i-th of many distinct well-formed wrong PINs, beginning with `prefix`. */
function guess(i: number, prefix = 'WRG'): string {
  const a = PIN_ALPHABET
  return `${prefix}${a[i % 32]}${a[Math.floor(i / 32) % 32]}${a[Math.floor(i / 1024) % 32]}ZZZZ`.slice(0, 10)
}

async function seal(pin: string, x: string): Promise<string> {
  const key = await importJWK({ kty: 'OKP', crv: 'X25519', x }, 'ECDH-ES')
  return new CompactEncrypt(new TextEncoder().encode(pin)).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' }).encrypt(key)
}

/** The users API (its harness and ledger), the portal and ingest on that ledger, one limiter for all three. */
async function world(t: Test, limits?: Partial<PinAttemptLimits>) {
  const clock = fixedClock()
  const pinAttempts = createPinAttempts({ clock, logger: silentLogger, ...(limits ? { limits } : {}) })
  const users = await startHarness(t, { pinAttempts })
  const { ledger, db, kiosks } = users.world

  // Every PIN the ledger is asked about, by the link route and by the portal.
  const checks = { verifyPin: 0, findWristbandByPin: 0 }
  const verifyPin = ledger.registry.verifyPin
  const findWristbandByPin = ledger.registry.findWristbandByPin
  ledger.registry.verifyPin = (uid, pin) => (checks.verifyPin++, verifyPin(uid, pin))
  ledger.registry.findWristbandByPin = (pin) => (checks.findWristbandByPin++, findWristbandByPin(pin))

  const portal = createHttpServer({
    logger: silentLogger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => undefined,
    stats: () => {
      throw new Error('not in this test')
    },
    plugins: [
      portalMount(
        { ledger, db, clock: users.world.clock, logger: silentLogger, pinAttempts },
        { eventConfig: EVENT_CONFIG, topups: fakeTopups(), authSecret: TEST_SECRET, rateLimit: { perIpMax: 10_000 } },
      ),
    ],
  })
  await portal.listen('127.0.0.1', 0)
  t.teardown(() => portal.close())
  const login = async (pin: string, remoteAddress: string) => {
    const res = await portal.app.inject({ method: 'POST', url: '/api/auth/login', payload: { pin }, remoteAddress })
    return { status: res.statusCode, type: (res.json() as { type?: string }).type, retryAfter: res.headers['retry-after'] }
  }

  // Two info-desk kiosks that may switch tags.
  const setup = testSetup({ 'bar-1': kiosks.bar.keys, 'cash-1': kiosks.cash.keys, 'food-1': kiosks.food.keys })
  setup.tillProfiles = [
    { id: 'desk', name: 'Info desk', sale: false, topupCash: true, topupCard: false, cashout: false, ticketSale: false, tagSwitch: true, cashRegister: false, cancelWindowMs: 0 },
  ]
  setup.kiosks = setup.kiosks.map((k) => (k.id === 'cash-1' || k.id === 'food-1' ? { ...k, profile: 'desk' } : k))
  ledger.registry.importEventSetup(setup)
  const replies: ReplyMessage[] = []
  const alerts: AlertEvent[] = []
  const ingest = createIngest({
    ledger,
    logger: silentLogger,
    clock: users.world.clock,
    publishReply: (_kioskId, message) => void replies.push(message),
    publishEvent: (kind, payload) => void (kind === 'alert' && alerts.push(payload as AlertEvent)),
    unsealPin: (jwe) => ledger.registry.unsealPin(jwe),
    pinAttempts,
  })
  const tagSwitch = async (kiosk: 'cash' | 'food', pin: string, newUid = NEW_BAND) => {
    const sealedPin = await seal(pin, ledger.registry.gatewayKeys.sealPublicKey)
    const envelope: Envelope = kiosks[kiosk].next({ type: 'tag_switch', uid: newUid, amount: 0 }, { sealedPin })
    ingest.submit(envelope.tx.kiosk, Buffer.from(JSON.stringify(envelope)))
    await ingest.drain()
    return replies.at(-1)
  }

  const user = await users.register('guest@example.org')
  const link = (uid: string, pin: string) => users.api('POST', `/user/${user.userId}/wristband`, { uid, pin }, user.token)
  return { clock, pinAttempts, users, ledger, checks, login, link, tagSwitch, alerts }
}

t.test('27 wrong PINs for one wristband through the link endpoint are not all checked', async (t) => {
  const w = await world(t)
  const statuses: number[] = []
  // Spread over 54 minutes, so no per-minute request limit is what stops them.
  for (let i = 0; i < 27; i++) {
    w.clock.advance(2 * 60_000)
    statuses.push((await w.link(UID.bob, guess(i))).status)
  }
  t.equal(w.checks.verifyPin, 10, 'ten PINs checked, seventeen not')
  t.same(statuses, [...Array(10).fill(403), ...Array(17).fill(429)])
  const right = await w.link(UID.bob, PIN.bob)
  t.equal(right.status, 429, 'the guessing address gets no answer, even for the right PIN')
  t.equal(right.body.type, 'rate_limited')
  t.equal(w.checks.verifyPin, 10)
  t.equal((await w.login(PIN.bob, '10.0.0.7')).status, 200, 'the wristband\'s guest is not locked out')
})

t.test('wrong PINs spent at one place count at the others', async (t) => {
  const w = await world(t)
  // Six wrong at the portal, four wrong at the link route, all from this address.
  for (let i = 0; i < 6; i++) t.equal((await w.login(guess(i), '127.0.0.1')).type, 'invalid_pin')
  for (let i = 6; i < 10; i++) t.equal((await w.link(UID.bob, guess(i))).status, 403)
  t.equal((await w.link(UID.bob, PIN.bob)).status, 429, 'the link route counts the portal\'s wrong PINs')
  t.equal((await w.login(PIN.bob, '127.0.0.1')).status, 429, 'and the portal the link route\'s')
  t.equal((await w.login(PIN.bob, '10.0.0.9')).status, 200, 'another address is not affected')
})

t.test('a kiosk is a source: its wrong tag-switch PINs are limited, refused unchecked and alerted, and spend the event budget the portal counts', async (t) => {
  const w = await world(t, { perSourceWrongMax: 3, eventWrongBudget: 5, perSourceWrongMaxOnceBudgetSpent: 1 })
  await w.users.world.ledger.applyBatch([{ envelope: w.users.world.kiosks.cash.topup(UID.alice, 1_500) }])
  for (let i = 0; i < 3; i++) t.match(await w.tagSwitch('cash', guess(i)), { status: 'rejected', reason: 'wrong_pin' })
  const refused = await w.tagSwitch('cash', PIN.alice)
  t.match(refused, { status: 'rejected', reason: 'pin_attempts_exceeded' }, 'the right PIN is not even opened')
  t.equal(w.ledger.balanceOf(UID.alice), 1_500, 'nothing moved')
  t.match(w.alerts, [{ kind: 'pin_attempts_exceeded', kiosk: 'cash-1' }])

  // Two wrong at the portal: with the kiosk's three, the event budget of five is spent.
  for (let i = 3; i < 5; i++) t.equal((await w.login(guess(i), '10.0.0.1')).type, 'invalid_pin')
  t.equal((await w.login(PIN.bob, '10.0.0.1')).status, 429, 'a guessing address waits')
  t.equal((await w.login(PIN.bob, '10.0.0.2')).status, 200, 'a guest from a clean address logs in')
  t.equal((await w.link(UID.bob, PIN.bob)).status, 201, 'and links')
  t.match(await w.tagSwitch('food', PIN.alice), { status: 'accepted', balance: 1_500 }, 'a clean kiosk still switches tags')
})

t.test('21 guesses sharing a guest\'s first three PIN characters, from three addresses in one second, do not lock the guest out', async (t) => {
  const w = await world(t)
  const prefix = PIN.alice.slice(0, 3)
  for (let i = 0; i < 21; i++) {
    const answer = await w.login(guess(i, prefix), `10.0.0.${1 + (i % 3)}`)
    t.equal(answer.type, 'invalid_pin', `guess ${i + 1} is checked and wrong`)
  }
  t.equal(w.checks.findWristbandByPin, 21)
  const guest = await w.login(PIN.alice, '10.0.0.4')
  t.equal(guest.status, 200, 'the guest logs in from a fourth address')
  t.equal((await w.login(PIN.alice.toLowerCase(), '10.0.0.4')).status, 200, 'and again')
})

t.test('the event-wide bound: a spray from many addresses is cut at the budget, and at the hard maximum', async (t) => {
  const w = await world(t, { perSourceWrongMax: 5, eventWrongBudget: 30, perSourceWrongMaxOnceBudgetSpent: 2, eventWrongHardMax: 100 })
  let n = 0
  const spray = async (addresses: number, from: number) => {
    for (let a = from; a < from + addresses; a++) for (let i = 0; i < 5; i++) await w.login(guess(n++), `10.1.${a >> 8}.${a & 255}`)
  }
  await spray(20, 0)
  // Six addresses spend the budget of 30; each of the other 14 gets two guesses.
  t.equal(w.checks.findWristbandByPin, 30 + 14 * 2)
  t.equal((await w.login(PIN.alice, '10.1.0.0')).status, 429, 'a spraying address waits, even with a right PIN')
  t.equal((await w.login(PIN.alice, '10.9.0.1')).status, 200, 'a guest from a clean address logs in')
  const checked = w.checks.findWristbandByPin

  await spray(200, 20)
  t.equal(w.checks.findWristbandByPin - checked, 100 - 58, 'no more than the hard maximum of wrong PINs, whatever the number of addresses')
  const capped = await w.login(PIN.alice, '10.9.0.2')
  t.equal(capped.status, 429, 'beyond the hard maximum nobody is checked until the window ends')
  t.equal(capped.retryAfter, '3600')
  w.clock.advance(60 * 60_000)
  t.equal((await w.login(PIN.alice, '10.9.0.2')).status, 200, 'a new window')
})
