//! The embedded default: one SQLite file in WAL mode, pooled connections on blocking threads.

pub(crate) mod backup;
mod board;
mod bulk;
mod elections;
mod outbox;
mod rolls;
mod seal;
mod security;
mod sessions;
mod votes;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use deadpool::Runtime;
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_sync::SyncWrapper;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::migrations::{CREATE_MIGRATIONS_TABLE, SQLITE_MIGRATIONS};
use super::{Credentials, PoolStatus, Store, StoreError, UserProfile};
use crate::domain::{Candidate, CandidateTally, Email, NewCandidate, Tally, User, Vote};
use elections::DEFAULT_CONTEST;

/// How long a writer waits for SQLite's single write lock before the request gets a 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(4);
/// Bounded wait for a pooled connection, so requests answer 503 instead of hanging.
const POOL_WAIT: Duration = Duration::from_secs(4);

/// WAL is a property of the database file, set once at open; setting it on every new connection
/// would need a lock and fail with SQLITE_BUSY while a write is in progress. `secure_delete`
/// overwrites deleted content with zeros, so rows a seal replaces do not stay in free pages.
const PER_CONNECTION_PRAGMAS: &str = "
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
    PRAGMA secure_delete = ON;
";

struct SqliteManager {
    path: PathBuf,
}

impl managed::Manager for SqliteManager {
    type Type = SyncWrapper<Connection>;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let path = self.path.clone();
        SyncWrapper::new(Runtime::Tokio1, move || {
            let conn = Connection::open(path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // synchronous=FULL: a confirmed vote survives a power cut, not just a crash.
            conn.execute_batch(PER_CONNECTION_PRAGMAS)?;
            Ok(conn)
        })
        .await
    }

    async fn recycle(&self, conn: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if conn.is_mutex_poisoned() {
            return Err(RecycleError::message(
                "connection mutex poisoned by a panic",
            ));
        }
        Ok(())
    }
}

type Pool = managed::Pool<SqliteManager>;

pub(crate) struct SqliteStore {
    pool: Pool,
    /// Votes go through one writer with group commit (votes.rs), started once migrated.
    votes: votes::VoteWriter,
}

impl SqliteStore {
    /// Opens (creating when absent) the database and migrates it.
    pub(crate) async fn open(path: &Path, pool_size: usize) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_files::create_private_dir_all(dir).map_err(|e| {
                StoreError::Internal(
                    anyhow::Error::new(e).context(format!("creating {}", dir.display())),
                )
            })?;
        }
        crate::private_files::prepare_database_file(path).map_err(|e| {
            StoreError::Internal(
                anyhow::Error::new(e).context(format!("creating {} (mode 0600)", path.display())),
            )
        })?;
        let pool = Pool::builder(SqliteManager {
            path: path.to_owned(),
        })
        .max_size(pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .build()
        .map_err(|e| StoreError::Internal(e.into()))?;
        on_connection(&pool, |conn| {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        })
        .await?;
        migrate(&pool).await?;
        let votes = votes::VoteWriter::start(path)?;
        Ok(Self { pool, votes })
    }

    async fn insert_candidates_in_transaction(
        &self,
        candidates: &[NewCandidate],
        only_if_empty: bool,
    ) -> Result<u64, StoreError> {
        let candidates = candidates.to_vec();
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if only_if_empty
                && tx.query_row(
                    &format!("SELECT EXISTS (SELECT 1 FROM candidates WHERE contest_id = {DEFAULT_CONTEST})"),
                    [],
                    |r| r.get(0),
                )?
            {
                return Ok(Ok(0));
            }
            let contest = match elections::editable_default_contest(&tx)? {
                Ok(contest) => contest,
                Err(refused) => return Ok(Err(refused)),
            };
            let inserted = insert_candidates(&tx, contest, &candidates)?;
            // The demo ballot seeded into a new database is no one's change.
            if !only_if_empty {
                security::write_audit(
                    &tx,
                    &super::AuditRecord::candidates_import(contest, &candidates),
                )?;
            }
            tx.commit()?;
            Ok(Ok(inserted))
        })
        .await
    }

    /// Runs `work` on a pooled connection on a blocking thread.
    async fn with_conn<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        on_connection(&self.pool, work).await
    }

    /// Like [`Self::with_conn`] for bookkeeping whose last moments may be lost in a power cut:
    /// the abuse-limit counters, as on PostgreSQL (where they commit without waiting for the
    /// standby). Committed with `synchronous = NORMAL`: in WAL mode no fsync at commit (the next
    /// FULL commit, e.g. a vote's, syncs the WAL with them); a process crash loses nothing, and
    /// a login's counters cost it no fsync. The connection's FULL is restored before it goes
    /// back to the pool.
    async fn with_conn_relaxed<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.with_conn(move |conn| {
            conn.execute_batch("PRAGMA synchronous = NORMAL")?;
            let outcome = work(conn);
            if let Err(error) = conn.execute_batch("PRAGMA synchronous = FULL") {
                // Never hand a relaxed connection to a vote or a registration: the panic poisons
                // the connection's mutex, and the pool discards it (see `recycle`).
                panic!("cannot restore synchronous = FULL: {error}");
            }
            outcome
        })
        .await
    }

    /// Like [`Self::with_conn`] for work that decides its own domain errors.
    async fn with_conn_outcome<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<Result<T, StoreError>, rusqlite::Error>
            + Send
            + 'static,
    {
        self.with_conn(work).await?
    }
}

/// Runs `work` on a connection of `pool` on a blocking thread.
async fn on_connection<T, F>(pool: &Pool, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
{
    let conn = pool
        .get()
        .await
        .map_err(|e| StoreError::Unavailable(anyhow::anyhow!("{e}")))?;
    conn.interact(work)
        .await
        .map_err(|e| StoreError::Internal(anyhow::anyhow!("{e}")))?
        .map_err(map_error)
}

/// Applies the pending migrations in one transaction.
async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    on_connection(pool, |conn| {
        // IMMEDIATE takes the write lock first, so two processes starting together serialise.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(CREATE_MIGRATIONS_TABLE)?;
        let applied: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        for migration in SQLITE_MIGRATIONS.iter().filter(|m| m.version > applied) {
            tx.execute_batch(migration.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![migration.version, migration.name, timestamp(Utc::now())],
            )?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied SQLite migration"
            );
        }
        tx.commit()
    })
    .await
}

fn map_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(error.into())
        }
        _ => StoreError::Internal(error.into()),
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    // Fixed width, so text order is time order.
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn conversion_error(
    column: usize,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(error))
}

fn uuid_at(row: &Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(column)?;
    Uuid::parse_str(&text).map_err(|e| conversion_error(column, e))
}

fn time_at(row: &Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(column)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| conversion_error(column, e))
}

fn candidate_from_row(row: &Row<'_>) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        id: uuid_at(row, 0)?,
        name: row.get(1)?,
        party: row.get(2)?,
        description: row.get(3)?,
    })
}

fn insert_candidates(
    conn: &Connection,
    contest: Uuid,
    candidates: &[NewCandidate],
) -> rusqlite::Result<u64> {
    let mut insert = conn.prepare(
        "INSERT INTO candidates (id, contest_id, name, party, description) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for candidate in candidates {
        insert.execute(params![
            Uuid::new_v4().to_string(),
            contest.to_string(),
            candidate.name.trim(),
            candidate.party,
            candidate.description
        ])?;
    }
    Ok(candidates.len() as u64)
}

fn exists(conn: &Connection, sql: &str, id: Uuid) -> rusqlite::Result<bool> {
    conn.query_row(sql, [id.to_string()], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn pool_status(&self) -> PoolStatus {
        self.pool.status().into()
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn create_user(&self, email: &Email, password_hash: &str) -> Result<User, StoreError> {
        let user = User {
            id: Uuid::new_v4(),
            email: email.as_str().to_owned(),
            created_at: Utc::now(),
        };
        let row = (
            user.id.to_string(),
            user.email.clone(),
            password_hash.to_owned(),
            timestamp(user.created_at),
        );
        self.with_conn_outcome(move |conn| {
            match conn.execute(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![row.0, row.1, row.2, row.3],
            ) {
                Ok(_) => Ok(Ok(user)),
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    Ok(Err(StoreError::EmailTaken))
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let email = email.as_str().to_owned();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT id, password_hash FROM users WHERE lower(email) = ?1",
                [email],
                |row| {
                    Ok(Credentials {
                        user_id: uuid_at(row, 0)?,
                        password_hash: row.get(1)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn user_profile(&self, user_id: Uuid) -> Result<Option<UserProfile>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT u.id, u.email, u.created_at, EXISTS (SELECT 1 FROM participation v
                   WHERE v.user_id = u.id AND v.election_id = (SELECT id FROM elections WHERE is_default))
                 FROM users u WHERE u.id = ?1",
                [user_id.to_string()],
                |row| {
                    Ok(UserProfile {
                        user: User {
                            id: uuid_at(row, 0)?,
                            email: row.get(1)?,
                            created_at: time_at(row, 2)?,
                        },
                        has_voted: row.get(3)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn candidates(&self) -> Result<Vec<Candidate>, StoreError> {
        self.with_conn(|conn| {
            let mut query = conn.prepare_cached(&format!(
                "SELECT id, name, party, description FROM candidates WHERE contest_id = {DEFAULT_CONTEST}"
            ))?;
            let mut candidates = query
                .query_map([], candidate_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            crate::domain::records::sort_by_name(&mut candidates);
            Ok(candidates)
        })
        .await
    }

    async fn candidate(&self, id: Uuid) -> Result<Option<Candidate>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT id, name, party, description FROM candidates
                     WHERE id = ?1 AND contest_id = {DEFAULT_CONTEST}"
                ),
                [id.to_string()],
                candidate_from_row,
            )
            .optional()
        })
        .await
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
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT election_id, voted_at FROM participation
                 WHERE user_id = ?1 AND election_id = (SELECT id FROM elections WHERE is_default)",
                [user_id.to_string()],
                |row| {
                    Ok(crate::store::elections::participation_vote(
                        uuid_at(row, 0)?,
                        user_id,
                        time_at(row, 1)?,
                    ))
                },
            )
            .optional()
        })
        .await
    }

    async fn tally(&self) -> Result<Tally, StoreError> {
        let results = self
            .with_conn(|conn| {
                let mut query = conn.prepare_cached(&format!(
                    "SELECT c.id, c.name, c.party, COALESCE(SUM(t.n), 0) AS votes
                     FROM candidates c LEFT JOIN tallies t ON t.subject_id = c.id
                     WHERE c.contest_id = {DEFAULT_CONTEST}
                     GROUP BY c.id"
                ))?;
                query
                    .query_map([], |row| {
                        Ok(CandidateTally {
                            candidate_id: uuid_at(row, 0)?,
                            name: row.get(1)?,
                            party: row.get(2)?,
                            votes: row.get(3)?,
                        })
                    })?
                    .collect()
            })
            .await?;
        Ok(Tally::from_counts(results))
    }

    async fn close(&self) {
        self.pool.close();
    }
}
