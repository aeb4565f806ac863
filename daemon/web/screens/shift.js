// The cash shift screen: open a shift on a register with its float, and close
// it with the counted cash; the answer shows the expected cash and the
// difference.
import { $, btn, button, element, makeKeypad, moneyInput } from '../lib/dom.js'
import { clockTime, money } from '../lib/money.js'
import { runOperation } from '../lib/operation.js'
import { blocked, render, shiftOpen, ui } from '../lib/state.js'

let shiftRegister = ''
let shiftFloat
let shiftCounted

/** The keypad types the float while the shift is closed, the counted cash while it is open. */
const typedAmount = () => (shiftOpen() ? shiftCounted : shiftFloat)

/** A shift answer that is not refused and not left unanswered clears the typed amount. */
const clearUnlessRefused = (input) => (o) => {
  if (o.status !== 'rejected' && o.status !== 'pending') input.set('')
}

function renderRegisters(registers) {
  const container = $('shift-registers')
  const key = JSON.stringify(registers)
  if (container.dataset.key !== key) {
    container.dataset.key = key
    container.replaceChildren(
      ...registers.map((r) => {
        const b = button('btn register', `register-${r.id}`, r.name, () => {
          shiftRegister = r.id
          render()
        })
        b.dataset.register = r.id
        return b
      }),
    )
    if (registers.length === 0) container.append(element('p', 'hint', 'No cash registers in the configuration.'))
  }
  for (const b of container.querySelectorAll('button')) b.classList.toggle('selected', b.dataset.register === shiftRegister)
}

export const shiftScreen = {
  init() {
    shiftFloat = moneyInput('shift-float', render)
    shiftCounted = moneyInput('shift-counted', render)
    makeKeypad($('shift-pad'), 'shift', { decimal: true }, (k) => typedAmount().key(k))
    $('shift-open').addEventListener('click', () => {
      const register = shiftRegister
      const float = shiftFloat.cents()
      runOperation({ kind: 'shift-open', path: '/shift/open', body: { register, float }, tap: true, title: 'Tap your staff wristband', detail: `Open the shift with a float of ${money(float)}`, done: clearUnlessRefused(shiftFloat) })
    })
    $('shift-close').addEventListener('click', () => {
      const counted = shiftCounted.cents()
      runOperation({ kind: 'shift-close', path: '/shift/close', body: { counted }, tap: false, title: 'Closing the shift…', detail: `Counted ${money(counted)}`, done: clearUnlessRefused(shiftCounted) })
    })
  },
  render() {
    const open = shiftOpen()
    $('shift-closed').hidden = open
    $('shift-opened').hidden = !open
    const registers = Array.isArray(ui.state?.registers) ? ui.state.registers : []
    if (!registers.some((r) => r.id === shiftRegister)) shiftRegister = registers.length === 1 ? registers[0].id : ''
    renderRegisters(registers)
    btn('shift-open').disabled = !shiftRegister || shiftFloat.text === '' || blocked()
    btn('shift-close').disabled = shiftCounted.text === '' || blocked()
    const shift = ui.state?.shift
    if (shift) {
      const name = registers.find((r) => r.id === shift.register)?.name ?? shift.register
      const float = shift.float ?? shift.floatCents
      $('shift-info').textContent = `${name}: open since ${clockTime(shift.openedAt)}, float ${money(float)}`
    }
  },
  keys() {
    const input = typedAmount()
    return (k) => input.key(k)
  },
}
