// Refusals of the ledger's direct API (external bookings, accounts). Callers
// map `code` to their API's error; the message names no secret.

export type LedgerRefusalCode =
  /** The ref was booked before with other content (kind, customer or postings). */
  | 'ref_conflict'
  /** Postings do not sum to 0. */
  | 'unbalanced'
  /** A posting amount is not a non-zero safe integer within MAX_AMOUNT_CENTS, or there are no postings. */
  | 'invalid_amount'
  | 'unknown_account'
  | 'unknown_tag'
  | 'tag_blocked'
  /** Money would leave a wristband in an open payout run other than by the run's own donation and payout bookings. */
  | 'in_payout_run'
  /** A customer or prepaid account would go below 0. */
  | 'insufficient_balance'
  /** Malformed input other than amounts: ref, kind, meta, an account twice, a customer account that is not customerUid's. */
  | 'invalid_booking'
  /** ensureAccount with an unknown kind or a malformed ref. */
  | 'invalid_account'

export class LedgerRefusalError extends Error {
  override name = 'LedgerRefusalError'
  constructor(
    readonly code: LedgerRefusalCode,
    message: string,
    /** For insufficient_balance: the account and its balance now. */
    readonly details: { account?: string; balance?: number } = {},
  ) {
    super(message)
  }
}
