import t from 'tap'
import { createMemoryTerminal } from './memory-terminal.js'

t.test('scripted outcomes, numbered like a real terminal', async (t) => {
  const terminal = createMemoryTerminal()
  terminal.script({ kind: 'approve' }, { kind: 'decline', resultCode: 0x64 }, { kind: 'abort' })
  t.match(await terminal.pay(100), { status: 'approved', traceNumber: '000001', receiptNumber: '0001' })
  t.match(await terminal.pay(100), { status: 'declined', resultCode: 0x64 })
  t.match(await terminal.pay(100), { status: 'aborted', resultCode: 0x6c })
  t.match(await terminal.pay(100), { status: 'approved' }, 'approve when the script is empty')
  t.match(terminal.status().counters, { payments: 4, approved: 2, declined: 1, aborted: 1 })
  await t.rejects(terminal.pay(0), RangeError)
})

t.test('unknown: the kiosk hears unknown, recoverLast tells what the terminal did', async (t) => {
  const terminal = createMemoryTerminal()
  terminal.script({ kind: 'unknown', actually: 'approved' })
  t.equal((await terminal.pay(700)).status, 'unknown')
  t.match(await terminal.recoverLast(), { status: 'approved', amountCents: 700 })
  t.equal(await createMemoryTerminal().recoverLast(), null)
})

t.test('hold: waits for release or abort; one payment at a time; fail rejects', async (t) => {
  const terminal = createMemoryTerminal()
  terminal.script({ kind: 'hold' }, { kind: 'hold' }, { kind: 'fail' })
  const first = terminal.pay(100)
  await t.rejects(terminal.pay(100), /already in progress/)
  terminal.release()
  t.match(await first, { status: 'approved' })
  const second = terminal.pay(100)
  await terminal.abort()
  t.match(await second, { status: 'aborted' })
  await t.rejects(terminal.pay(100), /no payment was started/)
  terminal.connected = false
  await t.rejects(terminal.pay(100), /not connected/)
})

t.test('reverse finds the approved payment by receipt number once; end of day totals the day without reversed payments', async (t) => {
  const terminal = createMemoryTerminal({ firstTrace: 5 })
  const first = await terminal.pay(1000)
  await terminal.pay(250)
  t.match(await terminal.reverse(first.receiptNumber!, 1000), { status: 'reversed', receiptNumber: '0005', amountCents: 1000 })
  t.match(await terminal.reverse(first.receiptNumber!, 1000), { status: 'declined', resultCode: 0xb4 })
  t.match(await terminal.reverse('0999', 5), { status: 'declined', resultCode: 0xb5 })
  terminal.scriptReversals('unknown')
  t.match(await terminal.reverse('0006', 250), { status: 'unknown' })
  t.equal(terminal.reversals.length, 4)
  t.same(await terminal.endOfDay(), { ok: true, totals: { totalCents: 250, count: 1, cardTypes: [{ cardType: 'other', count: 1, amountCents: 250 }], terminalId: '29001234' } })
  terminal.failEndOfDay = 'host unreachable'
  t.same(await terminal.endOfDay(), { ok: false, reason: 'host unreachable' })
})
