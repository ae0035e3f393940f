//! PostgreSQL through tokio-postgres and deadpool, always on the writable host of a multi-host
//! configuration, so a failover needs no configuration change and no restart.

mod board;
mod bulk;
mod elections;
mod outbox;
mod rolls;
mod seal;
mod security;
mod sessions;
mod tls;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use deadpool::Runtime;
use deadpool::managed::{self, Metrics, PoolError, RecycleError, RecycleResult};
use deadpool_postgres::{ClientWrapper, ManagerConfig, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::migrations::{CREATE_MIGRATIONS_TABLE, POSTGRES_MIGRATIONS};
use super::{Credentials, PoolStatus, Store, StoreError, UserProfile};
use crate::config::PostgresConfig;
use crate::domain::{Candidate, CandidateTally, Email, NewCandidate, Tally, User, Vote};
use elections::DEFAULT_CONTEST;

/// Fails on a server in recovery, so a pooled connection to a demoted primary (now a standby) is
/// discarded at checkout instead of being handed to a request.
const RECYCLE_CHECK: &str = "SELECT 1/(NOT pg_is_in_recovery())::int";
/// Connections idle longer than this get [`RECYCLE_CHECK`] at checkout; busier ones only the
/// check that their socket is still open.
const RECHECK_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Upper bound on getting a usable connection; with the query itself this keeps requests that
/// need an unreachable database under the 5 s the API promises.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a ballot waits for a synchronous standby with `DB_REQUIRE_SYNC_STANDBY`.
const SYNC_STANDBY_WAIT: Duration = Duration::from_secs(3);
/// Whether a standby has flushed this primary's WAL up to `$1` (a `pg_lsn` as text): a walsender
/// streaming through a permanent physical replication slot (a standby of the formation, not a
/// base backup or a WAL archiver), whose slot position is the flush position the standby
/// reported. Needs no privilege beyond connecting (unlike `pg_stat_replication.flush_lsn`).
const STANDBY_FLUSHED: &str = "SELECT 1 FROM pg_replication_slots s
     JOIN pg_stat_replication r ON r.pid = s.active_pid
     WHERE s.slot_type = 'physical' AND NOT s.temporary
       AND r.application_name NOT IN ('pg_basebackup', 'pg_receivewal')
       AND s.restart_lsn >= $1::text::pg_lsn";
/// Serialises migrations between instances starting at the same moment ("svmigrat" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7376_6d69_6772_6174;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// deadpool-postgres' manager plus back-off between failed connection attempts, each logged.
struct ReconnectingManager {
    inner: deadpool_postgres::Manager,
    hosts: String,
    backoff: Mutex<Backoff>,
    reconnects: AtomicU64,
}

#[derive(Default)]
struct Backoff {
    consecutive_failures: u32,
    retry_at: Option<Instant>,
}

impl ReconnectingManager {
    fn next_delay(failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(10);
        (BACKOFF_FIRST * factor).min(BACKOFF_MAX)
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.backoff
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl managed::Manager for ReconnectingManager {
    type Type = ClientWrapper;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<ClientWrapper, tokio_postgres::Error> {
        let wait = self
            .backoff()
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now()));
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(wait).await;
        }
        match self.inner.create().await {
            Ok(client) => {
                let failures = std::mem::take(&mut *self.backoff()).consecutive_failures;
                if failures > 0 {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(hosts = %self.hosts, failed_attempts = failures, "reconnected to the PostgreSQL primary");
                }
                Ok(client)
            }
            Err(error) => {
                let mut backoff = self.backoff();
                backoff.consecutive_failures += 1;
                let delay = Self::next_delay(backoff.consecutive_failures);
                backoff.retry_at = Some(Instant::now() + delay);
                tracing::warn!(
                    hosts = %self.hosts,
                    attempt = backoff.consecutive_failures,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %super::error_chain(&error),
                    "cannot connect to a writable PostgreSQL host"
                );
                Err(error)
            }
        }
    }

    async fn recycle(
        &self,
        client: &mut ClientWrapper,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        // A connection handed out within the last RECHECK_IDLE_AFTER has just served a request;
        // asking the server again would cost every vote a second round trip and a query on the
        // primary. PostgreSQL cannot turn a running primary into a standby without a restart,
        // which closes the connection, so a closed socket is what is left to check on a busy
        // connection.
        if metrics.last_used() < RECHECK_IDLE_AFTER {
            return if client.is_closed() {
                Err(RecycleError::message("connection closed"))
            } else {
                Ok(())
            };
        }
        self.inner.recycle(client, metrics).await
    }

    fn detach(&self, client: &mut ClientWrapper) {
        managed::Manager::detach(&self.inner, client);
    }
}

type Pool = managed::Pool<ReconnectingManager>;
type Connection = managed::Object<ReconnectingManager>;

/// How a ballot written now reaches a second machine before it is answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SecondCopy {
    /// By its commit: a synchronous standby confirms it (or `DB_REQUIRE_SYNC_STANDBY` is off).
    ByCommit,
    /// The primary has no synchronous standby yet but a standby streams from it: confirmed by
    /// [`PostgresStore::confirm_second_copy`] after the commit.
    Confirm,
}

pub(crate) struct PostgresStore {
    pool: Pool,
    /// `DB_REQUIRE_SYNC_STANDBY`: ballots wait for a synchronous standby.
    require_sync_standby: bool,
}

impl PostgresStore {
    /// Connects (failing when no writable host answers), then migrates under an advisory lock.
    pub(crate) async fn open(
        config: &PostgresConfig,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        let mut connect = config.connect.clone();
        // Detect a dead or partitioned server on an established connection in seconds, not at
        // the kernel's default of many minutes. The user timeout bounds how long sent data may
        // stay unacknowledged by the server's kernel (a busy or frozen PostgreSQL still
        // acknowledges), so only a lost machine or network trips it; after a network cut a
        // pooled connection to the lost primary fails within 5 s and the pool moves on.
        connect.keepalives_idle(Duration::from_secs(5));
        connect.tcp_user_timeout(Duration::from_secs(5));
        let manager_config = || ManagerConfig {
            recycling_method: RecyclingMethod::Custom(RECYCLE_CHECK.into()),
        };
        let inner = match tls::connector(&config.tls)
            .map_err(|e| StoreError::Internal(anyhow::anyhow!(e)))?
        {
            Some(tls) => deadpool_postgres::Manager::from_config(connect, tls, manager_config()),
            None => deadpool_postgres::Manager::from_config(connect, NoTls, manager_config()),
        };
        let manager = ReconnectingManager {
            inner,
            hosts: config.hosts_display(),
            backoff: Mutex::default(),
            reconnects: AtomicU64::new(0),
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(ACQUIRE_TIMEOUT))
            .create_timeout(Some(ACQUIRE_TIMEOUT))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .build()
            .map_err(|e| StoreError::Internal(e.into()))?;
        let store = Self {
            pool,
            require_sync_standby: config.require_sync_standby,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn connection(&self) -> Result<Connection, StoreError> {
        match tokio::time::timeout(ACQUIRE_TIMEOUT, self.pool.get()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(PoolError::Backend(e))) => Err(StoreError::Unavailable(e.into())),
            Ok(Err(e)) => Err(StoreError::Unavailable(anyhow::anyhow!("{e}"))),
            Err(_) => Err(StoreError::Unavailable(anyhow::anyhow!(
                "no writable PostgreSQL connection within {ACQUIRE_TIMEOUT:?}"
            ))),
        }
    }

    /// With `DB_REQUIRE_SYNC_STANDBY`: returns once a ballot written now will reach a second
    /// machine before it is answered, polling for up to [`SYNC_STANDBY_WAIT`]; then the ballot is
    /// refused as unavailable (503, retried by the client with its key). Either the primary has a
    /// synchronous standby (`synchronous_standby_names` set: the commit itself waits for it), or
    /// — just after a failover, before pg_auto_failover has named one (`wait_primary`) — a
    /// standby already streams from it, and [`Self::confirm_second_copy`] waits for that standby
    /// to have flushed the ballot. The session sees a reloaded setting before its next statement.
    async fn second_copy(&self, conn: &Connection) -> Result<SecondCopy, StoreError> {
        if !self.require_sync_standby {
            return Ok(SecondCopy::ByCommit);
        }
        let deadline = tokio::time::Instant::now() + SYNC_STANDBY_WAIT;
        let check = conn
            .prepare_cached(&format!(
                "SELECT names <> '', names = '' AND EXISTS ({STANDBY_FLUSHED})
                 FROM btrim(current_setting('synchronous_standby_names')) AS names"
            ))
            .await
            .map_err(map_error)?;
        loop {
            let row = conn.query_one(&check, &[&"0/0"]).await.map_err(map_error)?;
            if row.get::<_, bool>(0) {
                return Ok(SecondCopy::ByCommit);
            }
            if row.get::<_, bool>(1) {
                return Ok(SecondCopy::Confirm);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "the primary has no synchronous standby (DB_REQUIRE_SYNC_STANDBY)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// After a ballot was written (or found written) in [`SecondCopy::Confirm`] mode: waits until
    /// a standby has flushed everything this primary had flushed (so that ballot too), polling
    /// for up to [`SYNC_STANDBY_WAIT`]; then the ballot stays unanswered (503). It is committed on
    /// the primary, so the client's retry with its key finds it and is answered once confirmed.
    async fn confirm_second_copy(
        &self,
        conn: &Connection,
        copy: SecondCopy,
    ) -> Result<(), StoreError> {
        if copy == SecondCopy::ByCommit {
            return Ok(());
        }
        let written: String = conn
            .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
            .await
            .map_err(map_error)?
            .get(0);
        let flushed = conn
            .prepare_cached(&format!("SELECT EXISTS ({STANDBY_FLUSHED})"))
            .await
            .map_err(map_error)?;
        let deadline = tokio::time::Instant::now() + SYNC_STANDBY_WAIT;
        loop {
            let row = conn
                .query_one(&flushed, &[&written])
                .await
                .map_err(map_error)?;
            if row.get::<_, bool>(0) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "no standby confirmed the ballot within {SYNC_STANDBY_WAIT:?} \
                     (DB_REQUIRE_SYNC_STANDBY); it is kept and a retry with its key is answered"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(map_error)?;
        let outcome = apply_migrations(&mut conn).await;
        let unlocked = conn
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
            .await;
        outcome?;
        unlocked.map_err(map_error)?;
        Ok(())
    }

    async fn insert_candidates_in_transaction(
        &self,
        candidates: &[NewCandidate],
        only_if_empty: bool,
    ) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        if only_if_empty {
            // Two instances seeding at once must not both see an empty table.
            tx.batch_execute("LOCK TABLE candidates IN SHARE ROW EXCLUSIVE MODE")
                .await
                .map_err(map_error)?;
            let populated: bool = tx
                .query_one(
                    &format!("SELECT EXISTS (SELECT 1 FROM candidates WHERE contest_id = {DEFAULT_CONTEST})"),
                    &[],
                )
                .await
                .map_err(map_error)?
                .get(0);
            if populated {
                return Ok(0);
            }
        }
        let contest = elections::editable_default_contest(&tx).await?;
        let insert = tx
            .prepare(
                "INSERT INTO candidates (contest_id, name, party, description) VALUES ($1, $2, $3, $4)",
            )
            .await
            .map_err(map_error)?;
        for candidate in candidates {
            tx.execute(
                &insert,
                &[
                    &contest,
                    &candidate.name.trim(),
                    &candidate.party,
                    &candidate.description,
                ],
            )
            .await
            .map_err(map_error)?;
        }
        // The demo ballot seeded into a new database is no one's change.
        if !only_if_empty {
            security::write_audit(
                &tx,
                &super::AuditRecord::candidates_import(contest, candidates),
            )
            .await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(candidates.len() as u64)
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let conn = self.connection().await?;
        let statement = conn.prepare_cached(sql).await.map_err(map_error)?;
        conn.query_opt(&statement, params).await.map_err(map_error)
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let conn = self.connection().await?;
        let statement = conn.prepare_cached(sql).await.map_err(map_error)?;
        conn.query(&statement, params).await.map_err(map_error)
    }
}

async fn apply_migrations(conn: &mut Connection) -> Result<(), StoreError> {
    conn.batch_execute(CREATE_MIGRATIONS_TABLE)
        .await
        .map_err(map_error)?;
    let applied: i64 = conn
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await
        .map_err(map_error)?
        .get(0);
    for migration in POSTGRES_MIGRATIONS.iter().filter(|m| m.version > applied) {
        let tx = conn.transaction().await.map_err(map_error)?;
        tx.batch_execute(migration.sql).await.map_err(map_error)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[
                &migration.version,
                &migration.name,
                &Utc::now().to_rfc3339(),
            ],
        )
        .await
        .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied PostgreSQL migration"
        );
    }
    Ok(())
}

/// Connection-level trouble, a standby answering, or a server shutting down is "unavailable"
/// (the client may retry); anything else is an internal error.
fn map_error(error: tokio_postgres::Error) -> StoreError {
    let unavailable = match error.code() {
        None => true,
        Some(code) => {
            *code == SqlState::READ_ONLY_SQL_TRANSACTION
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || code.code().starts_with("08")
        }
    };
    if unavailable {
        StoreError::Unavailable(error.into())
    } else {
        StoreError::Internal(error.into())
    }
}

fn constraint(error: &tokio_postgres::Error) -> Option<(&SqlState, Option<&str>)> {
    error.as_db_error().map(|db| (db.code(), db.constraint()))
}

fn candidate_from_row(row: &Row) -> Candidate {
    Candidate {
        id: row.get(0),
        name: row.get(1),
        party: row.get(2),
        description: row.get(3),
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            reconnects: self.pool.manager().reconnects.load(Ordering::Relaxed),
            ..self.pool.status().into()
        }
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = self
            .query_opt(
                "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations",
                &[],
            )
            .await?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let conn = self.connection().await?;
        conn.simple_query("SELECT 1").await.map_err(map_error)?;
        Ok(())
    }

    async fn create_user(&self, email: &Email, password_hash: &str) -> Result<User, StoreError> {
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(
                "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, now())
                 RETURNING id, email, created_at",
            )
            .await
            .map_err(map_error)?;
        match conn
            .query_one(&statement, &[&email.as_str(), &password_hash])
            .await
        {
            Ok(row) => Ok(User {
                id: row.get(0),
                email: row.get(1),
                created_at: row.get(2),
            }),
            Err(e) if matches!(constraint(&e), Some((code, _)) if *code == SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::EmailTaken)
            }
            Err(e) => Err(map_error(e)),
        }
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let row = self
            .query_opt(
                "SELECT id, password_hash FROM users WHERE lower(email) = $1",
                &[&email.as_str()],
            )
            .await?;
        Ok(row.map(|row| Credentials {
            user_id: row.get(0),
            password_hash: row.get(1),
        }))
    }

    async fn user_profile(&self, user_id: Uuid) -> Result<Option<UserProfile>, StoreError> {
        let row = self
            .query_opt(
                "SELECT u.id, u.email, u.created_at, EXISTS (SELECT 1 FROM participation v
                   WHERE v.user_id = u.id AND v.election_id = (SELECT id FROM elections WHERE is_default))
                 FROM users u WHERE u.id = $1",
                &[&user_id],
            )
            .await?;
        Ok(row.map(|row| UserProfile {
            user: User {
                id: row.get(0),
                email: row.get(1),
                created_at: row.get(2),
            },
            has_voted: row.get(3),
        }))
    }

    async fn candidates(&self) -> Result<Vec<Candidate>, StoreError> {
        let rows = self
            .query(
                &format!(
                    "SELECT id, name, party, description FROM candidates
                     WHERE contest_id = {DEFAULT_CONTEST}"
                ),
                &[],
            )
            .await?;
        let mut candidates: Vec<Candidate> = rows.iter().map(candidate_from_row).collect();
        crate::domain::records::sort_by_name(&mut candidates);
        Ok(candidates)
    }

    async fn candidate(&self, id: Uuid) -> Result<Option<Candidate>, StoreError> {
        let row = self
            .query_opt(
                &format!(
                    "SELECT id, name, party, description FROM candidates
                     WHERE id = $1 AND contest_id = {DEFAULT_CONTEST}"
                ),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(candidate_from_row))
    }

    async fn add_candidates(&self, candidates: &[NewCandidate]) -> Result<u64, StoreError> {
        self.insert_candidates_in_transaction(candidates, false)
            .await
    }

    async fn add_candidates_if_empty(
        &self,
        candidates: &[NewCandidate],
    ) -> Result<u64, StoreError> {
        self.insert_candidates_in_transaction(candidates, true)
            .await
    }

    async fn vote_of(&self, user_id: Uuid) -> Result<Option<Vote>, StoreError> {
        let row = self
            .query_opt(
                "SELECT election_id, voted_at FROM participation
                 WHERE user_id = $1 AND election_id = (SELECT id FROM elections WHERE is_default)",
                &[&user_id],
            )
            .await?;
        Ok(row.map(|row| {
            crate::store::elections::participation_vote(row.get(0), user_id, row.get(1))
        }))
    }

    async fn tally(&self) -> Result<Tally, StoreError> {
        let rows = self
            .query(
                &format!(
                    r#"SELECT c.id, c.name, c.party, COALESCE(SUM(t.n), 0)::bigint AS votes
                       FROM candidates c LEFT JOIN tallies t ON t.subject_id = c.id
                       WHERE c.contest_id = {DEFAULT_CONTEST}
                       GROUP BY c.id
"#
                ),
                &[],
            )
            .await?;
        let results = rows
            .iter()
            .map(|row| CandidateTally {
                candidate_id: row.get(0),
                name: row.get(1),
                party: row.get(2),
                votes: row.get(3),
            })
            .collect();
        Ok(Tally::from_counts(results))
    }

    async fn close(&self) {
        self.pool.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_half_a_second() {
        let delays: Vec<u128> = (1..=6)
            .map(|n| ReconnectingManager::next_delay(n).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500, 500]);
    }
}
