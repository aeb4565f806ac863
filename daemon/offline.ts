// Whether a sale may be accepted while the gateway is unreachable. The guest
// takes the goods without a balance check, so the risk is bounded per
// wristband and per kiosk. The gateway counts both caps over the offline
// sales it booked within the policy's window and refuses a sale beyond them,
// after the guest has left; so the kiosk counts over the same window, and
// more rather than less: its unanswered offline sales (they stay in the
// outbox until answered, so the caps survive a restart) and the offline sales
// the gateway booked whose answer came within the window.
import { DEFAULT_OFFLINE_CAP_WINDOW_MS, type OfflinePolicy } from '../device-protocol/index.js'
import { ok, refusal, type Checked } from './kiosk-error.js'

export interface OfflineExposure {
  /** Offline sales of this wristband at this kiosk within the cap window, cents. */
  tagCents: number
  /** Offline sales of this kiosk within the cap window, cents. */
  kioskCents: number
}

/** The window both caps are counted over: the policy's, or the gateway's default. */
export function offlineCapWindowMs(policy: OfflinePolicy | undefined): number {
  return policy?.capWindowMs ?? DEFAULT_OFFLINE_CAP_WINDOW_MS
}

/**
 * Only sales count and are capped: an offline return gives the guest credit
 * for deposits handed back and creates no debt.
 */
export function checkOfflineSale(policy: OfflinePolicy | undefined, type: 'sale' | 'return', amountCents: number, exposure: OfflineExposure): Checked<true> {
  if (!policy?.allowed) return refusal('gateway_unreachable', 'the gateway is unreachable and this kiosk may not sell offline')
  if (type === 'return') return ok(true)
  if (exposure.tagCents + amountCents > policy.perTagCapCents) {
    return refusal('offline_limit', `offline this wristband may spend at most ${policy.perTagCapCents} cents here ${windowText(policy)} (${exposure.tagCents} already)`)
  }
  if (exposure.kioskCents + amountCents > policy.kioskTotalCapCents) {
    return refusal('offline_limit', `offline this kiosk may accept at most ${policy.kioskTotalCapCents} cents ${windowText(policy)} (${exposure.kioskCents} already)`)
  }
  return ok(true)
}

const windowText = (policy: OfflinePolicy): string => `in ${Math.round(offlineCapWindowMs(policy) / 60_000)} min`
