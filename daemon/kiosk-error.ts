// The refusals of the kiosk flow, by name: the cashier screen shows them, the
// local API maps each to an HTTP status, tests assert on them.
import { isStorageFull } from '../device-protocol/storage-fault.js'
export const KIOSK_ERROR_TYPES = [
  'busy',
  'no_config',
  'empty_cart',
  'unknown_product',
  'invalid_quantity',
  'cart_too_large',
  'invalid_amount',
  'sale_not_allowed',
  'topup_not_allowed',
  'outbox_full',
  'reader_unavailable',
  'tap_timeout',
  'stopped',
  'terminal_unavailable',
  'card_payment_unresolved',
  'no_unresolved_card_payment',
  'invalid_reference',
  // Catalog and cart
  'not_returnable',
  'price_required',
  'invalid_price',
  'product_restricted',
  // Wristbands
  'tag_blocked',
  'unknown_tag',
  // Staff
  'not_logged_in',
  'staff_not_allowed',
  'wrong_staff_pin',
  'unknown_staff',
  // Till profile
  'cashout_not_allowed',
  'ticket_not_allowed',
  'tag_switch_not_allowed',
  'cancel_not_allowed',
  'nothing_to_cancel',
  // Cash register
  'no_open_shift',
  'shift_already_open',
  'unknown_register',
  // Gateway
  'gateway_unreachable',
  'offline_limit',
  'nothing_to_pay_out',
  // Tag switch
  'invalid_pin',
  'pin_seal_unavailable',
  // The cashier cancelled the tap wait.
  'aborted',
  // The outbox's chain against the gateway's (chain-guard.ts)
  'chain_recovery_required',
  'no_chain_recovery',
  // The gateway has no key for this kiosk, or another one: enroll it (chain-guard.ts).
  'not_enrolled',
  // An operator locked this kiosk with a remote command (remote-commands.ts): everything is refused until unlocked.
  'locked',
  // The outbox's disk or database cannot take a write (full, I/O error, locked): nothing was stored; the next attempt tries again.
  'storage_failed',
] as const
export type KioskErrorType = (typeof KIOSK_ERROR_TYPES)[number]

/** A refusal the cashier should see; nothing was signed or stored, except for 'outbox_full' after a tap (nothing stored either). */
export class KioskError extends Error {
  override readonly name = 'KioskError'
  constructor(
    readonly type: KioskErrorType,
    message: string,
  ) {
    super(message)
  }
}

/** What the cashier reads when the outbox's disk cannot take a write (storage_failed): nothing was stored or charged. */
export function storageFailedMessage(code: string): string {
  return `${isStorageFull(code) ? 'Storage full' : 'Storage error'}: this till cannot record sales. Call a supervisor. (${code})`
}

/** What the pure checks (cart, staff, offline caps) return instead of throwing. */
export type Refusal = { ok: false; type: KioskErrorType; message: string }
export type Checked<T> = { ok: true; value: T } | Refusal

export const refusal = (type: KioskErrorType, message: string): Refusal => ({ ok: false, type, message })
export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value })
