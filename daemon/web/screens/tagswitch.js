// The tag switch screen: the guest types the portal PIN of the lost wristband
// on the letter keys, then taps the new one; the balance moves over. The PIN
// is never kept on the screen after the attempt.
import { $, btn, button, inputEl } from '../lib/dom.js'
import { runOperation } from '../lib/operation.js'
import { blocked } from '../lib/state.js'

/** The guest PIN alphabet of the portal (A-Z and 2-9 without I, O, 0, 1). */
const PIN_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
const GUEST_PIN = /^[A-HJ-NP-Z2-9]{8,32}$/
const PIN_MAX_LENGTH = 40

const normaliseGuestPin = (text) => text.replace(/[\s-]/g, '').toUpperCase()

function render() {
  const pin = normaliseGuestPin(inputEl('tagswitch-pin').value)
  btn('tagswitch-go').disabled = !GUEST_PIN.test(pin) || blocked()
}

function switchTag() {
  const field = inputEl('tagswitch-pin')
  const pin = normaliseGuestPin(field.value)
  if (!GUEST_PIN.test(pin)) return
  runOperation({
    kind: 'tagswitch',
    path: '/tag-switch',
    body: { pin },
    tap: true,
    title: 'Tap the NEW wristband',
    detail: 'The balance moves from the lost wristband to the new one',
    // The PIN is not kept on the screen, whatever the answer.
    done: () => { field.value = '' },
    failed: () => { field.value = '' },
  })
}

export const tagSwitchScreen = {
  init() {
    const pinInput = inputEl('tagswitch-pin')
    for (const ch of [...PIN_ALPHABET, 'back', 'clear']) {
      const text = ch === 'back' ? '⌫' : ch === 'clear' ? 'Clear' : ch
      $('tagswitch-keys').append(button(`key alpha-key${ch.length > 1 ? ' alpha-action' : ''}`, `pin-key-${ch}`, text, () => {
        if (ch === 'back') pinInput.value = pinInput.value.slice(0, -1)
        else if (ch === 'clear') pinInput.value = ''
        else if (pinInput.value.length < PIN_MAX_LENGTH) pinInput.value += ch
        render()
      }))
    }
    pinInput.addEventListener('input', () => {
      pinInput.value = pinInput.value.toUpperCase()
      render()
    })
    pinInput.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') switchTag()
    })
    $('tagswitch-go').addEventListener('click', switchTag)
  },
  render,
}
