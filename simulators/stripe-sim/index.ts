// The Stripe API simulator (tests and the demo use it in place of api.stripe.com).
export { startStripeSim, type StripeSim, type StripeSimControl, type StripeSimOptions, type RequestLogEntry, type FaultTarget } from './server.js'
export { signPayload, type WebhookMode, type WebhookDelivery } from './webhooks.js'
export type { CheckoutOutcome } from './checkout.js'
export type { PresentedCard } from './terminal.js'
export type { Refund, RefundFailureReason, RefundStatus } from './state.js'
