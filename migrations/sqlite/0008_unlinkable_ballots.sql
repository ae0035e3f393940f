-- A cast ballot is stored without any reference to its voter. `participation` says who has
-- voted in which election and when (the one-ballot rule, turnout, the roll's "voted"); the
-- ballot box says what was cast, with a random id and no voter and no time. A ballot's two rows
-- are written in one transaction; sealing a closed election rewrites its ballots with new ids
-- (see src/store/sqlite/seal.rs). Same outcome as the PostgreSQL migration of the same number.
--
-- The ballot box is WITHOUT ROWID: its rows are kept in the order of their random ids, so no
-- rowid counts the order ballots arrived in.
--
-- A retried request is recognised by digests of its Idempotency-Key and of key and content,
-- never by the key itself; both are erased when the election is sealed.
CREATE TABLE participation (
  election_id TEXT NOT NULL REFERENCES elections(id) ON DELETE RESTRICT,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  voted_at TEXT NOT NULL,
  key_hash BLOB,
  request_hash BLOB,
  PRIMARY KEY (election_id, user_id)
);
CREATE INDEX participation_user_id_idx ON participation (user_id);

CREATE TABLE ballot_box (
  id TEXT PRIMARY KEY NOT NULL,
  election_id TEXT NOT NULL REFERENCES elections(id) ON DELETE RESTRICT,
  candidate_id TEXT REFERENCES candidates(id) ON DELETE RESTRICT,
  selections TEXT,
  weight INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ballot_box_election_id_idx ON ballot_box (election_id);
CREATE INDEX ballot_box_candidate_id_idx ON ballot_box (candidate_id);

ALTER TABLE elections ADD COLUMN sealed_at TEXT;
ALTER TABLE elections ADD COLUMN purged_at TEXT;

INSERT INTO participation (election_id, user_id, voted_at)
  SELECT election_id, user_id, created_at FROM votes;
INSERT INTO ballot_box (id, election_id, candidate_id, selections, weight)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
               || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         election_id, candidate_id, selections, weight
  FROM votes ORDER BY random();
DROP TABLE votes;
