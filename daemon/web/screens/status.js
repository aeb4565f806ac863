// The top bar and the banners above everything: where this kiosk is, the
// gateway, reader, terminal and queue, who is logged in, and the banners for
// offline, a service that does not answer, an outbox behind the gateway (with
// the supervisor's Confirm recovery), a kiosk the gateway does not know and a
// kiosk an operator locked (GET /state `lock`).
import { OPERATION_TIMEOUT_MS, api, asApiError } from '../lib/api.js'
import { showError, showNotice } from '../lib/dialogs.js'
import { $ } from '../lib/dom.js'
import { isOffline, pollState, profile, staffRequired, ui } from '../lib/state.js'

function setChip(id, text, state) {
  const chip = $(id)
  chip.textContent = text
  chip.dataset.state = state
}

/** The banner's words for a kiosk the gateway does not know by its key (GET /state `enrollment`). */
function enrollmentText(kiosk, enrollment) {
  const key = typeof enrollment.publicKey === 'string' ? enrollment.publicKey : '?'
  const what = enrollment.status === 'other_key'
    ? `The gateway has another key for kiosk ${kiosk ?? '?'} than the one it signs with.`
    : `Kiosk ${kiosk ?? '?'} is not enrolled at the gateway.`
  return `${what} Nothing can be sold. An operator must enroll it with a registration code (wristpay-gateway kiosk code ${kiosk ?? 'ID'}, then wristpay-kiosk enroll --gateway URL --code CODE here) or its public key ${key} (see GET /state on the kiosk).`
}

function render() {
  const s = ui.state
  const offline = isOffline()
  $('offline-banner').hidden = !offline || ui.serviceDown
  $('service-banner').hidden = !ui.serviceDown
  // The outbox is behind what the gateway booked: nothing is sold until a supervisor confirms.
  const damage = s?.chain?.status === 'recovery_required' ? s.chain.damage : undefined
  $('chain-banner').hidden = damage === undefined || ui.serviceDown
  if (damage !== undefined) {
    const lost = Number.isInteger(damage.missing) && damage.missing > 0 ? ` ${damage.missing} unsent transaction(s) are lost from it.` : ''
    $('chain-text').textContent = `This kiosk's transaction store is behind what the gateway booked (it would sign no. ${damage.localNextSeq}, the gateway expects no. ${damage.gatewayNextSeq}).${lost} A supervisor must confirm before selling again.`
    $('chain-confirm').disabled = ui.working
  }
  // Not enrolled (or another key enrolled): the gateway would refuse every sale, so the kiosk refuses them first.
  const enrollment = s?.enrollment
  const unenrolled = enrollment?.status === 'not_enrolled' || enrollment?.status === 'other_key'
  $('enroll-banner').hidden = !unenrolled || ui.serviceDown
  if (unenrolled) $('enroll-text').textContent = enrollmentText(s.kiosk, enrollment)
  // Locked by an operator's remote command: every operation is refused until an operator unlocks it.
  const lock = s?.lock
  $('lock-banner').hidden = !lock || ui.serviceDown
  if (lock) $('lock-text').textContent = typeof lock.message === 'string' ? lock.message : 'An operator locked this kiosk. Nothing can be sold until an operator unlocks it.'
  document.body.classList.toggle('is-offline', offline || ui.serviceDown)
  if (offline) {
    const depth = Number.isInteger(s?.outboxDepth) ? s.outboxDepth : 0
    $('offline-text').textContent = `No connection to the gateway. Sales are accepted within the offline limits and sent later${depth > 0 ? ` (${depth} waiting)` : ''}.`
  }
  if (!s) return
  $('booth-name').textContent = s.config?.booth ?? s.kiosk ?? 'wristpay'
  const p = profile()
  $('profile-name').textContent = [s.kiosk, p && p.name !== s.config?.booth ? p.name : ''].filter(Boolean).join(' · ')
  setChip('status-gateway', ui.serviceDown ? 'Kiosk ?' : offline ? 'Offline' : unenrolled ? 'Not enrolled' : lock ? 'Locked' : 'Online', ui.serviceDown || offline || unenrolled || lock ? 'bad' : 'ok')
  const reader = s.reader ?? {}
  setChip('status-reader', reader.connected ? 'Reader ok' : 'No reader', reader.connected ? 'ok' : 'bad')
  $('status-reader').title = String(reader.kind ?? '')
  if (s.terminal) {
    $('status-terminal').hidden = false
    setChip('status-terminal', s.terminal.connected ? (s.terminal.busy ? 'Terminal busy' : 'Terminal ok') : 'No terminal', s.terminal.connected ? 'ok' : 'bad')
  } else {
    $('status-terminal').hidden = true
  }
  const depth = Number.isInteger(s.outboxDepth) ? s.outboxDepth : 0
  setChip('status-outbox', `Queue ${depth}`, depth > 0 ? 'warn' : 'ok')
  const staff = s.staff
  $('staff-name').textContent = staff ? `${staff.name}${Array.isArray(staff.roles) ? ` (${staff.roles.join(', ')})` : ''}` : staffRequired() ? 'Not logged in' : ''
  $('logout').hidden = !staff
  $('logout').disabled = ui.working
}

async function confirmChainRecovery() {
  if (ui.working) return
  try {
    // Waits for the gateway's head: as long as an operation's answer at most.
    const { data } = await api('POST', '/recovery/confirm', {}, OPERATION_TIMEOUT_MS)
    showNotice(`Recovery confirmed: selling again from no. ${data?.nextSeq ?? '?'}`)
  } catch (err) {
    showError(asApiError(err))
  }
  pollState()
}

export const statusBar = {
  init() {
    $('chain-confirm').addEventListener('click', confirmChainRecovery)
  },
  render,
}
