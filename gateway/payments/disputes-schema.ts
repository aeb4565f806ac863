// The tables of disputes (chargebacks) on online top-ups (gateway/payments/disputes.ts;
// gateway/migrations.ts applies them as a step).
//
// One row per provider dispute, written the first time the dispute is seen
// (webhook hint or poll), so a dispute is recorded, booked and blocked at most
// once. Its state:
//   open       matched to one of our paid top-ups: the wristband is blocked and
//              the disputed amount is booked customer -> clearing:{provider}
//              (`booked`, what the balance covered; `debt`, the rest, open)
//   won        the provider reports the dispute won: the booking is reversed
//              (reversal_booking) and, if the dispute blocked it, the wristband
//              is unblocked unless something else still blocks it
//   lost       the provider reports it lost: booking and block stay
//   unmatched  not one of our paid top-ups of this provider, or its payment is not
//              that top-up's payment: nothing booked or blocked; an operator looks
// dispute_polls keeps, per provider, the `created` (provider's Unix seconds) from
// which the next poll lists disputes.
export const DISPUTES_DDL = `
CREATE TABLE IF NOT EXISTS disputes (
  provider TEXT NOT NULL,
  id TEXT NOT NULL,
  payment TEXT NOT NULL,
  order_id TEXT,
  -- The online top-up it disputes (NULL when unmatched).
  topup_id TEXT REFERENCES online_topups(id),
  uid TEXT,
  -- Disputed amount, integer cents, in currency (upper case).
  amount INTEGER NOT NULL CHECK (amount >= 0),
  currency TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'won', 'lost', 'unmatched')),
  -- Why it is unmatched (unknown_order, payment_mismatch, ...).
  unmatched_reason TEXT,
  -- What the provider said last (open, won, lost, or NULL when it gives no status).
  provider_status TEXT,
  reason_code TEXT,
  type TEXT,
  -- Taken off the balance by the booking, cents; and the rest the balance did not cover (an open debt).
  booked INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0),
  debt INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0),
  booking_id TEXT,
  reversal_booking_id TEXT,
  -- 1: this dispute's block holds the wristband (it was not blocked for another reason when it came).
  blocks_wristband INTEGER NOT NULL DEFAULT 0 CHECK (blocks_wristband IN (0, 1)),
  provider_created INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  checked_at INTEGER NOT NULL,
  PRIMARY KEY (provider, id)
) STRICT;
CREATE INDEX IF NOT EXISTS disputes_by_uid ON disputes(uid);
CREATE INDEX IF NOT EXISTS disputes_by_payment ON disputes(provider, payment);
CREATE INDEX IF NOT EXISTS disputes_by_state ON disputes(state, checked_at);

CREATE TABLE IF NOT EXISTS dispute_polls (
  provider TEXT PRIMARY KEY,
  created_since INTEGER NOT NULL CHECK (created_since >= 0),
  polled_at INTEGER NOT NULL
) STRICT;
`
