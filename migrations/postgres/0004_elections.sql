-- Elections with contests, a lifecycle and a results policy. The candidates and votes of the
-- single implicit election become the default election's one contest and its ballots.
-- Same outcome as the SQLite migration of the same number.

CREATE TABLE elections (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  slug TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  description TEXT,
  timezone TEXT NOT NULL,
  opens_at TIMESTAMPTZ,
  closes_at TIMESTAMPTZ,
  eligibility TEXT NOT NULL CHECK (eligibility IN ('open', 'roll')),
  results TEXT NOT NULL CHECK (results IN ('live', 'after_close', 'after_publish')),
  live_min_ballots INTEGER NOT NULL CHECK (live_min_ballots >= 0),
  -- The stored state; `open` and `closed` also follow from opens_at/closes_at by the database's
  -- clock (see the effective state in the store's queries).
  state TEXT NOT NULL CHECK (state IN ('draft', 'scheduled', 'open', 'closed', 'published', 'archived')),
  ballot_editable BOOLEAN NOT NULL DEFAULT false,
  is_default BOOLEAN NOT NULL DEFAULT false,
  published_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at)
);
-- At most one default election: the one /api/options, /api/votes and /api/results mean.
CREATE UNIQUE INDEX elections_one_default ON elections (is_default) WHERE is_default;

CREATE TABLE contests (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  election_id UUID NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  title TEXT NOT NULL,
  method TEXT NOT NULL,
  seats INTEGER NOT NULL CHECK (seats >= 1),
  min_choices INTEGER NOT NULL CHECK (min_choices >= 0),
  max_choices INTEGER NOT NULL CHECK (max_choices >= min_choices),
  max_score INTEGER,
  UNIQUE (election_id, position)
);

-- The candidates table holds every contest's choices.
ALTER TABLE candidates ADD COLUMN contest_id UUID REFERENCES contests(id) ON DELETE CASCADE;
ALTER TABLE candidates ADD COLUMN position INTEGER NOT NULL DEFAULT 0;

INSERT INTO elections (slug, title, timezone, eligibility, results, live_min_ballots, state,
                       ballot_editable, is_default)
  VALUES ('default', 'Election', 'UTC', 'open', 'live', 0, 'open', true, true);
INSERT INTO contests (election_id, position, title, method, seats, min_choices, max_choices)
  SELECT id, 0, 'Ballot', 'plurality', 1, 1, 1 FROM elections WHERE is_default;
UPDATE candidates SET contest_id = (SELECT c.id FROM contests c JOIN elections e ON e.id = c.election_id WHERE e.is_default);
ALTER TABLE candidates ALTER COLUMN contest_id SET NOT NULL;
CREATE INDEX candidates_contest_id_idx ON candidates (contest_id, position);

-- The votes table holds every election's ballots: one per voter per election. `selections`
-- is the checked ballot (contest id -> choices, ranking or scores); candidate_id is its one
-- choice when the ballot has one contest with one choice (the original API's vote).
ALTER TABLE votes ADD COLUMN election_id UUID REFERENCES elections(id) ON DELETE RESTRICT;
UPDATE votes SET election_id = (SELECT id FROM elections WHERE is_default);
ALTER TABLE votes ALTER COLUMN election_id SET NOT NULL;
ALTER TABLE votes ALTER COLUMN candidate_id DROP NOT NULL;
ALTER TABLE votes ADD COLUMN selections JSONB;
ALTER TABLE votes DROP CONSTRAINT IF EXISTS votes_user_id_key;
ALTER TABLE votes ADD CONSTRAINT votes_election_id_user_id_key UNIQUE (election_id, user_id);
CREATE INDEX votes_user_id_idx ON votes (user_id);

-- Counts kept with every ballot, in the ballot's own statement, so results cost the same at any
-- number of ballots: per choice (plurality and approval contests) and per election (ballots
-- cast). Spread over shards so concurrent ballots rarely wait for each other's row lock;
-- a count is the sum over its shards.
CREATE TABLE tallies (
  subject_id UUID NOT NULL,
  shard SMALLINT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (subject_id, shard)
);
INSERT INTO tallies (subject_id, shard, n)
  SELECT candidate_id, 0, count(*) FROM votes WHERE candidate_id IS NOT NULL GROUP BY candidate_id;
INSERT INTO tallies (subject_id, shard, n)
  SELECT election_id, 0, count(*) FROM votes GROUP BY election_id;
