-- Built-in UUIDs: the uuid-ossp extension is no longer needed.
ALTER TABLE users ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE candidates ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE votes ALTER COLUMN id SET DEFAULT gen_random_uuid();

-- Unambiguous instants. The original stored wall-clock TIMESTAMPs; they are read as UTC.
ALTER TABLE users
  ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC',
  ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE votes
  ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC',
  ALTER COLUMN created_at SET DEFAULT now();

-- Emails are unique regardless of case (the service stores them lowercased; adopted rows may not be).
CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));

-- Ballots never vanish: deleting a candidate or a user that has a vote is refused instead of
-- cascading onto the votes table.
ALTER TABLE votes
  DROP CONSTRAINT IF EXISTS votes_candidate_id_fkey,
  ADD CONSTRAINT votes_candidate_id_fkey FOREIGN KEY (candidate_id) REFERENCES candidates(id) ON DELETE RESTRICT;
ALTER TABLE votes
  DROP CONSTRAINT IF EXISTS votes_user_id_fkey,
  ADD CONSTRAINT votes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE RESTRICT;

-- The client's retry key, stored in the same row (and so the same transaction) as the vote.
ALTER TABLE votes ADD COLUMN IF NOT EXISTS idempotency_key VARCHAR(255);

CREATE INDEX IF NOT EXISTS votes_candidate_id_idx ON votes (candidate_id);
