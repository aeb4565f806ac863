// What the audit reports: one finding per thing that does not add up, with a
// stable code (scripts and tests match on it), the object it concerns and a
// message for a person. The codes are the audit's contract: add new ones,
// never rename one.

/** Every finding code, with what it means (README's "Auditing the books" lists them). */
export const AUDIT_FINDING_CODES = {
  signature_invalid:
    "a stored envelope's signature does not verify against the key its kiosk's key history names for its seq (or, where the history cannot tell, the kiosk signed something before it that verifies, or its chain is broken)",
  signature_key_changed:
    "a stored envelope does not verify and the kiosk's key history cannot tell which key was current for its seq (it is older than the history: a database upgraded to key history after the key was replaced), but its chain is intact and nothing the kiosk signed before it verifies either: signed with a key replaced before the history began",
  signature_no_key: 'a kiosk has stored envelopes but no key to check them against',
  envelope_unreadable: 'a stored envelope is not a valid signed transaction',
  envelope_hash_mismatch: "a transaction's stored hash is not the SHA-256 of its stored envelope",
  transaction_differs_from_envelope: "a transaction's columns (id, kiosk, seq, type, wristband, amount) differ from the envelope the kiosk signed",
  chain_gap: "a kiosk's chain misses one or more sequence numbers",
  chain_prev_mismatch: "an envelope's prev is not the hash of the kiosk's previous envelope (genesis for seq 1)",
  chain_cursor_mismatch: "a kiosk's next sequence number or last hash is not what its stored chain ends with",
  booking_unbalanced: "a booking's postings do not sum to zero",
  booking_missing_postings: 'an accepted transaction or an external booking has fewer than two postings',
  rejected_with_postings: 'a rejected transaction has postings',
  posting_orphaned: 'postings name a booking that is neither a kiosk transaction nor an external booking',
  posting_account_missing: 'a posting names an account that does not exist',
  balance_differs_from_postings: "an account's balance is not the sum of its postings",
  balances_do_not_sum_to_zero: 'the balances of all accounts do not sum to zero',
  deposit_negative: "a booth's deposit account is below zero: more deposits paid back than taken",
  deposit_postings_differ_from_lines: "a transaction's postings to deposit accounts differ from its deposit lines",
  debt_missing: 'a customer account is below zero without a debt (only offline sales may take it there)',
  debt_without_offline_sale: 'a debt names a transaction that is not an accepted offline sale of that kiosk',
  debt_exceeds_sale: "a debt's shortfall is larger than the sale that caused it",
  external_amount_differs: "an external booking's recorded amount is not what its postings move",
  external_id_reused: "an external booking's id or receipt is also a kiosk transaction's",
  external_reference_missing:
    'a record that says it was booked (a paid online top-up, a refund part, a payout or its donation, a provider payout, a dispute or its reversal, a users-API payment, a bank statement line) names a booking that does not exist',
  external_reference_duplicate: 'two such records name the same booking: money booked once, claimed twice',
} as const

export type AuditFindingCode = keyof typeof AUDIT_FINDING_CODES

/** What a finding is about: a kiosk transaction, a kiosk, an account, a booking (either kind), an external booking, a debt or a record of another table. */
export interface AuditObject {
  kind:
    | 'transaction'
    | 'kiosk'
    | 'account'
    | 'booking'
    | 'external_booking'
    | 'debt'
    | 'ledger'
    | 'online_topup'
    | 'refund_part'
    | 'payout_item'
    | 'provider_payout'
    | 'dispute'
    | 'users_api_payment'
    | 'bank_transaction'
  id: string
}

export interface AuditFinding {
  code: AuditFindingCode
  object: AuditObject
  message: string
}

export const finding = (code: AuditFindingCode, object: AuditObject, message: string): AuditFinding => ({ code, object, message })
