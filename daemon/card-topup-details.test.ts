// What the terminal's TLV container told reaches the kiosk's records: an
// approval's card details go into the signed topup_card (each only if it
// passes the schema on its own), a refusal's error details (result code FF)
// stay with the kiosk's card payment record.
import t, { type Test } from 'tap'
import type { KioskConfig } from '../device-protocol/index.js'
import { FakeTerminal } from './testing/fake-terminal.js'
import { startKioskWorld } from './testing/kiosk-world.js'

const KIOSK = 'topup-1'
const TAG = { uid: '04A1B2C3D4E5F6', type: 'ntag215' }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'Top-up', version: 1, products: [], topupAllowed: true, saleAllowed: false }

async function rig(t: Test, terminal: FakeTerminal) {
  const world = await startKioskWorld(t, { kioskId: KIOSK, config: catalog, terminal })
  world.responder.policy = () => ({ status: 'accepted', balance: 2_000 })
  return world
}

t.test('an approval signs the card technology, cardholder verification, AID and long trace number into the topup_card; a value that does not pass is left out', async (t) => {
  const terminal = new FakeTerminal()
  terminal.onPay = (amount, term) =>
    term.approve(amount, { cardTechnology: 'contactless', cardholderVerification: 'online_pin\u0007', aid: 'A0000000041010', longReceiptNumber: '000000000042' })
  const { responder, reader, kiosk, records } = await rig(t, terminal)
  const [outcome] = await Promise.all([kiosk.cardTopUp(2_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'accepted', payment: { cardTechnology: 'contactless', aid: 'A0000000041010', longReceiptNumber: '000000000042' } })
  const envelope = responder.received.find((e) => e.tx.type === 'topup_card')!
  t.match(envelope.tx.payment, { cardTechnology: 'contactless', aid: 'A0000000041010', longReceiptNumber: '000000000042' })
  t.notOk('cardholderVerification' in envelope.tx.payment!, 'a control character: not signed')
  t.same(responder.problems, [])
  t.match(records.get(outcome.cardPaymentId)?.payment, { cardTechnology: 'contactless', aid: 'A0000000041010' })
})

t.test("a refusal with result code FF keeps the terminal's error details with the kiosk's record and in the message", async (t) => {
  const terminal = new FakeTerminal()
  terminal.onPay = (amount) => ({ status: 'declined', amountCents: amount, resultCode: 0xff, errorDetail: 'code 0104: HOST OFFLINE', message: '0xFF system error (code 0104: HOST OFFLINE)' })
  const { responder, reader, kiosk, records } = await rig(t, terminal)
  const [outcome] = await Promise.all([kiosk.cardTopUp(2_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'declined', resultCode: 0xff, message: /HOST OFFLINE/ })
  t.match(records.get(outcome.cardPaymentId), { state: 'declined', resultCode: 0xff, note: 'code 0104: HOST OFFLINE' })
  t.same(responder.received.filter((e) => e.tx.type === 'topup_card'), [], 'nothing sent')
})
