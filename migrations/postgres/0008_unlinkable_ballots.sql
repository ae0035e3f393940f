-- A cast ballot is stored without any reference to its voter. `participation` says who has
-- voted in which election and when (the one-ballot rule, turnout, the roll's "voted"); the
-- ballot box says what was cast, with a random id and no voter and no time. A ballot's two rows
-- are written by one statement; sealing a closed election rewrites its ballots in random order
-- (see src/store/postgres/seal.rs). Same outcome as the SQLite migration of the same number.
--
-- A retried request is recognised by digests of its Idempotency-Key and of key and content,
-- never by the key itself; both are erased when the election is sealed.
CREATE TABLE participation (
  election_id UUID NOT NULL REFERENCES elections(id) ON DELETE RESTRICT,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  voted_at TIMESTAMPTZ NOT NULL,
  key_hash BYTEA,
  request_hash BYTEA,
  PRIMARY KEY (election_id, user_id)
);
CREATE INDEX participation_user_id_idx ON participation (user_id);

CREATE TABLE ballot_box (
  id UUID PRIMARY KEY,
  election_id UUID NOT NULL REFERENCES elections(id) ON DELETE RESTRICT,
  -- The ballot's one choice when it has one contest with one choice (the original API's vote).
  candidate_id UUID REFERENCES candidates(id) ON DELETE RESTRICT,
  selections JSONB,
  weight BIGINT NOT NULL
);
CREATE INDEX ballot_box_election_id_idx ON ballot_box (election_id);
CREATE INDEX ballot_box_candidate_id_idx ON ballot_box (candidate_id);

-- sealed_at: the election's ballots were rewritten in random order after it closed;
-- purged_at: the old row versions were then removed from the tables' files (VACUUM FULL).
ALTER TABLE elections ADD COLUMN sealed_at TIMESTAMPTZ;
ALTER TABLE elections ADD COLUMN purged_at TIMESTAMPTZ;

INSERT INTO participation (election_id, user_id, voted_at)
  SELECT election_id, user_id, created_at FROM votes;
INSERT INTO ballot_box (id, election_id, candidate_id, selections, weight)
  SELECT gen_random_uuid(), election_id, candidate_id, selections, weight FROM votes ORDER BY random();
DROP TABLE votes;
