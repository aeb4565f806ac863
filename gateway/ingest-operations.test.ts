// Ingest's part in kiosk operations: a tag switch's sealed PIN is opened only
// for a genuine envelope and handed to the ledger in memory; bookings that
// leave a debt raise an alert; bookings that change the blocklist make the
// kiosk configs go out again.
import t, { type Test } from 'tap'
import { CompactEncrypt, importJWK } from 'jose'
import type { AlertEvent, Envelope, ReplyMessage } from '../device-protocol/index.js'
import { createIngest } from './ingest.js'
import { createLedger, openLedgerDatabase } from './ledger/index.js'
import { PIN, SigningKiosk, UID, fixedClock, silentLogger, testSetup } from './ledger/testing/test-helpers.js'
import { createPinAttempts } from './pin-attempts.js'

const NEW_BAND = '04C0FFEEC0FFEE'

async function seal(pin: string, x: string): Promise<string> {
  const key = await importJWK({ kty: 'OKP', crv: 'X25519', x }, 'ECDH-ES')
  return new CompactEncrypt(new TextEncoder().encode(pin)).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' }).encrypt(key)
}

function world(t: Test, unsealSpy?: (jwe: string) => void) {
  const db = openLedgerDatabase(':memory:')
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger })
  const desk = new SigningKiosk('cash-1')
  const bar = new SigningKiosk('bar-1')
  const setup = testSetup({ 'cash-1': desk.keys, 'bar-1': bar.keys })
  setup.tillProfiles = [
    { id: 'desk', name: 'Info desk', sale: false, topupCash: true, topupCard: false, cashout: false, ticketSale: false, tagSwitch: true, cashRegister: false, cancelWindowMs: 0 },
  ]
  setup.kiosks = setup.kiosks.map((k) => (k.id === 'cash-1' ? { ...k, profile: 'desk' } : k))
  setup.offline = { allowed: true, perTagCapCents: 5_000, kioskTotalCapCents: 50_000 }
  ledger.registry.importEventSetup(setup)
  t.teardown(() => db.close())
  const replies: Array<{ kioskId: string; message: ReplyMessage }> = []
  const alerts: AlertEvent[] = []
  let configRefreshes = 0
  const ingest = createIngest({
    ledger,
    logger: silentLogger,
    clock,
    publishReply: (kioskId, message) => void replies.push({ kioskId, message }),
    publishEvent: (kind, payload) => void (kind === 'alert' && alerts.push(payload as AlertEvent)),
    unsealPin: async (jwe) => {
      unsealSpy?.(jwe)
      return ledger.registry.unsealPin(jwe)
    },
    pinAttempts: createPinAttempts({ clock, logger: silentLogger }),
    onConfigsChanged: () => void configRefreshes++,
  })
  const send = async (kioskId: string, envelope: Envelope) => {
    ingest.submit(kioskId, Buffer.from(JSON.stringify(envelope)))
    await ingest.drain()
  }
  return { ledger, desk, bar, replies, alerts, send, configRefreshes: () => configRefreshes }
}

t.test('a tag switch with the sealed PIN moves the balance and sends the configs again', async (t) => {
  const w = world(t)
  await w.send('cash-1', w.desk.topup(UID.alice, 3_000))
  const sealedPin = await seal(PIN.alice, w.ledger.registry.gatewayKeys.sealPublicKey)
  await w.send('cash-1', w.desk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin }))
  t.match(w.replies.at(-1)?.message, { kind: 'result', status: 'accepted', balance: 3_000 })
  t.equal(w.ledger.balanceOf(NEW_BAND), 3_000)
  t.equal(w.ledger.balanceOf(UID.alice), 0)
  t.equal(w.ledger.wristband(UID.alice)?.blocked, true, 'the lost wristband is blocked')
  t.equal(w.ledger.registry.findWristbandByPin(PIN.alice), NEW_BAND, 'the guest keeps the PIN')
  t.equal(w.configRefreshes(), 1, 'configs were refreshed once for the batch')
  t.ok(w.ledger.registry.kioskConfig('bar-1').blocklist?.uids.includes(UID.alice), 'the blocklist names the lost wristband')
  const stored = w.ledger.transaction(w.desk.history.at(-1)!.tx.id)
  t.notMatch(JSON.stringify(stored), new RegExp(PIN.alice), 'the PIN is nowhere in what the ledger stored')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a wrong or unreadable sealed PIN is refused as wrong_pin and moves nothing', async (t) => {
  const w = world(t)
  await w.send('cash-1', w.desk.topup(UID.alice, 1_000))
  const wrong = await seal('NOPE2345AB', w.ledger.registry.gatewayKeys.sealPublicKey)
  await w.send('cash-1', w.desk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin: wrong }))
  t.match(w.replies.at(-1)?.message, { status: 'rejected', reason: 'wrong_pin' })
  await w.send('cash-1', w.desk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin: 'aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbb.cccc' }))
  t.match(w.replies.at(-1)?.message, { status: 'rejected', reason: 'wrong_pin' })
  t.equal(w.ledger.balanceOf(UID.alice), 1_000)
  t.equal(w.ledger.wristband(NEW_BAND), undefined)
  t.equal(w.configRefreshes(), 0)
})

t.test('the PIN is not opened for an envelope whose signature fails', async (t) => {
  const opened: string[] = []
  const w = world(t, (jwe) => opened.push(jwe))
  const sealedPin = await seal(PIN.alice, w.ledger.registry.gatewayKeys.sealPublicKey)
  const forged = new SigningKiosk('cash-1').next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin })
  await w.send('cash-1', forged)
  t.match(w.replies.at(-1)?.message, { status: 'rejected', reason: 'bad_signature' })
  t.same(opened, [], 'unseal was never called')
})

t.test('an offline sale beyond the balance is booked, answered with debt and alerted', async (t) => {
  const w = world(t)
  await w.send('bar-1', w.bar.sale(UID.bob, [{ product: 'beer', qty: 2, unitPrice: 450 }], { offline: true }))
  t.match(w.replies.at(-1)?.message, { status: 'accepted', balance: -900, debt: true })
  t.match(w.alerts, [{ kind: 'debt', kiosk: 'bar-1' }])
  t.equal(w.ledger.stats().openDebts.count, 1)
  t.same(w.ledger.checkInvariants(), [], 'a flagged debt keeps the invariants')
  await w.send('bar-1', w.bar.sale(UID.bob, [{ product: 'beer', qty: 1, unitPrice: 450 }]))
  t.match(w.replies.at(-1)?.message, { status: 'rejected', reason: 'insufficient_balance' }, 'online, the balance never goes below zero')
})
