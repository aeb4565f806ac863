// The tables of provider payout reconciliation (gateway/payments/reconciliation.ts;
// gateway/migrations.ts applies them as a step).
//
// provider_payouts: one row per provider payout once it is booked (or seen with
//   nothing to book), written in the SQLite transaction of its booking: the row
//   and the booking exist together or not at all, so a payout is booked at most
//   once whatever fails around it (the booking's ref is a second lock).
// provider_payout_items: what each booked payout contained (payments, refunds,
//   lost disputes) with the provider's `created`, so "paid here but in no payout"
//   can be answered across runs.
// reconciliation_reports: the latest report per provider (JSON), replaced only
//   by a run that completed: a run the provider broke leaves the previous one.
export const RECONCILIATION_DDL = `
CREATE TABLE IF NOT EXISTS provider_payouts (
  provider TEXT NOT NULL,
  id TEXT NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL,
  -- The provider's YYYY-MM-DD.
  date TEXT,
  -- Integer cents, as the provider's payout said them.
  payments INTEGER NOT NULL CHECK (payments >= 0),
  refunds INTEGER NOT NULL CHECK (refunds >= 0),
  disputes INTEGER NOT NULL CHECK (disputes >= 0),
  fees INTEGER NOT NULL CHECK (fees >= 0),
  fees_vat INTEGER NOT NULL CHECK (fees_vat >= 0),
  -- payments - refunds - disputes - fees - fees_vat: what reached the bank (negative: taken from it).
  net INTEGER NOT NULL,
  -- The ledger booking (NULL when every amount was 0).
  booking_id TEXT,
  booked_at INTEGER NOT NULL,
  PRIMARY KEY (provider, id)
) STRICT;

CREATE TABLE IF NOT EXISTS provider_payout_items (
  provider TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'dispute')),
  id TEXT NOT NULL,
  payout_id TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount >= 0),
  -- The provider's Unix seconds (NULL when it gave none).
  created INTEGER,
  PRIMARY KEY (provider, kind, id),
  FOREIGN KEY (provider, payout_id) REFERENCES provider_payouts(provider, id)
) STRICT;
CREATE INDEX IF NOT EXISTS provider_payout_items_by_payout ON provider_payout_items(provider, payout_id);

CREATE TABLE IF NOT EXISTS reconciliation_reports (
  provider TEXT PRIMARY KEY,
  report TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
`
