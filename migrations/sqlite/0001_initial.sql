-- The original design's tables in SQLite types: UUIDs and RFC 3339 UTC timestamps as TEXT.
CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE candidates (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  party TEXT,
  description TEXT
);

CREATE TABLE votes (
  id TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
  candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL
);
