// The payments provider simulator (tests and the demo use it in place of the provider's API).
export { createProviderSim, type ProviderSim, type ProviderSimControls, type ProviderSimOptions, type RequestLogEntry } from './server.js'
export type { WebhookEvent, WebhookDelivery, WebhookMode } from './webhooks.js'
export type { PayOutcome, ChallengeOutcome } from './payments.js'
export type { FaultOptions } from './faults.js'
export { MISMATCH_SCORE, isValidIban } from './sepa-checks.js'
export type * from './state.js'
