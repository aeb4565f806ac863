// The small dialogs every screen uses: an error with its code and reference, a
// notice that goes away by itself, and a yes/no question.
import { $ } from './dom.js'
import { render } from './state.js'
import { ERRORS } from './words.js'

const NOTICE_MS = 4000

/** A dialog covers the screen: the tap prompt, an answer, an error, the price pad or a question. */
export function anyOverlayOpen() {
  return ['overlay-busy', 'overlay-result', 'overlay-error', 'overlay-price', 'overlay-confirm'].some((id) => !$(id).hidden)
}

/** An ApiError in plain words; `kind` is the operation it ended (none: not an operation that books). */
export function showError(err, kind) {
  let title = ERRORS[err.type] ?? 'Not done.'
  if (err.type === 'network' || err.type === 'timeout') {
    title = ERRORS[err.type]
    if (kind && kind !== 'balance' && kind !== 'login' && kind !== 'logout') title += ' Check the balance before you repeat: it may have been booked.'
  }
  $('error-title').textContent = title
  $('error-message').textContent = err.message
  $('error-type').textContent = err.type
  $('error-id').textContent = err.id || '–'
  $('error').dataset.type = err.type
  $('overlay-error').hidden = false
  $('error-done').focus()
}

let noticeTimer
export function showNotice(text) {
  clearTimeout(noticeTimer)
  $('notice').textContent = text
  $('notice').hidden = false
  noticeTimer = setTimeout(() => { $('notice').hidden = true }, NOTICE_MS)
}

let onConfirm = /** @type {null | (() => void)} */ (null)
/** Asks `text`; `onYes` runs only after Yes. */
export function confirm(text, onYes) {
  $('confirm-text').textContent = text
  onConfirm = onYes
  $('overlay-confirm').hidden = false
}

export function initDialogs() {
  $('error-done').addEventListener('click', () => {
    $('overlay-error').hidden = true
    render()
  })
  $('confirm-no').addEventListener('click', () => {
    $('overlay-confirm').hidden = true
    onConfirm = null
  })
  $('confirm-yes').addEventListener('click', () => {
    $('overlay-confirm').hidden = true
    const run = onConfirm
    onConfirm = null
    run?.()
  })
}
