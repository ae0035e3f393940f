-- Voter rolls: who may vote in a `roll` election, with what weight, in which groups.
-- Same outcome as the SQLite migration of the same number.

CREATE TABLE roll_entries (
  election_id UUID NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
  -- Lowercase, as the service stores every email.
  email TEXT NOT NULL,
  name TEXT,
  external_id TEXT,
  -- In nano-units (9 decimal places, exact): 1000000000 is a weight of 1.
  weight BIGINT NOT NULL CHECK (weight > 0),
  -- Labels joined by ';' (a label never holds one), sorted.
  groups TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (election_id, email)
);
CREATE UNIQUE INDEX roll_entries_external_id_key ON roll_entries (election_id, external_id)
  WHERE external_id IS NOT NULL;

-- SHA-256 of the roll's canonical form, fixed when the election is scheduled.
ALTER TABLE elections ADD COLUMN roll_fingerprint TEXT;

-- A ballot carries its voter's weight; counters sum it next to the number of ballots.
ALTER TABLE votes ADD COLUMN weight BIGINT NOT NULL DEFAULT 1000000000;
ALTER TABLE tallies ADD COLUMN weight BIGINT NOT NULL DEFAULT 0;
UPDATE tallies SET weight = n * 1000000000;
