-- End-to-end verifiable ("encrypted") elections, docs/election-record.md. `election_encryption`
-- marks an election as encrypted with its n trustees and threshold t. `ceremony_messages` is the
-- key ceremony's mailbox: trustee public keys (kind 'key', sender = index, recipient = 0),
-- encrypted shares (kind 'share', sender -> recipient) and partial decryptions (kind 'partial',
-- sender = trustee, recipient = 0); one message per (kind, sender, recipient). `board_events` is
-- the election's hash-chained bulletin board: one line per event, numbered from 0 without gaps
-- (the primary key); an append locks the election row first (FOR NO KEY UPDATE), so appends to
-- one board are serialised across instances. A tracker appears at most once on a board (a
-- replayed ballot is refused by the unique index). Same outcome as the SQLite migration of the
-- same number.

CREATE TABLE election_encryption (
  election_id UUID PRIMARY KEY REFERENCES elections(id) ON DELETE CASCADE,
  trustees INTEGER NOT NULL CHECK (trustees BETWEEN 1 AND 1000),
  threshold INTEGER NOT NULL CHECK (threshold BETWEEN 1 AND trustees)
);

CREATE TABLE ceremony_messages (
  election_id UUID NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('key', 'share', 'partial')),
  sender INTEGER NOT NULL,
  recipient INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (election_id, kind, sender, recipient)
);

CREATE TABLE board_events (
  election_id UUID NOT NULL REFERENCES elections(id) ON DELETE RESTRICT,
  seq BIGINT NOT NULL CHECK (seq >= 0),
  kind TEXT NOT NULL,
  pseudonym TEXT,
  tracker TEXT,
  line TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (election_id, seq)
);
CREATE UNIQUE INDEX board_events_tracker_idx ON board_events (election_id, tracker)
  WHERE tracker IS NOT NULL;
CREATE INDEX board_events_pseudonym_idx ON board_events (election_id, pseudonym, seq)
  WHERE pseudonym IS NOT NULL;
