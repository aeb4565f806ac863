// The balance check: the guest taps and sees the balance, vouchers, flags and
// the recent bookings. A guest's balance is private: it is cleared after a
// minute and whenever the screen is left.
import { $, element } from '../lib/dom.js'
import { clockTime, money, signedMoney } from '../lib/money.js'
import { runOperation } from '../lib/operation.js'
import { blocked } from '../lib/state.js'

const BALANCE_CLEAR_MS = 60_000

const HISTORY_TYPES = {
  sale: 'Purchase', return: 'Deposit back', topup_cash: 'Top-up cash', topup_card: 'Top-up card', cancel: 'Cancelled',
  cashout: 'Cash-out', ticket: 'Ticket', tag_switch: 'Tag switch', online_topup: 'Online top-up', payout: 'Payout',
}

let balanceTimer
function clearBalance() {
  clearTimeout(balanceTimer)
  $('balance-info').hidden = true
  $('balance-amount').textContent = ''
  $('balance-details').textContent = ''
  $('balance-flags').hidden = true
  $('balance-history').replaceChildren()
}

function historyLine(entry) {
  const li = document.createElement('li')
  const what = `${HISTORY_TYPES[entry.type] ?? entry.type}${entry.booth ? ` · ${entry.booth}` : ''}`
  li.append(element('span', 'h-at', clockTime(entry.at)), element('span', 'h-what', what), element('span', `h-amount ${entry.amount < 0 ? 'neg' : 'pos'}`, signedMoney(entry.amount)))
  return li
}

function showBalance(info) {
  clearBalance()
  $('balance-info').hidden = false
  $('balance-amount').textContent = money(info.balance)
  const details = []
  if (Number.isInteger(info.vouchers) && info.vouchers > 0) details.push(`${info.vouchers} voucher${info.vouchers === 1 ? '' : 's'}`)
  if (typeof info.variant === 'string' && info.variant) details.push(`wristband: ${info.variant}`)
  if (typeof info.uid === 'string') details.push(`UID ${info.uid}`)
  $('balance-details').textContent = details.join(' · ')
  const flags = []
  if (info.blocked) flags.push('BLOCKED')
  if (info.debt) flags.push('HAS A DEBT')
  $('balance-flags').textContent = flags.join(' · ')
  $('balance-flags').hidden = flags.length === 0
  const recent = Array.isArray(info.recent) ? info.recent : []
  $('balance-history').replaceChildren(...recent.map(historyLine))
  if (recent.length === 0) $('balance-history').append(element('li', 'hint', 'No bookings yet.'))
  balanceTimer = setTimeout(clearBalance, BALANCE_CLEAR_MS)
}

export const balanceScreen = {
  init() {
    $('balance-check').addEventListener('click', () => {
      runOperation({ kind: 'balance', path: '/balance', body: {}, tap: true, title: 'Tap wristband', detail: 'Balance check', show: showBalance })
    })
    $('balance-clear').addEventListener('click', clearBalance)
  },
  render() {
    $('balance-check').disabled = blocked()
  },
  leave: clearBalance,
}
