-- Same outcome as the PostgreSQL migration of the same number. Instants are RFC 3339 UTC text
-- of fixed width (opens_at/closes_at to the millisecond, as strftime('%Y-%m-%dT%H:%M:%fZ')
-- prints the database's clock), so text order is time order.

CREATE TABLE elections (
  id TEXT PRIMARY KEY NOT NULL,
  slug TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  description TEXT,
  timezone TEXT NOT NULL,
  opens_at TEXT,
  closes_at TEXT,
  eligibility TEXT NOT NULL CHECK (eligibility IN ('open', 'roll')),
  results TEXT NOT NULL CHECK (results IN ('live', 'after_close', 'after_publish')),
  live_min_ballots INTEGER NOT NULL CHECK (live_min_ballots >= 0),
  state TEXT NOT NULL CHECK (state IN ('draft', 'scheduled', 'open', 'closed', 'published', 'archived')),
  ballot_editable INTEGER NOT NULL DEFAULT 0,
  is_default INTEGER NOT NULL DEFAULT 0,
  published_at TEXT,
  created_at TEXT NOT NULL,
  CHECK (opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at)
);
CREATE UNIQUE INDEX elections_one_default ON elections (is_default) WHERE is_default;

CREATE TABLE contests (
  id TEXT PRIMARY KEY NOT NULL,
  election_id TEXT NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  title TEXT NOT NULL,
  method TEXT NOT NULL,
  seats INTEGER NOT NULL CHECK (seats >= 1),
  min_choices INTEGER NOT NULL CHECK (min_choices >= 0),
  max_choices INTEGER NOT NULL CHECK (max_choices >= min_choices),
  max_score INTEGER,
  UNIQUE (election_id, position)
);

-- SQLite cannot add a NOT NULL column without a default: the service always sets contest_id.
ALTER TABLE candidates ADD COLUMN contest_id TEXT REFERENCES contests(id) ON DELETE CASCADE;
ALTER TABLE candidates ADD COLUMN position INTEGER NOT NULL DEFAULT 0;

INSERT INTO elections (id, slug, title, timezone, eligibility, results, live_min_ballots, state,
                       ballot_editable, is_default, created_at)
  VALUES (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
                || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
          'default', 'Election', 'UTC', 'open', 'live', 0, 'open', 1, 1,
          strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
INSERT INTO contests (id, election_id, position, title, method, seats, min_choices, max_choices)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
               || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         id, 0, 'Ballot', 'plurality', 1, 1, 1
  FROM elections WHERE is_default;
UPDATE candidates SET contest_id = (SELECT c.id FROM contests c JOIN elections e ON e.id = c.election_id WHERE e.is_default);
CREATE INDEX candidates_contest_id_idx ON candidates (contest_id, position);

-- One ballot per voter per election; the table is rebuilt because SQLite cannot change a
-- UNIQUE constraint.
CREATE TABLE votes_new (
  id TEXT PRIMARY KEY NOT NULL,
  election_id TEXT NOT NULL REFERENCES elections(id) ON DELETE RESTRICT,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  candidate_id TEXT REFERENCES candidates(id) ON DELETE RESTRICT,
  selections TEXT,
  created_at TEXT NOT NULL,
  idempotency_key TEXT,
  UNIQUE (election_id, user_id)
);
INSERT INTO votes_new (id, election_id, user_id, candidate_id, created_at, idempotency_key)
  SELECT id, (SELECT id FROM elections WHERE is_default), user_id, candidate_id, created_at, idempotency_key
  FROM votes;
DROP TABLE votes;
ALTER TABLE votes_new RENAME TO votes;
CREATE INDEX votes_candidate_id_idx ON votes (candidate_id);
CREATE INDEX votes_user_id_idx ON votes (user_id);

CREATE TABLE tallies (
  subject_id TEXT NOT NULL,
  shard INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (subject_id, shard)
);
INSERT INTO tallies (subject_id, shard, n)
  SELECT candidate_id, 0, count(*) FROM votes WHERE candidate_id IS NOT NULL GROUP BY candidate_id;
INSERT INTO tallies (subject_id, shard, n)
  SELECT election_id, 0, count(*) FROM votes GROUP BY election_id;
