// Staff login: the cashier taps their own staff wristband, with the staff PIN
// on the keypad when their login needs one; and Log out in the top bar.
import { STATE_TIMEOUT_MS, api, asApiError } from '../lib/api.js'
import { showError, showNotice } from '../lib/dialogs.js'
import { $, makeKeypad } from '../lib/dom.js'
import { runOperation } from '../lib/operation.js'
import { render, ui } from '../lib/state.js'

const STAFF_PIN = /^[0-9]{4,12}$/
const STAFF_PIN_MAX_LENGTH = 12

let staffPin = ''
let pinShown = false

function staffPinKey(key) {
  if (key === 'back') staffPin = staffPin.slice(0, -1)
  else if (key === 'clear') staffPin = ''
  else if (/^[0-9]$/.test(key) && staffPin.length < STAFF_PIN_MAX_LENGTH) staffPin += key
  $('staffpin-display').textContent = '•'.repeat(staffPin.length)
}

function resetLoginPin() {
  staffPin = ''
  $('staffpin-display').textContent = ''
}

function login() {
  const pin = staffPin
  if (pinShown && pin !== '' && !STAFF_PIN.test(pin)) {
    $('login-hint').textContent = 'A staff PIN has 4 to 12 digits.'
    return
  }
  runOperation({
    kind: 'login',
    path: '/staff/login',
    body: pin ? { pin } : {},
    tap: true,
    title: 'Tap YOUR staff wristband',
    detail: 'Log in',
    show: (data) => {
      const staff = data && typeof data === 'object' && 'staff' in data ? data.staff : data
      resetLoginPin()
      $('login-hint').textContent = ''
      if (staff && ui.state) ui.state.staff = staff
      showNotice(staff?.name ? `Logged in: ${staff.name}` : 'Logged in')
    },
    handleError: (err) => {
      if (err.type === 'wrong_staff_pin' && pin === '') {
        // This wristband needs a PIN as well: ask for it, then the tap again.
        pinShown = true
        $('login-hint').textContent = 'This login needs your PIN: type it, press Log in and tap again.'
        render()
        return true
      }
      resetLoginPin()
      return false
    },
  })
}

async function logout() {
  if (ui.working) return
  try {
    await api('POST', '/staff/logout', {}, STATE_TIMEOUT_MS)
    if (ui.state) ui.state.staff = null
    pinShown = false
    resetLoginPin()
    showNotice('Logged out')
  } catch (err) {
    showError(asApiError(err), 'logout')
  }
  render()
}

export const loginScreen = {
  init() {
    makeKeypad($('staffpin-pad'), 'staffpin', { decimal: false }, staffPinKey)
    $('login-start').addEventListener('click', login)
    $('login-with-pin').addEventListener('click', () => {
      pinShown = true
      render()
    })
    $('logout').addEventListener('click', logout)
  },
  render() {
    $('login-start').disabled = ui.working
    $('login-pin').hidden = !pinShown
    $('login-with-pin').hidden = pinShown
  },
  keys: () => (pinShown ? staffPinKey : null),
}
