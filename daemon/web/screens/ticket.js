// The ticket screen: a new wristband sold with tickets and a first top-up,
// paid in cash; the guest's portal PIN is shown once in the answer.
import { $, btn, button, element, moneyPad } from '../lib/dom.js'
import { money } from '../lib/money.js'
import { runOperation } from '../lib/operation.js'
import { MAX_QTY, blocked, needsShift, productKind, products, render } from '../lib/state.js'

/** Ticket products by id → qty. */
const tickets = /** @type {Map<string, number>} */ (new Map())
/** The signature of the ticket list last rendered (re-render only on change). */
let ticketsKey = ''
let ticketTopup

const ticketProducts = () => products().filter((p) => productKind(p) === 'ticket')

function ticketTile(p) {
  const qty = element('span', 'ticket-qty', '')
  qty.dataset.testid = `ticket-qty-${p.id}`
  const tile = button('tile-add ticket-tile', `ticket-${p.id}`, '', () => {
    tickets.set(p.id, Math.min(MAX_QTY, (tickets.get(p.id) ?? 0) + 1))
    render()
  })
  tile.append(element('span', 'tile-name', p.name), element('span', 'tile-price', money(p.price)), qty)
  return tile
}

function ticketTotal() {
  let total = ticketTopup.cents()
  for (const [id, qty] of tickets) total += qty * (products().find((p) => p.id === id)?.price ?? 0)
  return total
}

function sellTicket() {
  const lines = [...tickets].map(([product, qty]) => ({ product, qty }))
  const topup = ticketTopup.cents()
  runOperation({
    kind: 'ticket',
    path: '/ticket',
    body: { lines, topup },
    tap: true,
    title: 'Tap the NEW wristband',
    detail: `Take ${money(ticketTotal())} in cash`,
    done: (outcome) => {
      if (outcome.status === 'accepted' || outcome.status === 'offline') {
        tickets.clear()
        ticketTopup.set('')
      }
    },
  })
}

export const ticketScreen = {
  init() {
    ticketTopup = moneyPad('ticket', 'ticket-topup', render)
    $('ticket-clear').addEventListener('click', () => {
      tickets.clear()
      ticketTopup.set('')
    })
    $('ticket-sell').addEventListener('click', sellTicket)
  },
  render() {
    const list = ticketProducts()
    const key = JSON.stringify(list)
    if (key !== ticketsKey) {
      ticketsKey = key
      $('ticket-products').replaceChildren(...list.map(ticketTile))
      for (const id of tickets.keys()) if (!list.some((p) => p.id === id)) tickets.delete(id)
    }
    for (const b of document.querySelectorAll('#ticket-products button')) b.disabled = blocked()
    for (const p of list) {
      const qty = tickets.get(p.id) ?? 0
      const badge = document.querySelector(`[data-testid="ticket-qty-${CSS.escape(p.id)}"]`)
      if (badge) badge.textContent = qty > 0 ? `× ${qty}` : ''
    }
    $('ticket-total').textContent = money(ticketTotal())
    btn('ticket-sell').disabled = tickets.size === 0 || blocked() || needsShift()
    $('ticket-hint').textContent = needsShift() ? 'Open the cash shift first.' : ''
  },
  keys: () => (k) => ticketTopup.key(k),
}
