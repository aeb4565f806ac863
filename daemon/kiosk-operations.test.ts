// Issue 5, kiosk side: staff login, till profiles, blocklist, restrictions,
// offline sales with caps, cancel, balance checks, cash-out, tickets, tag
// switches, shifts and abort, against a real broker and a playing gateway.
import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { compactDecrypt, exportJWK, generateKeyPair } from 'jose'
import { publicKeyToBase64Url, signBlocklist, staffPinHash, topics, type KioskConfig, type TillProfile } from '../device-protocol/index.js'
import type { Kiosk, KioskErrorType } from './kiosk.js'
import { createManualClock, startKioskWorld, type KioskParts, type KioskWorld, type ManualClock } from './testing/kiosk-world.js'
import type { FakeReader } from './testing/fake-reader.js'
import { waitUntil } from './testing/wait.js'

const KIOSK = 'bar-1'
const GUEST = { uid: '04A1B2C3D4E5F6', type: 'ntag215' }
const OTHER_GUEST = { uid: '04A1B2C3D4E5F7', type: 'ntag215' }
const MINOR = { uid: '04000000000016', type: 'ntag215' }
const LOST = { uid: '04000000000404', type: 'ntag215' }
const CASHIER = { uid: '04C0000000000A', type: 'ntag215' }
const TOPUP = { uid: '04C0000000000B', type: 'ntag215' }
const BOSS = { uid: '04C0000000000C', type: 'ntag424' }
const BOSS_PIN = '2468'
const gatewayKeys = generateKeyPairSync('ed25519')

const PROFILE: TillProfile = { id: 'all', name: 'All', sale: true, topupCash: true, topupCard: true, cashout: true, ticketSale: true, tagSwitch: true, cashRegister: false, cancelWindowMs: 60_000 }
const base: KioskConfig = {
  kiosk: KIOSK,
  booth: 'Bar',
  version: 1,
  products: [
    { id: 'beer', name: 'Beer', price: 450, restrictions: ['under-16'] },
    { id: 'cup', name: 'Cup', price: 200, kind: 'deposit' },
    { id: 'day', name: 'Day ticket', price: 3_000, kind: 'ticket', ticketVariant: 'adult' },
  ],
  topupAllowed: true,
  saleAllowed: true,
  profile: PROFILE,
  tagVariants: [{ uid: MINOR.uid, variant: 'under-16' }],
  gatewayKey: publicKeyToBase64Url(gatewayKeys.publicKey),
  blocklist: signBlocklist(1, [LOST.uid], gatewayKeys.privateKey),
}
const staff = [
  { uid: CASHIER.uid, name: 'Cas', roles: ['cashier' as const] },
  { uid: TOPUP.uid, name: 'Tom', roles: ['topup' as const] },
  { uid: BOSS.uid, name: 'Sue', roles: ['supervisor' as const], pinHash: staffPinHash(BOSS_PIN) },
]

interface Rig extends Omit<KioskWorld, 'restart'> {
  clock: ManualClock
  /** Stops the kiosk and starts another on the same files (a restart). */
  restart(waitReady?: boolean): Promise<KioskParts>
}

async function rig(t: Test, config: Partial<KioskConfig> = {}, options: { replyTimeoutMs?: number; waitReady?: boolean } = {}): Promise<Rig> {
  const clock = createManualClock(1_700_000_000_000)
  const waitFor = (waitReady: boolean) => (waitReady ? 'link' : 'nothing')
  const world = await startKioskWorld(t, { kioskId: KIOSK, config: { ...base, ...config }, clock, replyTimeoutMs: options.replyTimeoutMs, waitFor: waitFor(options.waitReady !== false) })
  return { ...world, clock, restart: (waitReady = true) => world.restart({ waitFor: waitFor(waitReady) }) }
}

async function refusal(t: Test, promise: Promise<unknown>, type: KioskErrorType): Promise<void> {
  await t.rejects(promise, { name: 'KioskError', type }, type)
}

const tapped = <T>(reader: FakeReader, operation: Promise<T>, tag: { uid: string; type: string }): Promise<T> => Promise.all([operation, reader.tapWhenReady(tag)]).then(([r]) => r)

t.test('staff: login by tap (PIN for supervisors), roles per transaction type, every tx carries staff', async (t) => {
  const { reader, kiosk, responder, outbox } = await rig(t, { staff })
  await refusal(t, kiosk.sale([{ product: 'beer', qty: 1 }]), 'not_logged_in')
  await refusal(t, kiosk.checkBalance(), 'not_logged_in')
  t.equal(reader.listenerCount('tag'), 0, 'nobody is asked to tap')

  await refusal(t, tapped(reader, kiosk.login(), GUEST), 'unknown_staff')
  await refusal(t, tapped(reader, kiosk.login(), BOSS), 'wrong_staff_pin')
  await refusal(t, tapped(reader, kiosk.login('1357'), BOSS), 'wrong_staff_pin')
  await refusal(t, tapped(reader, kiosk.login(), LOST), 'tag_blocked')
  t.equal(kiosk.session(), null)
  t.same(reader.feedbacks.map((f) => f.led), ['red', 'red', 'red', 'red'])

  const session = await tapped(reader, kiosk.login(), CASHIER)
  t.match(session, { uid: CASHIER.uid, name: 'Cas', roles: ['cashier'] })
  t.same(kiosk.session(), session)
  await refusal(t, kiosk.topUp(500), 'staff_not_allowed')
  await refusal(t, kiosk.cashOut(), 'staff_not_allowed')
  await refusal(t, kiosk.switchTag('ABCDEFGH'), 'staff_not_allowed')
  await refusal(t, kiosk.resolveCardPayment({ outcome: 'declined' }), 'staff_not_allowed')
  t.match(await tapped(reader, kiosk.sale([{ product: 'beer', qty: 1 }]), GUEST), { status: 'accepted' })
  t.equal(responder.received[0]!.tx.staff, CASHIER.uid)
  t.equal(responder.received[0]!.tx.tag.uid, GUEST.uid, 'the guest, not the staff wristband, pays')

  await tapped(reader, kiosk.login(), TOPUP)
  await refusal(t, kiosk.sale([{ product: 'beer', qty: 1 }]), 'staff_not_allowed')
  t.match(await tapped(reader, kiosk.topUp(500), GUEST), { status: 'accepted' })
  t.equal(responder.received[1]!.tx.staff, TOPUP.uid)

  t.match(await tapped(reader, kiosk.login(BOSS_PIN), BOSS), { uid: BOSS.uid, roles: ['supervisor'] })
  await refusal(t, kiosk.resolveCardPayment({ outcome: 'declined' }), 'no_unresolved_card_payment')
  kiosk.logout()
  t.equal(kiosk.session(), null)
  await refusal(t, kiosk.topUp(500), 'not_logged_in')
  t.equal(outbox.head().nextSeq, 3, 'only the two allowed transactions were signed')
})

t.test('no staff list: no login, no staff field; resolve needs no supervisor', async (t) => {
  const { reader, kiosk, responder } = await rig(t)
  await refusal(t, kiosk.login(), 'unknown_staff')
  t.match(await tapped(reader, kiosk.sale([{ product: 'beer', qty: 1 }]), GUEST), { status: 'accepted' })
  t.equal(responder.received[0]!.tx.staff, undefined)
  await refusal(t, kiosk.resolveCardPayment({ outcome: 'declined' }), 'no_unresolved_card_payment')
})

t.test('blocked and restricted wristbands: red after the tap, nothing signed; returns stay possible', async (t) => {
  const { reader, kiosk, outbox, responder, config } = await rig(t)
  await refusal(t, tapped(reader, kiosk.sale([{ product: 'beer', qty: 1 }]), LOST), 'tag_blocked')
  await refusal(t, tapped(reader, kiosk.topUp(1_000), LOST), 'tag_blocked')
  await refusal(t, tapped(reader, kiosk.checkBalance(), LOST), 'tag_blocked')
  await refusal(t, tapped(reader, kiosk.sale([{ product: 'beer', qty: 1 }, { product: 'cup', qty: 1 }]), MINOR), 'product_restricted')
  t.equal(outbox.head().nextSeq, 1, 'nothing signed')
  t.same(reader.feedbacks.map((f) => f.led), ['red', 'red', 'red', 'red'])
  t.match(kiosk.counters(), { blockedTaps: 3, restrictedTaps: 1 })
  t.match(await tapped(reader, kiosk.sale([{ product: 'cup', qty: -1 }]), MINOR), { status: 'accepted', amount: 200 })
  t.match(responder.received[0]!.tx, { type: 'return', amount: 200, lines: [{ product: 'cup', qty: -1, unitPrice: 200 }] })

  // A forged list cannot unblock; a signed new one can, and new prices apply at once.
  await config.apply({ ...base, version: 2, blocklist: signBlocklist(2, [], generateKeyPairSync('ed25519').privateKey) })
  await refusal(t, tapped(reader, kiosk.sale([{ product: 'beer', qty: 1 }]), LOST), 'tag_blocked')
  await config.apply({ ...base, version: 3, products: [{ id: 'beer', name: 'Beer', price: 500 }], blocklist: signBlocklist(3, [], gatewayKeys.privateKey) })
  t.match(await tapped(reader, kiosk.sale([{ product: 'beer', qty: 1 }]), LOST), { status: 'accepted', amount: 500 })
})

t.test('offline: sales within the per-wristband and kiosk caps, caps from the outbox after a restart', async (t) => {
  const offline = { allowed: true, perTagCapCents: 1_000, kioskTotalCapCents: 1_500 }
  const products = [{ id: 'x', name: 'X', price: 100 }, { id: 'cup', name: 'Cup', price: 200, kind: 'deposit' as const }]
  const r = await rig(t, { offline, products })
  await r.broker.stop()
  await waitUntil(() => !r.link.isReady(), 'link down')
  const sell = (kiosk: Kiosk, reader: FakeReader, qty: number, tag = GUEST) => tapped(reader, kiosk.sale([{ product: 'x', qty }]), tag)
  t.match(await sell(r.kiosk, r.reader, 6), { status: 'offline', amount: 600, seq: 1 })
  await refusal(t, sell(r.kiosk, r.reader, 5), 'offline_limit')
  t.match(await sell(r.kiosk, r.reader, 4), { status: 'offline', seq: 2 }, 'exactly the per-wristband cap')
  await refusal(t, sell(r.kiosk, r.reader, 6, OTHER_GUEST), 'offline_limit')
  t.match(await sell(r.kiosk, r.reader, 5, OTHER_GUEST), { status: 'offline', seq: 3 }, 'exactly the kiosk cap')
  t.match(await tapped(r.reader, r.kiosk.sale([{ product: 'cup', qty: -1 }]), GUEST), { status: 'offline', amount: 200 }, 'returns are not capped')
  t.same(r.reader.feedbacks.map((f) => [f.led, f.beep]), [['green', 'long'], ['red', 'error'], ['green', 'long'], ['red', 'error'], ['green', 'long'], ['green', 'long']])
  t.same(r.kiosk.offlineTotals(), { kioskCents: 1_500, count: 4 })
  t.match(r.kiosk.counters(), { offlineSales: 4 })
  await refusal(t, r.kiosk.cashOut(), 'gateway_unreachable')
  await refusal(t, r.kiosk.checkBalance(), 'gateway_unreachable')
  await refusal(t, r.kiosk.sellTicket({ lines: [{ product: 'day', qty: 1 }], topup: 0 }), 'unknown_product')

  const again = await r.restart(false)
  await refusal(t, sell(again.kiosk, again.reader, 1, MINOR), 'offline_limit')
  t.same(again.kiosk.offlineTotals(), { kioskCents: 1_500, count: 4 }, 'the caps survive the restart')

  await again.config.apply({ ...base, version: 5, offline: { ...offline, allowed: false } })
  await refusal(t, again.kiosk.sale([{ product: 'beer', qty: 1 }]), 'gateway_unreachable')
  t.equal(again.reader.listenerCount('tag'), 0, 'refused before the tap')

  // The gateway lets kiosks in only once it listens itself.
  r.broker.admit = (username) => username !== KIOSK
  await r.broker.restart()
  await waitUntil(() => r.responder.subscriptions() >= 2, 'responder back')
  r.broker.admit = () => true
  await waitUntil(() => again.outbox.depth() === 0, 'the offline sales booked')
  t.same(r.responder.received.map((e) => [e.tx.seq, e.tx.offline]), [[1, true], [2, true], [3, true], [4, true]])
  t.same(again.kiosk.offlineTotals(), { kioskCents: 0, count: 0 })

  // A second outage within the hour: the gateway still counts the sales it booked offline, so the kiosk does too.
  await again.config.apply({ ...base, version: 6, offline, products })
  await r.broker.stop()
  await waitUntil(() => !again.link.isReady(), 'link down again')
  await t.rejects(sell(again.kiosk, again.reader, 1, MINOR), { type: 'offline_limit', message: /at most 1500 cents in 60 min \(1500 already\)/ }, 'the kiosk cap is still used')
  r.clock.advance(3_600_000)
  t.match(await sell(again.kiosk, again.reader, 1, MINOR), { status: 'offline', amount: 100 }, 'once the window has passed the caps are free again')
})

t.test('cancel the last sale: within the window, once, without a tap; survives a restart', async (t) => {
  const r = await rig(t)
  await refusal(t, r.kiosk.cancelLast(), 'nothing_to_cancel')
  const sale = await tapped(r.reader, r.kiosk.sale([{ product: 'beer', qty: 2 }]), { ...GUEST, type: 'ntag424' })
  t.match(r.kiosk.lastSale(), { id: sale.id, amount: 900, cancellableUntil: r.clock.now() + 60_000 })
  const { kiosk, reader, outbox, config } = await r.restart()
  t.match(kiosk.lastSale(), { id: sale.id })
  r.clock.advance(60_000)
  const cancel = await kiosk.cancelLast()
  t.match(cancel, { status: 'accepted', amount: 900 })
  t.equal(reader.listenerCount('tag'), 0)
  t.match(r.responder.received.at(-1)!.tx, { type: 'cancel', ref: sale.id, tag: { uid: GUEST.uid, type: 'ntag424' }, amount: 900, lines: [] })
  t.equal(kiosk.lastSale(), null)
  await refusal(t, kiosk.cancelLast(), 'nothing_to_cancel')

  await tapped(reader, kiosk.sale([{ product: 'beer', qty: 1 }]), GUEST)
  r.clock.advance(60_001)
  await refusal(t, kiosk.cancelLast(), 'cancel_not_allowed')
  await config.apply({ ...base, version: 2, profile: { ...PROFILE, cancelWindowMs: 0 } })
  r.clock.advance(-60_001)
  await refusal(t, kiosk.cancelLast(), 'cancel_not_allowed')
  t.equal(outbox.head().nextSeq, 4)
})

t.test('balance check: query on the query topic, answer by requestId, validated', async (t) => {
  const { reader, kiosk, responder } = await rig(t, {}, { replyTimeoutMs: 300 })
  responder.queryPolicy = (q) => {
    // A wrong answer first (another uid under the same requestId): ignored, the right one counts.
    void responder.publishRaw(topics.kioskReply(KIOSK), JSON.stringify({ kind: 'balance', requestId: q.requestId, uid: OTHER_GUEST.uid, status: 'ok', balance: 1 }))
    return { status: 'ok', balance: 1_250, vouchers: 2, variant: 'adult', recent: [{ at: 1, type: 'sale', amount: -450, booth: 'bar' }] }
  }
  const info = await tapped(reader, kiosk.checkBalance(), GUEST)
  t.same(info, { uid: GUEST.uid, balance: 1_250, vouchers: 2, blocked: false, variant: 'adult', debt: false, recent: [{ at: 1, type: 'sale', amount: -450, booth: 'bar' }] })
  t.match(responder.queries, [{ kind: 'balance', uid: GUEST.uid }])
  t.equal(kiosk.counters().badBalanceAnswers, 1)
  responder.queryPolicy = () => ({ status: 'unknown_tag' })
  await refusal(t, tapped(reader, kiosk.checkBalance(), GUEST), 'unknown_tag')
  responder.queryPolicy = () => ({ status: 'ok' })
  await refusal(t, tapped(reader, kiosk.checkBalance(), GUEST), 'gateway_unreachable')
  responder.queryPolicy = () => null
  await refusal(t, tapped(reader, kiosk.checkBalance(), GUEST), 'gateway_unreachable')
  t.equal(responder.received.length, 0, 'a balance check signs nothing')
})

t.test('cash-out: the whole balance after asking the gateway; nothing to pay out; not allowed', async (t) => {
  const { reader, kiosk, responder, config } = await rig(t)
  responder.queryPolicy = () => ({ status: 'ok', balance: 1_234 })
  responder.policy = () => ({ status: 'accepted', balance: 0 })
  t.match(await tapped(reader, kiosk.cashOut(), GUEST), { status: 'accepted', amount: 1_234, balance: 0 })
  t.match(responder.received[0]!.tx, { type: 'cashout', amount: 1_234, lines: [], tag: { uid: GUEST.uid } })
  responder.queryPolicy = () => ({ status: 'ok', balance: 0 })
  await refusal(t, tapped(reader, kiosk.cashOut(), GUEST), 'nothing_to_pay_out')
  responder.queryPolicy = () => ({ status: 'ok', balance: 500, blocked: true })
  await refusal(t, tapped(reader, kiosk.cashOut(), GUEST), 'tag_blocked')
  t.equal(responder.received.length, 1)
  await config.apply({ ...base, version: 2, profile: { ...PROFILE, cashout: false } })
  await refusal(t, kiosk.cashOut(), 'cashout_not_allowed')
})

t.test('ticket sale: new wristband, tickets plus top-up, the PIN comes back once', async (t) => {
  const { reader, kiosk, responder, config } = await rig(t)
  responder.policy = () => ({ status: 'accepted', balance: 1_000, pin: 'K7M2Q9XW4R' })
  const outcome = await tapped(reader, kiosk.sellTicket({ lines: [{ product: 'day', qty: 1 }], topup: 1_000 }), OTHER_GUEST)
  t.match(outcome, { status: 'accepted', amount: 4_000, pin: 'K7M2Q9XW4R', balance: 1_000 })
  t.match(responder.received[0]!.tx, { type: 'ticket', tag: { uid: OTHER_GUEST.uid }, amount: 4_000, topup: 1_000, lines: [{ product: 'day', qty: 1, unitPrice: 3_000 }] })
  await refusal(t, kiosk.sellTicket({ lines: [{ product: 'beer', qty: 1 }], topup: 0 }), 'ticket_not_allowed')
  await config.apply({ ...base, version: 2, profile: { ...PROFILE, ticketSale: false } })
  await refusal(t, kiosk.sellTicket({ lines: [{ product: 'day', qty: 1 }], topup: 0 }), 'ticket_not_allowed')
})

t.test('tag switch: the PIN is sealed to the gateway key and opens only with its private key', async (t) => {
  const sealKeys = await generateKeyPair('ECDH-ES', { crv: 'X25519' })
  const pinSealKey = (await exportJWK(sealKeys.publicKey)).x!
  const { reader, kiosk, responder, config } = await rig(t, { pinSealKey })
  await refusal(t, kiosk.switchTag('short'), 'invalid_pin')
  await refusal(t, kiosk.switchTag('ABCDEFGHIO'), 'invalid_pin')
  const outcome = await tapped(reader, kiosk.switchTag('k7m2q9xw4r'), OTHER_GUEST)
  t.match(outcome, { status: 'accepted', amount: 0 })
  const tx = responder.received[0]!.tx
  t.match(tx, { type: 'tag_switch', tag: { uid: OTHER_GUEST.uid }, amount: 0, lines: [] })
  t.notMatch(JSON.stringify(responder.received[0]), /K7M2Q9XW4R/i, 'the PIN is nowhere in clear')
  const { plaintext, protectedHeader } = await compactDecrypt(tx.sealedPin!, sealKeys.privateKey)
  t.equal(new TextDecoder().decode(plaintext), 'K7M2Q9XW4R')
  t.match(protectedHeader, { alg: 'ECDH-ES', enc: 'A256GCM' })
  const withoutKey = { ...base, version: 2 }
  delete withoutKey.pinSealKey
  await config.apply(withoutKey)
  await refusal(t, kiosk.switchTag('K7M2Q9XW4R'), 'pin_seal_unavailable')
  await config.apply({ ...base, version: 3, pinSealKey, profile: { ...PROFILE, tagSwitch: false } })
  await refusal(t, kiosk.switchTag('K7M2Q9XW4R'), 'tag_switch_not_allowed')
})

t.test('shifts: cash needs an open shift; open and close on the staff wristband; kept across restarts', async (t) => {
  const r = await rig(t, { staff, profile: { ...PROFILE, cashRegister: true }, registers: [{ id: 'till-1', name: 'Till 1' }] })
  await tapped(r.reader, r.kiosk.login(), TOPUP)
  await refusal(t, r.kiosk.topUp(500), 'no_open_shift')
  await refusal(t, r.kiosk.cashOut(), 'no_open_shift')
  await refusal(t, r.kiosk.sellTicket({ lines: [{ product: 'day', qty: 1 }], topup: 0 }), 'no_open_shift')
  await refusal(t, r.kiosk.closeShift(0), 'no_open_shift')
  await refusal(t, r.kiosk.openShift('till-9', 0), 'unknown_register')
  await refusal(t, r.kiosk.openShift('till-1', -1), 'invalid_amount')
  const opened = await r.kiosk.openShift('till-1', 10_000)
  t.match(opened, { status: 'accepted', amount: 10_000 })
  t.match(r.responder.received[0]!.tx, { type: 'shift_open', register: 'till-1', amount: 10_000, tag: { uid: TOPUP.uid }, staff: TOPUP.uid })
  t.same(r.kiosk.shift(), { register: 'till-1', openedAt: r.clock.now(), staff: TOPUP.uid, floatCents: 10_000 })
  await refusal(t, r.kiosk.openShift('till-1', 0), 'shift_already_open')
  t.match(await tapped(r.reader, r.kiosk.topUp(500), GUEST), { status: 'accepted' })

  const again = await r.restart()
  t.match(again.kiosk.shift(), { register: 'till-1' }, 'the shift survives the restart')
  await refusal(t, again.kiosk.closeShift(10_500), 'not_logged_in')
  await tapped(again.reader, again.kiosk.login(), TOPUP)
  r.responder.policy = (e) => (e.tx.type === 'shift_close' ? { status: 'accepted', expected: 10_500, difference: -20 } : { status: 'accepted' })
  t.match(await again.kiosk.closeShift(10_480), { status: 'accepted', amount: 10_480, expected: 10_500, difference: -20 })
  t.match(r.responder.received.at(-1)!.tx, { type: 'shift_close', register: 'till-1', amount: 10_480 })
  t.equal(again.kiosk.shift(), null)
})

t.test('abort: the cancel button ends a tap wait; nothing stored; the kiosk is free again', async (t) => {
  const { reader, kiosk, outbox } = await rig(t)
  t.equal(kiosk.abort(), false, 'nothing to abort')
  const sale = kiosk.sale([{ product: 'beer', qty: 1 }])
  await reader.waitForListener()
  t.equal(kiosk.abort(), true)
  await refusal(t, sale, 'aborted')
  t.equal(reader.listenerCount('tag'), 0)
  t.equal(outbox.head().nextSeq, 1)
  t.equal(kiosk.isBusy(), false)
  const login = kiosk.checkBalance()
  await reader.waitForListener()
  kiosk.abort()
  await refusal(t, login, 'aborted')
})
