-- Same outcome as the PostgreSQL migration of the same number.

-- Admins are made only by `securevote admin create`; no HTTP path writes this column.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'voter' CHECK (role IN ('voter', 'admin'));

-- Every admin change, written in the same transaction as the change itself. actor_id is NULL
-- for changes made on the command line. AUTOINCREMENT: ids are never reused, so they order the
-- log and serve as the pagination cursor.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor_id TEXT,
  action TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id TEXT,
  before TEXT,
  after TEXT
);

-- Append-only, also against mistakes made outside the application.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is not allowed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed');
END;

-- Fixed-window request counters: (scope, SHA-256 of the key, window).
CREATE TABLE rate_limit_hits (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  hits INTEGER NOT NULL,
  PRIMARY KEY (scope, key, window_start)
);
CREATE INDEX rate_limit_hits_window_start_idx ON rate_limit_hits (window_start);

-- Failed-login state per account, for progressive lockout. Times are Unix seconds.
CREATE TABLE login_lockouts (
  account TEXT PRIMARY KEY NOT NULL,
  window_start INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  locked_until INTEGER NOT NULL,
  lockouts INTEGER NOT NULL
);
CREATE INDEX login_lockouts_window_start_idx ON login_lockouts (window_start);
