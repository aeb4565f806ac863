// The kiosk passes a secure tag's SUN message from the reader into the signed
// transaction untouched, and refuses a garbled one like any garbled tag.
import t, { type Test } from 'tap'
import { verifyEnvelope, type KioskConfig } from '../device-protocol/index.js'
import { startKioskWorld } from './testing/kiosk-world.js'

const KIOSK = 'bar-1'
const SUN = { piccData: 'EF963FF7828658A599F3041510671E88', cmac: '94EED9EE65337086' }
const SECURE_TAG = { uid: '04DE5F1EACC040', type: 'ntag424', sun: SUN }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'bar', version: 1, products: [{ id: 'beer', name: 'Beer', price: 450 }], topupAllowed: true, saleAllowed: true }

async function rig(t: Test) {
  const world = await startKioskWorld(t, { kioskId: KIOSK, config: catalog })
  world.responder.policy = () => ({ status: 'accepted', balance: 0 })
  return world
}

t.test('a tag with a SUN message: the SUN is signed into the transaction as read', async (t) => {
  const { responder, reader, kiosk, publicKey } = await rig(t)
  const [outcome] = await Promise.all([kiosk.sale([{ product: 'beer', qty: 1 }]), reader.tapWhenReady(SECURE_TAG)])
  t.equal(outcome.status, 'accepted')
  const envelope = responder.received[0]!
  t.same(envelope.tx.tag, SECURE_TAG)
  t.ok(verifyEnvelope(envelope, publicKey), 'the signature covers the SUN')
})

t.test('a tag without one gets no sun field', async (t) => {
  const { responder, reader, kiosk } = await rig(t)
  await Promise.all([kiosk.topUp(1_000), reader.tapWhenReady({ uid: '04A1B2C3D4E5F6', type: 'ntag215' })])
  t.same(responder.received[0]!.tx.tag, { uid: '04A1B2C3D4E5F6', type: 'ntag215' })
})

t.test('a garbled SUN message is ignored like a garbled tag; the next good tap is used', async (t) => {
  const { responder, reader, kiosk } = await rig(t)
  const sale = kiosk.sale([{ product: 'beer', qty: 1 }])
  await reader.waitForListener()
  const garbled: unknown[] = [
    { piccData: SUN.piccData.slice(2), cmac: SUN.cmac },
    { piccData: SUN.piccData.toLowerCase(), cmac: SUN.cmac },
    { piccData: SUN.piccData, cmac: SUN.cmac, extra: 'x' },
    { piccData: SUN.piccData },
    'EF963FF7828658A599F3041510671E8894EED9EE65337086',
    null,
  ]
  for (const sun of garbled) reader.tap({ ...SECURE_TAG, sun } as never)
  reader.tap(SECURE_TAG)
  t.match(await sale, { status: 'accepted' })
  t.equal(responder.received.length, 1)
  t.same(responder.received[0]!.tx.tag.sun, SUN)
  t.equal(kiosk.counters().badTags, garbled.length)
})
