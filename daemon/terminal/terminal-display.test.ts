import t from 'tap'
import { EventEmitter } from 'node:events'
import type { PaymentTerminal, TerminalStatus } from './terminal.js'
import { createTerminalDisplay } from './terminal-display.js'

function fakeTerminal() {
  const status: TerminalStatus = { kind: 'memory', connected: true, busy: false, counters: {} }
  const terminal = Object.assign(new EventEmitter(), { status: () => ({ ...status }) }) as unknown as PaymentTerminal
  const setBusy = (busy: boolean) => {
    status.busy = busy
    terminal.emit('status', terminal.status())
  }
  return { terminal, setBusy }
}

t.test('the latest text of a payment, forgotten when the payment ends and when the next starts', async (t) => {
  const { terminal, setBusy } = fakeTerminal()
  let changes = 0
  const display = createTerminalDisplay(terminal, () => changes++)
  t.equal(display.text(), null)
  setBusy(true)
  terminal.emit('intermediate', 'insert card')
  terminal.emit('intermediate', 'Bitte PIN eingeben')
  t.equal(display.text(), 'Bitte PIN eingeben')
  terminal.emit('status', terminal.status()) // a status without a change of busy keeps it
  t.equal(display.text(), 'Bitte PIN eingeben')
  setBusy(false)
  t.equal(display.text(), null, 'cleared when the payment ends')
  terminal.emit('intermediate', 'stale')
  setBusy(true)
  t.equal(display.text(), null, 'a new payment starts without the old text')
  t.equal(changes, 5)
  display.close()
  terminal.emit('intermediate', 'after close')
  t.equal(display.text(), null)
})

t.test('untrusted text: control characters removed, bounded, non-strings ignored', async (t) => {
  const { terminal, setBusy } = fakeTerminal()
  const display = createTerminalDisplay(terminal)
  setBusy(true)
  terminal.emit('intermediate', '<b>PIN</b>\u001b[2J\r\n' + 'x'.repeat(500))
  t.ok(display.text()!.startsWith('<b>PIN</b> [2J x'), 'markup stays text (the page renders text), escapes gone')
  t.equal(display.text()!.length, 160)
  terminal.emit('intermediate', { toString: () => 'object' })
  t.ok(display.text()!.startsWith('<b>PIN</b>'), 'not a string: ignored')
  terminal.emit('intermediate', '\u0000\u0007')
  t.equal(display.text(), null, 'nothing left: no text')
})
