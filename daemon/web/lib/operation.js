// One operation of the kiosk: a POST that waits for the wristband tap and the
// gateway's answer, while the page shows the "tap wristband" prompt with a
// Cancel button (POST /abort); then the answer or the error. One at a time.
import { ApiError, OPERATION_TIMEOUT_MS, STATE_TIMEOUT_MS, api, asApiError } from './api.js'
import { showError, showNotice } from './dialogs.js'
import { $, btn } from './dom.js'
import { showResult } from './result.js'
import { pollState, render, ui } from './state.js'

/**
 * Runs one operation: shows the prompt, POSTs, shows the outcome or the error.
 * `show` renders a non-Outcome answer itself (balance, login); `done` runs
 * after an Outcome is shown; `failed` after an error; `handleError` may take
 * an error over (true: it did, no error dialog).
 */
export async function runOperation(op) {
  if (ui.working) return
  ui.working = true
  ui.abortRequested = false
  $('tap-prompt').hidden = !op.tap
  $('working').hidden = op.tap
  $('tap-title').textContent = op.title
  $('working').textContent = op.tap ? '' : op.title
  $('busy-detail').textContent = op.detail ?? ''
  $('busy-sub').textContent = op.sub ?? ''
  $('tap-cancel').hidden = !op.tap
  btn('tap-cancel').disabled = false
  $('overlay-busy').hidden = false
  render()
  try {
    const { data } = await api('POST', op.path, op.body, OPERATION_TIMEOUT_MS)
    $('overlay-busy').hidden = true
    if (op.show) op.show(data)
    else {
      showResult(op.kind, data ?? {})
      op.done?.(data ?? {})
    }
  } catch (err) {
    $('overlay-busy').hidden = true
    const e = asApiError(err)
    op.failed?.(e)
    if (e.type === 'aborted' && ui.abortRequested) showNotice('Cancelled. Nothing was booked.')
    else if (!op.handleError?.(e)) showError(e, op.kind)
  } finally {
    ui.working = false
    render()
    void pollState()
  }
}

/**
 * What the card terminal shows the guest (GET /state terminalText) while an
 * operation waits: set as text, never as HTML, since it comes from the terminal.
 */
export function renderTerminalText() {
  const text = typeof ui.state?.terminalText === 'string' ? ui.state.terminalText : ''
  const el = $('terminal-text')
  if (el.textContent !== text) el.textContent = text
  el.hidden = text === '' || $('overlay-busy').hidden
}

async function abortTap() {
  ui.abortRequested = true
  btn('tap-cancel').disabled = true
  $('busy-sub').textContent = 'Cancelling…'
  try {
    await api('POST', '/abort', {}, STATE_TIMEOUT_MS)
  } catch (err) {
    btn('tap-cancel').disabled = false
    $('busy-sub').textContent = `Could not cancel: ${err instanceof ApiError ? err.message : String(err)}`
  }
}

export function initOperation() {
  $('tap-cancel').addEventListener('click', abortTap)
}
