// The tables of refund runs (gateway/payments/refund-runs.ts; gateway/migrations.ts
// applies them as a step). A refund run sends, after the event, the balance of
// every guest who topped up online and registered no payout data back to their
// cards, with four eyes like a payout run: created, approved by a second
// operator, then executed (each item booked as a refund to the card) or
// cancelled. `open` is 1 while the run is created or approved: the wristband
// cannot spend then (the registry reads it, as it reads open payout run items),
// and the partial unique index keeps a wristband in at most one open refund run.
export const REFUND_RUNS_DDL = `
CREATE TABLE IF NOT EXISTS card_refund_runs (
  id INTEGER PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('created', 'approved', 'executed', 'cancelled')),
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  approved_by TEXT,
  approved_at INTEGER,
  executed_by TEXT,
  executed_at INTEGER,
  cancelled_by TEXT,
  cancelled_at INTEGER,
  max_count INTEGER CHECK (max_count IS NULL OR max_count > 0),
  max_sum INTEGER CHECK (max_sum IS NULL OR max_sum > 0),
  item_count INTEGER NOT NULL CHECK (item_count >= 0),
  -- Cents planned when the run was made.
  item_sum INTEGER NOT NULL CHECK (item_sum >= 0)
) STRICT;

CREATE TABLE IF NOT EXISTS card_refund_run_items (
  run_id INTEGER NOT NULL REFERENCES card_refund_runs(id),
  uid TEXT NOT NULL,
  -- Cents planned when the run was made (what a refund to the card would have taken then).
  amount INTEGER NOT NULL CHECK (amount > 0),
  -- At execution: the refund request booked for this item (card_refunds.id) and its cents,
  -- or none with a note saying why (the balance changed, the wristband was blocked, ...).
  refund_id TEXT UNIQUE,
  booked INTEGER CHECK (booked IS NULL OR booked > 0),
  note TEXT,
  executed_at INTEGER,
  open INTEGER NOT NULL DEFAULT 1 CHECK (open IN (0, 1)),
  PRIMARY KEY (run_id, uid),
  CHECK ((refund_id IS NULL) = (booked IS NULL))
) STRICT;

CREATE UNIQUE INDEX IF NOT EXISTS card_refund_run_items_open_uid ON card_refund_run_items(uid) WHERE open = 1;

-- Every operator action on a run: who, when, what.
CREATE TABLE IF NOT EXISTS card_refund_run_events (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES card_refund_runs(id),
  action TEXT NOT NULL CHECK (action IN ('created', 'approved', 'cancelled', 'executed', 'executed_again', 'refused')),
  operator TEXT NOT NULL,
  at INTEGER NOT NULL,
  detail TEXT
) STRICT;
`
