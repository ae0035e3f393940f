-- Roles, the append-only audit log, and the counters behind the abuse limits.
-- Same outcome as the SQLite migration of the same number.

-- Admins are made only by `securevote admin create`; no HTTP path writes this column.
ALTER TABLE users ADD COLUMN IF NOT EXISTS role TEXT NOT NULL DEFAULT 'voter';
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('voter', 'admin'));

-- Every admin change, written in the same transaction as the change itself. actor_id is NULL
-- for changes made on the command line. No foreign key: the record must outlive its actor.
CREATE TABLE audit_log (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL DEFAULT now(),
  actor_id UUID,
  action TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id TEXT,
  before JSONB,
  after JSONB
);

-- Append-only, also against mistakes made outside the application: rows can be inserted and
-- read, never changed or removed (a superuser can still drop the trigger; see README).
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Fixed-window request counters shared by every instance: (scope, SHA-256 of the key, window).
CREATE TABLE rate_limit_hits (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  hits INTEGER NOT NULL,
  PRIMARY KEY (scope, key, window_start)
);
CREATE INDEX rate_limit_hits_window_start_idx ON rate_limit_hits (window_start);

-- Failed-login state per account (SHA-256 of the normalised email), for progressive lockout.
-- Times are Unix seconds.
CREATE TABLE login_lockouts (
  account TEXT PRIMARY KEY,
  window_start BIGINT NOT NULL,
  failures INTEGER NOT NULL,
  locked_until BIGINT NOT NULL,
  lockouts INTEGER NOT NULL
);
CREATE INDEX login_lockouts_window_start_idx ON login_lockouts (window_start);
