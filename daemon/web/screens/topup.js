// The top-up screen: an amount on the keypad (or a quick amount), then a cash
// top-up (into the open shift's register) or a card top-up at the terminal.
import { $, btn, button, moneyPad } from '../lib/dom.js'
import { money } from '../lib/money.js'
import { runOperation } from '../lib/operation.js'
import { blocked, needsShift, render, ui } from '../lib/state.js'

const QUICK_TOPUPS = [500, 1000, 2000, 5000]

let topupAmount

function topUp(kind, path, detail, sub, clearsOn) {
  const amount = topupAmount.cents()
  runOperation({
    kind, path, body: { amount }, tap: true, title: 'Tap wristband', detail: `${detail} ${money(amount)}`, sub,
    done: (o) => { if (clearsOn.includes(o.status)) topupAmount.set('') },
  })
}

export const topupScreen = {
  init() {
    topupAmount = moneyPad('topup', 'topup-amount', render)
    for (const cents of QUICK_TOPUPS) {
      $('topup-quick').append(button('btn quick-btn', `topup-quick-${cents}`, money(cents), () => topupAmount.set(money(cents))))
    }
    $('topup-cash').addEventListener('click', () => topUp('topup', '/topup', 'Cash top-up', 'Take the cash first.', ['accepted', 'offline']))
    // The typed amount stays unless the card payment was accepted.
    $('topup-card').addEventListener('click', () => topUp('topup-card', '/topup/card', 'Card top-up', 'Then the guest pays at the card terminal.', ['accepted']))
  },
  render(can) {
    const cents = topupAmount.cents()
    const cash = btn('topup-cash')
    const card = btn('topup-card')
    cash.hidden = !can.topupCash
    card.hidden = !can.topupCard
    cash.disabled = cents <= 0 || blocked() || needsShift()
    card.disabled = cents <= 0 || blocked() || !ui.state?.terminal
    cash.textContent = `Cash ${money(cents)}`
    card.textContent = `Card ${money(cents)}`
    const hints = []
    if (can.topupCash && needsShift()) hints.push('Cash top-up: open the cash shift first.')
    if (can.topupCard && !ui.state?.terminal) hints.push('Card top-up: no card terminal at this kiosk.')
    else if (can.topupCard && ui.state?.terminal && !ui.state.terminal.connected) hints.push('The card terminal is not connected.')
    $('topup-hint').textContent = hints.join(' ')
  },
  keys: () => (k) => topupAmount.key(k),
}
