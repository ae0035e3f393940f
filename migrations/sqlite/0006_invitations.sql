-- Same outcome as the PostgreSQL migration of the same number. SQLite has one writer, so the
-- outbox is claimed inside an IMMEDIATE transaction instead of with SKIP LOCKED.

CREATE TABLE invitations (
  election_id TEXT NOT NULL,
  email TEXT NOT NULL,
  token_hash TEXT UNIQUE,
  issued_at TEXT,
  PRIMARY KEY (election_id, email),
  FOREIGN KEY (election_id, email) REFERENCES roll_entries (election_id, email) ON DELETE CASCADE
);

CREATE TABLE outbox (
  id TEXT PRIMARY KEY NOT NULL,
  election_id TEXT NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('invitation', 'reminder')),
  state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  claimed_until TEXT,
  last_error TEXT,
  sent_at TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE state IN ('queued', 'sending');
CREATE INDEX outbox_entry_idx ON outbox (election_id, email);
