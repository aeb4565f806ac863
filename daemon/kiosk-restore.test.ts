// A gateway restored from a backup lacks what it answered after the backup.
// The kiosk sends it the answered envelopes its outbox kept, unchanged, from
// the gateway's head on: at the chain check after a start ('gateway_behind'),
// and when the gateway asks for a seq this kiosk answered (a ResendRequest).
// Answers to them change nothing the kiosk shows; envelopes no longer kept are
// named as missing and nothing of the range is sent. The responder plays the
// gateway (restoreTo forgets what it booked from a seq on).
import t, { type Test } from 'tap'
import { topics, type Envelope, type KioskConfig } from '../device-protocol/index.js'
import { startKioskWorld, type KioskWorld } from './testing/kiosk-world.js'
import { waitUntil } from './testing/wait.js'

const KIOSK = 'bar-1'
const TAG = { uid: '04A1B2C3D4E5F6', type: 'ntag215' }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'Main bar', version: 1, products: [{ id: 'beer', name: 'Beer', price: 450 }], topupAllowed: true, saleAllowed: true }

const rig = (t: Test): Promise<KioskWorld> => startKioskWorld(t, { kioskId: KIOSK, config: catalog, replyTimeoutMs: 3_000, waitFor: 'chain' })

async function sell(world: Pick<KioskWorld, 'kiosk' | 'reader'>) {
  const [outcome] = await Promise.all([world.kiosk.sale([{ product: 'beer', qty: 1 }]), world.reader.tapWhenReady(TAG)])
  return outcome
}

/** The copies of each seq the responder received. */
function copiesBySeq(received: readonly Envelope[]): Map<number, Envelope[]> {
  const bySeq = new Map<number, Envelope[]>()
  for (const envelope of received) bySeq.set(envelope.tx.seq, [...(bySeq.get(envelope.tx.seq) ?? []), envelope])
  return bySeq
}

t.test('a resend request for seqs this kiosk answered is served from the kept envelopes, unchanged, and the chain goes on', async (t) => {
  const world = await rig(t)
  const { responder, outbox, kiosk } = world
  responder.policy = () => ({ status: 'accepted', balance: 1_000 })
  const sold: Array<Awaited<ReturnType<typeof sell>>> = []
  for (let i = 0; i < 4; i++) sold.push(await sell(world))
  t.same(sold.map((s) => s.status), ['accepted', 'accepted', 'accepted', 'accepted'])
  const shown = [outbox.answered(sold[2]!.id), outbox.answered(sold[3]!.id)]

  // The gateway is restored from a backup taken after seq 2, while the kiosk stays connected.
  responder.restoreTo(KIOSK, 3)
  const next = await sell(world)
  t.match(next, { status: 'accepted', seq: 5 }, 'the next sale is booked once the gateway has 3 and 4 again')
  t.same(responder.resendRequests, [3], 'seq 5 made the gateway ask from 3')
  t.same(responder.received.map((e) => e.tx.seq), [1, 2, 3, 4, 5, 3, 4, 5], 'kept 3 and 4, then 5, in order')
  for (const [seq, copies] of copiesBySeq(responder.received)) t.ok(copies.every((copy) => JSON.stringify(copy) === JSON.stringify(copies[0])), `every copy of seq ${seq} is the envelope as signed`)
  t.same(responder.problems, [], 'signatures and the chain check out at the gateway')
  await waitUntil(() => outbox.depth() === 0, 'all answered')
  t.same([outbox.answered(sold[2]!.id), outbox.answered(sold[3]!.id)], shown, 'the answers shown before stand')
  t.match(kiosk.counters(), { resendRequests: 1, conflictingReplies: 0, accepted: 5 })
  t.match(await sell(world), { status: 'accepted', seq: 6 })
})

t.test('after a start, a gateway behind answered seqs is sent the kept envelopes at the chain check; another answer now changes nothing shown', async (t) => {
  const world = await rig(t)
  const { responder } = world
  responder.policy = () => ({ status: 'accepted', balance: 1_000 })
  const sold: Array<Awaited<ReturnType<typeof sell>>> = []
  for (let i = 0; i < 3; i++) sold.push(await sell(world))
  // Restored from a backup taken after seq 1; the restored books now refuse seq 2.
  responder.restoreTo(KIOSK, 2)
  responder.policy = (envelope) => (envelope.tx.seq === 2 ? { status: 'rejected', reason: 'insufficient_balance', balance: 0 } : { status: 'accepted', balance: 1_000 })
  const restarted = await world.restart({ waitFor: 'chain' })
  const { kiosk, outbox } = restarted
  t.equal(kiosk.chainState().problem, undefined)
  await waitUntil(() => responder.answered.has(sold[2]!.id), 'seqs 2 and 3 booked again')
  t.same(responder.received.slice(3).map((e) => e.tx.seq), [2, 3], 'sent at the check, before any sale')
  t.same(responder.received.slice(3).map((e) => JSON.stringify(e)), responder.received.slice(1, 3).map((e) => JSON.stringify(e)), 'unchanged')
  await waitUntil(() => kiosk.counters().conflictingReplies === 1, 'the different answer counted')
  t.match(outbox.answered(sold[1]!.id), { status: 'accepted', balance: 1_000 }, 'the cashier\'s record keeps the first answer')
  t.match(kiosk.lastSale(), { id: sold[2]!.id })
  t.same(responder.resendRequests, [], 'the gateway never had to ask')
  t.match(await sell(restarted), { status: 'accepted', seq: 4 })
  t.same(responder.problems, [])
})

t.test('when the kiosk no longer keeps what the gateway lacks, it names the missing seqs, sends none of them, and the next sale waits', async (t) => {
  const world = await rig(t)
  const { responder } = world
  for (let i = 0; i < 4; i++) await sell(world)
  // Seqs 1..3 aged out of the kept window; the gateway is restored from a backup taken after seq 2.
  world.outbox.database.prepare('DELETE FROM answered_envelopes WHERE seq <= 3').run()
  responder.restoreTo(KIOSK, 3)
  const restarted = await world.restart({ waitFor: 'chain' })
  const { kiosk, outbox } = restarted
  t.match(kiosk.chainState(), { status: 'intact', problem: { reason: 'gateway_behind_unrecoverable', why: 'pruned', gatewayNextSeq: 3, missingFromSeq: 3, missingToSeq: 3 } })
  t.match(kiosk.chainState().problem?.todo, /seqs 3\.\.3 of kiosk bar-1/)

  const held = await sell(restarted)
  t.match(held, { status: 'pending', seq: 5 }, 'it waits behind the gap at the gateway')
  t.same(responder.resendRequests, [3])
  t.notOk(responder.received.slice(4).some((e) => e.tx.seq === 4), 'seq 4 is not sent on its own: it would only wait behind the gap')
  t.equal(outbox.depth(), 1)
  t.match(kiosk.chainState().problem, { missingFromSeq: 3, missingToSeq: 3 }, 'the resend request finds the same')
})

t.test('a resend request for a void seq (refused unrecorded) is not taken for a lost answer', async (t) => {
  const world = await rig(t)
  const { responder, outbox } = world
  responder.policy = () => ({ status: 'rejected', reason: 'unknown_kiosk' })
  t.match(await sell(world), { status: 'rejected', seq: 1 })
  t.equal(outbox.voidedSeq(1), true)
  await waitUntil(() => world.kiosk.chainState().status === 'intact', 'the chain checked again after the refusal')
  await responder.publishRaw(topics.kioskReply(KIOSK), JSON.stringify({ kind: 'resend', fromSeq: 1 }))
  await waitUntil(() => world.kiosk.counters().resendRequests === 1, 'the request handled')
  t.equal(world.kiosk.chainState().problem, undefined, 'no gateway_behind_unrecoverable: nothing answered is missing')
})
