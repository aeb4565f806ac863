// The cash-out screen: the wristband's whole balance paid out in cash, only
// when the gateway accepted it (never offline).
import { $, btn } from '../lib/dom.js'
import { runOperation } from '../lib/operation.js'
import { blocked, isOffline, needsShift } from '../lib/state.js'

export const cashoutScreen = {
  init() {
    $('cashout-go').addEventListener('click', () => {
      runOperation({ kind: 'cashout', path: '/cashout', body: {}, tap: true, title: 'Tap wristband', detail: 'Cash-out of the whole balance', sub: 'Pay out only when the screen says so.' })
    })
  },
  render() {
    btn('cashout-go').disabled = blocked() || needsShift()
    $('cashout-hint').textContent = needsShift() ? 'Open the cash shift first.' : isOffline() ? 'A cash-out needs the connection to the gateway.' : ''
  },
}
