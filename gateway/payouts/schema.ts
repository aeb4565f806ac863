// The tables of payout runs (gateway/migrations.ts applies them as a step).
// A run is created, approved by a second operator, then exported (the payouts
// booked) or cancelled. Its items are the guests in it with the payout data as
// it was when the run was made: a guest editing the portal later changes no
// run. `open` is 1 while the run is created or approved: the wristband cannot
// spend then (the registry reads it), and the partial unique index keeps a
// wristband in at most one open run.
export const PAYOUT_RUNS_DDL = `
CREATE TABLE IF NOT EXISTS payout_runs (
  id INTEGER PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('created', 'approved', 'exported', 'cancelled')),
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  approved_by TEXT,
  approved_at INTEGER,
  exported_by TEXT,
  exported_at INTEGER,
  cancelled_by TEXT,
  cancelled_at INTEGER,
  max_count INTEGER CHECK (max_count IS NULL OR max_count > 0),
  max_sum INTEGER CHECK (max_sum IS NULL OR max_sum > 0),
  payout_count INTEGER NOT NULL CHECK (payout_count >= 0),
  payout_sum INTEGER NOT NULL CHECK (payout_sum >= 0),
  donation_sum INTEGER NOT NULL CHECK (donation_sum >= 0)
) STRICT;

CREATE TABLE IF NOT EXISTS payout_run_items (
  run_id INTEGER NOT NULL REFERENCES payout_runs(id),
  uid TEXT NOT NULL,
  -- Unique over all runs: a returned transfer names it.
  end_to_end_id TEXT NOT NULL UNIQUE,
  iban TEXT NOT NULL,
  account_name TEXT NOT NULL,
  email TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  donation INTEGER NOT NULL CHECK (donation >= 0),
  donation_booking TEXT,
  payout_booking TEXT,
  payout_receipt TEXT,
  -- The bank sent the transfer back (gateway/bank/ books the money back onto the wristband).
  returned_at INTEGER,
  open INTEGER NOT NULL DEFAULT 1 CHECK (open IN (0, 1)),
  PRIMARY KEY (run_id, uid)
) STRICT;

CREATE UNIQUE INDEX IF NOT EXISTS payout_run_items_open_uid ON payout_run_items(uid) WHERE open = 1;
CREATE INDEX IF NOT EXISTS payout_run_items_by_uid ON payout_run_items(uid);

-- Every operator action on a run: who, when, what.
CREATE TABLE IF NOT EXISTS payout_run_events (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES payout_runs(id),
  action TEXT NOT NULL CHECK (action IN ('created', 'approved', 'cancelled', 'exported', 'exported_again', 'refused', 'returned')),
  operator TEXT NOT NULL,
  at INTEGER NOT NULL,
  detail TEXT
) STRICT;
`
