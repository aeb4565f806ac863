// The answer of an operation that books (an Outcome of the local API): what
// happened, in words that never call money charged, paid or given back that
// did not move, and a new wristband's PIN, shown once.
import { $ } from './dom.js'
import { money, signedMoney } from './money.js'
import { render } from './state.js'
import { reasonText } from './words.js'

/** What an accepted outcome means for the cashier, per operation. */
function acceptedTitle(kind, o) {
  switch (kind) {
    case 'sale': return 'Paid'
    case 'return': return `Returned: ${money(Math.abs(o.amount))} back on the wristband`
    case 'topup': return `Topped up ${money(o.amount)} (cash)`
    case 'topup-card': return `Topped up ${money(o.amount)} (card)`
    case 'cashout': return `PAY OUT ${money(o.amount)} in cash`
    case 'ticket': return `Ticket sold: take ${money(o.amount)} in cash`
    case 'tagswitch': return 'Balance moved to the new wristband'
    case 'cancel': return 'Last sale cancelled'
    case 'shift-open': return 'Shift opened'
    case 'shift-close': return 'Shift closed'
    default: return 'Done'
  }
}

/** The amount line of a refused or unanswered operation: nothing moved (yet). */
function notMovedText(kind, status, amount) {
  const refused = status === 'rejected'
  switch (kind) {
    case 'sale': return refused ? `Nothing charged (total ${money(amount)})` : `Total ${money(amount)} · not charged yet`
    case 'return': return refused ? 'Nothing given back' : 'Not given back yet'
    case 'cancel': return refused ? `Nothing given back (${money(amount)})` : `${money(amount)} not given back yet`
    case 'cashout': return refused ? `Nothing paid out (${money(amount)})` : `${money(amount)}: do not pay out yet`
    case 'shift-open': return `Float ${money(amount)} ${refused ? 'not booked' : 'not booked yet'}`
    case 'shift-close': return `Counted ${money(amount)} ${refused ? 'not booked' : 'not booked yet'}`
    default: return `Amount ${money(amount)} ${refused ? 'not booked' : 'not booked yet'}`
  }
}

export function showResult(kind, o) {
  const status = typeof o.status === 'string' ? o.status : 'unknown'
  const box = $('result')
  box.dataset.status = status
  box.dataset.kind = kind
  let title
  let text = ''
  switch (status) {
    case 'accepted':
      title = acceptedTitle(kind, o)
      break
    case 'offline':
      title = kind === 'sale' || kind === 'return' ? 'ACCEPTED OFFLINE: hand out the goods' : `ACCEPTED OFFLINE: ${acceptedTitle(kind, o)}`
      text = 'Not checked with the gateway: it is booked when the connection is back.'
      break
    case 'pending':
      title = 'NOT CONFIRMED'
      text = kind === 'cashout'
        ? 'No answer from the gateway yet. Do NOT pay out. Check the balance before you try again.'
        : 'No answer from the gateway yet. Do not hand out anything. Check the balance before you try again: it may still be booked.'
      break
    case 'rejected':
      title = kind === 'cashout' ? 'REFUSED: do not pay out' : 'REFUSED'
      text = reasonText(o.reason)
      break
    case 'declined':
      title = 'Card declined'
      text = 'Nothing was charged and nothing was topped up.'
      break
    case 'aborted':
      title = 'Card payment cancelled'
      text = 'Nothing was charged and nothing was topped up.'
      break
    case 'unresolved':
      title = 'CARD PAYMENT UNRESOLVED'
      text = 'The terminal could not tell whether the card was charged. Call a supervisor; do not repeat the payment.'
      break
    default:
      title = `Unknown answer: ${status}`
  }
  if (typeof o.message === 'string' && o.message) text = text ? `${text} ${o.message}` : o.message
  $('result-title').textContent = title

  // The amount line: what moved, and only money that moved is called charged, paid or given back.
  const amountText = (() => {
    if (!Number.isInteger(o.amount) || status === 'declined' || status === 'aborted') return ''
    if (status === 'rejected' || status === 'pending') return notMovedText(kind, status, o.amount)
    if (kind === 'sale' && status === 'offline') return `Total ${money(o.amount)} · charged when the gateway books it`
    if (kind === 'sale' && Number.isInteger(o.charged) && o.charged !== o.amount) return `Total ${money(o.amount)} · charged ${money(o.charged)}`
    if (kind === 'sale') return `Charged ${money(Number.isInteger(o.charged) ? o.charged : o.amount)}`
    if (kind === 'return') return ''
    if (kind === 'shift-close') return `Counted ${money(o.amount)}`
    if (kind === 'shift-open') return `Float ${money(o.amount)}`
    if (kind === 'cancel') return `${money(o.amount)} back on the wristband`
    if (status === 'accepted' && (kind === 'cashout' || kind === 'ticket' || kind.startsWith('topup'))) return ''
    return `Amount ${money(o.amount)}`
  })()
  $('result-amount').textContent = amountText
  $('result-amount').hidden = amountText === ''

  const balance = $('result-balance')
  balance.hidden = !Number.isInteger(o.balance)
  balance.textContent = Number.isInteger(o.balance) ? `${status === 'rejected' ? 'Balance' : 'New balance'} ${money(o.balance)}` : ''

  const vouchers = []
  if (Number.isInteger(o.vouchersUsed) && o.vouchersUsed > 0) vouchers.push(`${o.vouchersUsed} voucher${o.vouchersUsed === 1 ? '' : 's'} used`)
  if (Number.isInteger(o.vouchers) && (o.vouchers > 0 || vouchers.length > 0)) vouchers.push(`${o.vouchers} left`)
  if (o.debt) vouchers.push('the wristband is now in debt')
  $('result-vouchers').textContent = vouchers.join(' · ')
  $('result-vouchers').hidden = vouchers.length === 0

  // A new wristband's PIN: shown here once, gone when the result is closed.
  const pinBox = $('result-pin-box')
  pinBox.hidden = typeof o.pin !== 'string'
  $('result-pin').textContent = typeof o.pin === 'string' ? o.pin.replace(/(.{4})(?=.)/g, '$1 ') : ''

  const shift = Number.isInteger(o.expected) || Number.isInteger(o.difference)
  $('result-shift').hidden = !shift
  $('result-expected').textContent = Number.isInteger(o.expected) ? money(o.expected) : '–'
  $('result-difference').textContent = Number.isInteger(o.difference) ? signedMoney(o.difference) : '–'
  $('result-difference').dataset.state = o.difference === 0 ? 'ok' : 'bad'

  $('result-text').textContent = text
  $('result-text').hidden = text === ''
  const code = [status !== 'accepted' && typeof o.reason === 'string' ? `Reason ${o.reason}` : '', typeof o.id === 'string' ? `Ref ${o.id}` : ''].filter(Boolean).join(' · ')
  $('result-code').textContent = code
  $('overlay-result').hidden = false
  $('result-done').focus()
}

function closeResult() {
  $('overlay-result').hidden = true
  $('result-pin').textContent = ''
  $('result-pin-box').hidden = true
  render()
}

export function initResult() {
  $('result-done').addEventListener('click', closeResult)
}
