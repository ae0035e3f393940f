-- Invitations by email: a personal sign-in link per roll entry, sent through an outbox.
-- Same outcome as the SQLite migration of the same number.

-- The current link of each invited voter: only the SHA-256 of its token is kept (the token
-- itself exists only in the message), replaced when a new link is sent.
CREATE TABLE invitations (
  election_id UUID NOT NULL,
  email TEXT NOT NULL,
  token_hash TEXT UNIQUE,
  issued_at TIMESTAMPTZ,
  PRIMARY KEY (election_id, email),
  FOREIGN KEY (election_id, email) REFERENCES roll_entries (election_id, email) ON DELETE CASCADE
);

-- Messages to send, queued in the transaction of the request that asked for them and picked
-- by any instance (FOR UPDATE SKIP LOCKED). `sending` is claimed until `claimed_until`: an
-- instance that dies mid-send leaves it to be picked again after that.
CREATE TABLE outbox (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  election_id UUID NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
  email TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('invitation', 'reminder')),
  state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  claimed_until TIMESTAMPTZ,
  last_error TEXT,
  sent_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE state IN ('queued', 'sending');
CREATE INDEX outbox_entry_idx ON outbox (election_id, email);
