// Closing a shift at a kiosk with a ZVT card terminal runs the terminal's end
// of day and signs its totals into the shift_close; a terminal that fails
// does not hold the close up: the shift_close says the totals are missing and why.
import t, { type Test } from 'tap'
import type { KioskConfig, TillProfile } from '../device-protocol/index.js'
import { validateEnvelope } from '../device-protocol/index.js'
import { terminalTotalsOf } from './kiosk/shifts.js'
import { FakeTerminal } from './testing/fake-terminal.js'
import { startKioskWorld } from './testing/kiosk-world.js'

const KIOSK = 'eod-1'
const CASHIER = { uid: '04C0FFEE000001', type: 'ntag215' }
const PROFILE: TillProfile = { id: 'all', name: 'All', sale: true, topupCash: true, topupCard: true, cashout: true, ticketSale: true, tagSwitch: true, cashRegister: true, cancelWindowMs: 60_000 }
const config: KioskConfig = { kiosk: KIOSK, booth: 'Top-up', version: 1, products: [], topupAllowed: true, saleAllowed: false, profile: PROFILE, registers: [{ id: 'till-1', name: 'Till 1' }] }

/** A scripted terminal that says it is a ZVT one (the kiosk closes the day of ZVT terminals only). */
function zvtTerminal(): FakeTerminal {
  const terminal = new FakeTerminal()
  Object.defineProperty(terminal, 'kind', { value: 'zvt' })
  return terminal
}

async function closedShift(t: Test, terminal: FakeTerminal) {
  const world = await startKioskWorld(t, { kioskId: KIOSK, config, terminal })
  world.responder.policy = () => ({ status: 'accepted' })
  await Promise.all([world.kiosk.openShift('till-1', 5_000), world.reader.tapWhenReady(CASHIER)])
  const [closed] = await Promise.all([world.kiosk.closeShift(5_000), world.reader.tapWhenReady(CASHIER)])
  const envelope = world.responder.received.at(-1)!
  return { closed, envelope }
}

t.test("the ZVT terminal's totals go into the signed shift_close", async (t) => {
  const terminal = zvtTerminal()
  terminal.endOfDayAnswer = { ok: true, totals: { totalCents: 4_500, count: 3, cardTypes: [{ cardType: 'girocard', count: 2, amountCents: 3_500 }, { cardType: 'visa', count: 1, amountCents: 1_000 }], terminalId: '52000123', receiptFrom: '0017', receiptTo: '0019' } }
  const { closed, envelope } = await closedShift(t, terminal)
  t.match(closed, { status: 'accepted' })
  t.same(envelope.tx.terminalTotals, { status: 'ok', terminalId: '52000123', totalCents: 4_500, count: 3, cardTypes: [{ cardType: 'girocard', count: 2, amountCents: 3_500 }, { cardType: 'visa', count: 1, amountCents: 1_000 }] })
  t.ok(validateEnvelope(envelope).ok, 'the envelope passes the schema the gateway checks')
  t.same(envelope.sig.length > 0, true)
})

t.test('a terminal whose end of day fails, or throws, does not block the close: the totals are missing, with the reason', async (t) => {
  const failing = zvtTerminal()
  failing.endOfDayAnswer = { ok: false, reason: 'the terminal aborted the end of day: 0x77 end-of-day batch not possible', resultCode: 0x77 }
  const first = await closedShift(t, failing)
  t.match(first.closed, { status: 'accepted' })
  t.same(first.envelope.tx.terminalTotals, { status: 'missing', reason: 'the terminal aborted the end of day: 0x77 end-of-day batch not possible' })

  const throwing = zvtTerminal()
  throwing.endOfDay = async () => {
    throw new Error('line cut\u0000')
  }
  const second = await closedShift(t, throwing)
  t.same(second.envelope.tx.terminalTotals, { status: 'missing', reason: 'line cut?' })
})

t.test('a kiosk without a ZVT terminal closes its shift as before', async (t) => {
  const { envelope } = await closedShift(t, new FakeTerminal())
  t.equal(envelope.tx.type, 'shift_close')
  t.equal(envelope.tx.terminalTotals, undefined)
})

t.test('totals beyond the bounds are not signed: reported missing', async (t) => {
  t.same(terminalTotalsOf({ ok: true, totals: { totalCents: -1, count: 0, cardTypes: [] } }), { status: 'missing', reason: 'the terminal reported totals beyond what a shift report holds' })
  t.same(terminalTotalsOf({ ok: true, totals: { totalCents: 0, count: 2_000_000, cardTypes: [] } }).status, 'missing')
  t.match(terminalTotalsOf({ ok: true, totals: { totalCents: 1, count: 1, cardTypes: [{ cardType: 'Diners Club!', count: 1, amountCents: 1 }], terminalId: 'bad id with spaces' } }), { status: 'ok', cardTypes: [{ cardType: 'diners_club_' }] })
  t.equal((terminalTotalsOf({ ok: true, totals: { totalCents: 1, count: 1, cardTypes: [], terminalId: 'bad id' } }) as { terminalId?: string }).terminalId, undefined)
})
