// The kiosk's touchscreen UI (Chromium in kiosk mode on the Pi, 800x480): it
// talks only to the kiosk daemon's local API on the same origin. GET /state is
// polled every second; each operation is one POST that waits for the wristband
// tap and the gateway's answer, while the page shows the "tap wristband"
// prompt with a Cancel button (POST /abort).
//
// Money is integer cents everywhere in here and in the API; it becomes a
// decimal string ("4.50") only when it is put on the screen. Every text from
// the API goes into the page with textContent, never as HTML.
//
// This module is the page: it chooses the screen, renders the top bar, the
// tabs and every screen from the state, and feeds a keyboard's keys to the
// screen shown. lib/ holds what the screens share (the API, the state and
// what it allows, money, elements and keypads, the operation with its tap
// prompt and answer, the dialogs); screens/ holds one module a screen, each
// `{init(), render(can), keys?(), leave?()}` with its own state.
import { anyOverlayOpen, initDialogs } from './lib/dialogs.js'
import { $ } from './lib/dom.js'
import { initOperation, renderTerminalText } from './lib/operation.js'
import { initResult } from './lib/result.js'
import { allowed, pollState, setPageRenderer, staffRequired, ui } from './lib/state.js'
import { balanceScreen } from './screens/balance.js'
import { cashoutScreen } from './screens/cashout.js'
import { loginScreen } from './screens/login.js'
import { priceDialogKeys, saleScreen } from './screens/sale.js'
import { shiftScreen } from './screens/shift.js'
import { statusBar } from './screens/status.js'
import { tagSwitchScreen } from './screens/tagswitch.js'
import { ticketScreen } from './screens/ticket.js'
import { topupScreen } from './screens/topup.js'

/** The screens by name (a tab's data-screen, or 'login'), in the order they are rendered. */
const SCREENS = {
  sale: saleScreen,
  topup: topupScreen,
  cashout: cashoutScreen,
  ticket: ticketScreen,
  tagswitch: tagSwitchScreen,
  shift: shiftScreen,
  balance: balanceScreen,
  login: loginScreen,
}
/** The tabs in their order on the screen: the first one allowed is shown when the chosen one is not. */
const TABS = ['sale', 'topup', 'cashout', 'ticket', 'tagswitch', 'balance', 'shift']

function renderTabs(can) {
  const visible = {
    sale: can.sale,
    topup: can.topupCash || can.topupCard,
    cashout: can.cashout,
    ticket: can.ticket,
    tagswitch: can.tagSwitch,
    balance: can.balance,
    shift: can.shift,
  }
  for (const tab of document.querySelectorAll('#tabs .tab')) {
    const name = tab.dataset.screen ?? ''
    tab.hidden = !visible[name]
    tab.classList.toggle('active', name === ui.screen)
    tab.setAttribute('aria-current', name === ui.screen ? 'page' : 'false')
  }
  return visible
}

/** Which screen to show: login, loading or the chosen tab (the first allowed one when the chosen is not). */
function chooseScreen(visible) {
  const s = ui.state
  if (!s || !s.config) return 'loading'
  if (staffRequired() && !s.staff) return 'login'
  if (visible[ui.screen]) return ui.screen
  return TABS.find((name) => visible[name]) ?? 'none'
}

/** Shows `name`; the screen left behind may clean up (a guest's balance does not wait on a screen nobody looks at). */
function showScreen(name) {
  if (ui.screen !== name) {
    SCREENS[ui.screen]?.leave?.()
    ui.screen = name
  }
  for (const section of document.querySelectorAll('.screen')) {
    section.hidden = section.id !== `screen-${name}`
  }
  $('tabs').hidden = name === 'login' || name === 'loading'
}

function render() {
  statusBar.render()
  const can = allowed()
  const visible = renderTabs(can)
  showScreen(chooseScreen(visible))
  renderTabs(can)
  if (!ui.state) $('loading-text').textContent = ui.serviceDown ? 'Waiting for the kiosk service…' : 'Starting…'
  else if (!ui.state.config) $('loading-text').textContent = 'Waiting for the configuration from the gateway…'
  for (const screen of Object.values(SCREENS)) screen.render(can)
  renderTerminalText()
}

/** Which keypad the physical keyboard feeds: the price pad when it is open, else the screen's own (none under a dialog). */
function activeKeyHandler() {
  const price = priceDialogKeys()
  if (price) return price
  if (anyOverlayOpen()) return null
  return SCREENS[ui.screen]?.keys?.() ?? null
}

function init() {
  setPageRenderer(render)
  initOperation()
  initResult()
  initDialogs()
  statusBar.init()
  for (const screen of Object.values(SCREENS)) screen.init()

  for (const tab of document.querySelectorAll('#tabs .tab')) {
    tab.addEventListener('click', () => {
      if (ui.working) return
      const next = tab.dataset.screen ?? ''
      if (next !== ui.screen) SCREENS[ui.screen]?.leave?.()
      ui.screen = next
      render()
    })
  }

  // A USB keyboard or a number pad works too: digits into the keypad of the screen.
  document.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement) return
    const handler = activeKeyHandler()
    if (!handler) return
    const key = /^[0-9]$/.test(event.key) ? event.key : event.key === '.' || event.key === ',' ? '.' : event.key === 'Backspace' ? 'back' : event.key === 'Escape' ? 'clear' : ''
    if (key) {
      event.preventDefault()
      handler(key)
    }
  })
  // The touchscreen has no use for the context menu (long press).
  document.addEventListener('contextmenu', (event) => event.preventDefault())

  render()
  void pollState()
}

init()
