-- securevote: one-time setup on the FIRST primary (pg1), as the postgres superuser:
--     sudo -u postgres psql -v ON_ERROR_STOP=1 -v securevote_password=... \
--          -v replicator_password=... -v rewind_password=... -f setup-primary.sql
-- (psql quotes the values itself: :'name' below).
-- Everything here replicates to the standby, so it is done once for the pair.
-- Run it BEFORE the standby exists with synchronous commit relaxed for this session,
-- otherwise each statement waits for a standby that is not there yet:
SET synchronous_commit = local;

-- Streaming replication / pg_basebackup.
CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD :'replicator_password';

-- pg_rewind source connection: no superuser, only the functions it needs
-- (PostgreSQL documentation, pg_rewind "Notes").
CREATE ROLE rewind WITH LOGIN PASSWORD :'rewind_password';
GRANT EXECUTE ON function pg_catalog.pg_ls_dir(text, boolean, boolean) TO rewind;
GRANT EXECUTE ON function pg_catalog.pg_stat_file(text, boolean) TO rewind;
GRANT EXECUTE ON function pg_catalog.pg_read_binary_file(text) TO rewind;
GRANT EXECUTE ON function pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO rewind;

-- The application role and its database (the backends run `securevote migrate`).
CREATE ROLE securevote WITH LOGIN PASSWORD :'securevote_password';
CREATE DATABASE securevote OWNER securevote;
REVOKE ALL ON DATABASE securevote FROM PUBLIC;
-- The seal at an election's close ends with CHECKPOINT and pg_switch_wal(), so the WAL of the
-- voting period is deleted (see the README's ballot secrecy section).
GRANT pg_checkpoint TO securevote;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_switch_wal() TO securevote;

-- One physical slot per standby, named like the standby's application_name.
SELECT pg_create_physical_replication_slot('pg2');
