-- Same outcome as the PostgreSQL migration of the same number.

-- Emails are unique regardless of case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Ballots never vanish: SQLite cannot alter a foreign key, so the table is rebuilt with
-- RESTRICT instead of CASCADE, plus the retry key stored in the vote's own row.
CREATE TABLE votes_new (
  id TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE RESTRICT,
  candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE RESTRICT,
  created_at TEXT NOT NULL,
  idempotency_key TEXT
);
INSERT INTO votes_new (id, user_id, candidate_id, created_at)
  SELECT id, user_id, candidate_id, created_at FROM votes;
DROP TABLE votes;
ALTER TABLE votes_new RENAME TO votes;

CREATE INDEX votes_candidate_id_idx ON votes (candidate_id);
