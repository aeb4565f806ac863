// The tables of refunds to the card (gateway/payments/refunds.ts; gateway/migrations.ts
// applies them as a step). A refund request is what a guest or an operator asked
// for; its parts are what is sent to the provider, one per online top-up it is
// taken from (never more than that top-up's amount less what earlier parts took).
//
// A part's state:
//   booked     booked customer -> clearing:{provider} in the transaction that made
//              it; the provider has not been called for it yet
//   sending    the provider is being called (written and committed BEFORE the call):
//              after a crash or a timeout its outcome is unknown and is asked for
//   sent       the provider has the refund (provider_refund_id) and it is pending
//   succeeded  the provider says the money went back to the card
//   refused    the provider refused it: the money is booked back onto the wristband
//              (reversal_booking) and `reason` tells the guest why
// The partial unique index keeps a provider refund linked to at most one part.
export const CARD_REFUNDS_DDL = `
CREATE TABLE IF NOT EXISTS card_refunds (
  id TEXT PRIMARY KEY,
  uid TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  -- 'guest' (the portal) or the name of the operator who asked.
  requested_by TEXT NOT NULL,
  via TEXT NOT NULL CHECK (via IN ('portal', 'operator')),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS card_refunds_by_uid ON card_refunds(uid, created_at);

CREATE TABLE IF NOT EXISTS card_refund_parts (
  id TEXT PRIMARY KEY,
  refund_id TEXT NOT NULL REFERENCES card_refunds(id),
  -- The online top-up (online_topups.id) the money goes back to.
  topup_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  provider_checkout_id TEXT NOT NULL,
  uid TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('booked', 'sending', 'sent', 'succeeded', 'refused')),
  booking_id TEXT NOT NULL,
  provider_refund_id TEXT,
  reversal_booking TEXT,
  reason TEXT,
  -- Calls of the provider's refund for this part (a resend follows only a look that found none).
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  CHECK ((state = 'refused') = (reversal_booking IS NOT NULL)),
  CHECK (state NOT IN ('sent', 'succeeded') OR provider_refund_id IS NOT NULL)
) STRICT;
CREATE INDEX IF NOT EXISTS card_refund_parts_by_refund ON card_refund_parts(refund_id);
CREATE INDEX IF NOT EXISTS card_refund_parts_by_topup ON card_refund_parts(topup_id);
CREATE INDEX IF NOT EXISTS card_refund_parts_open ON card_refund_parts(state, updated_at) WHERE state IN ('booked', 'sending', 'sent');
CREATE UNIQUE INDEX IF NOT EXISTS card_refund_parts_provider_refund ON card_refund_parts(provider, provider_refund_id) WHERE provider_refund_id IS NOT NULL;
`
