// Whether a sale may be accepted while the gateway is unreachable. The guest
// takes the goods without a balance check, so the risk is bounded per
// wristband and per kiosk; the exposure is what the outbox still holds
// unanswered (entries stay until the gateway answers, so the caps survive a restart).
import type { OfflinePolicy } from '../device-protocol/index.js'
import { ok, refusal, type Checked } from './kiosk-error.js'

export interface OfflineExposure {
  /** Unanswered offline sales of this wristband, cents. */
  tagCents: number
  /** Unanswered offline sales of this kiosk, cents. */
  kioskCents: number
}

/**
 * Only sales count and are capped: an offline return gives the guest credit
 * for deposits handed back and creates no debt.
 */
export function checkOfflineSale(policy: OfflinePolicy | undefined, type: 'sale' | 'return', amountCents: number, exposure: OfflineExposure): Checked<true> {
  if (!policy?.allowed) return refusal('gateway_unreachable', 'the gateway is unreachable and this kiosk may not sell offline')
  if (type === 'return') return ok(true)
  if (exposure.tagCents + amountCents > policy.perTagCapCents) {
    return refusal('offline_limit', `offline this wristband may spend at most ${policy.perTagCapCents} cents (${exposure.tagCents} already)`)
  }
  if (exposure.kioskCents + amountCents > policy.kioskTotalCapCents) {
    return refusal('offline_limit', `offline this kiosk may accept at most ${policy.kioskTotalCapCents} cents until the gateway answers (${exposure.kioskCents} already)`)
  }
  return ok(true)
}
