//! Persistence behind one trait, with an embedded SQLite and a PostgreSQL implementation.
//!
//! Invariants live in the database: one vote per user is a UNIQUE constraint, emails are unique
//! in their lowercase form, and a vote cannot reference a missing candidate. The stores map
//! constraint violations to [`StoreError`] variants; handlers never check-then-insert.

pub mod board;
pub mod bulk;
pub mod elections;
mod migrations;
pub mod outbox;
mod postgres;
pub mod rolls;
mod security;
pub mod sessions;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::config::{ConfigError, DatabaseConfig};
use crate::domain::{Candidate, Email, NewCandidate, Tally, User, Vote};
use postgres::PostgresStore;
use sqlite::SqliteStore;

pub use board::{BoardStore, CeremonyKind, CeremonyMessage, Encryption};
pub use bulk::{ImportedUser, UserImport};
pub use elections::{Actor, CastBallot, ElectionCounts, ElectionStore, NewBallot};
pub use migrations::{Migration, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
pub use outbox::{
    ClaimedMail, Delivery, LinkHolder, MailKind, MailOutcome, OutboxStore, Recipients,
};
pub use rolls::{RollStatus, RollStore, RollTurnout};
pub use security::{
    AdminStats, AuditEntry, AuditFilter, AuditRecord, CandidatePatch, HIT_WINDOW_SECS,
    LockoutPolicy, LockoutState, LoginGate, Promotion, Role, SecurityStore,
};
pub use sessions::SessionStore;
pub use sqlite::backup::{BackupError, BackupSummary, backup as backup_sqlite};

/// Four demo candidates, inserted into an empty embedded database so the zero-setup quick start
/// has a ballot.
pub const DEMO_CANDIDATES_JSON: &str = include_str!("../../deploy/candidates.example.json");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("email is already registered")]
    EmailTaken,
    #[error("user has already voted")]
    AlreadyVoted,
    #[error("candidate does not exist")]
    CandidateNotFound,
    #[error("user does not exist")]
    UserNotFound,
    #[error("idempotency key was used for a different vote")]
    IdempotencyKeyReused,
    #[error("candidate has votes")]
    CandidateHasVotes,
    #[error("election does not exist")]
    ElectionNotFound,
    #[error("election is not open")]
    ElectionNotOpen,
    #[error("voter is not eligible in this election")]
    NotEligible,
    #[error("the election's ballot is frozen")]
    ElectionFrozen,
    #[error("slug is already taken")]
    SlugTaken,
    /// The action does not apply to the election's current state; the text says why.
    #[error("{0}")]
    InvalidTransition(String),
    /// A time the request gave does not fit the election's schedule; the text names the field.
    #[error("{0}")]
    InvalidTime(String),
    /// The board changed since the caller read it; read it again and retry.
    #[error("the election's board changed; retry")]
    BoardConflict,
    /// The ballot's tracker is already on the election's board (a replayed or spoiled ballot).
    #[error("this ballot is already on the board")]
    TrackerOnBoard,
    /// The database cannot be reached (or refused to accept writes) right now.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("database error")]
    Internal(#[source] anyhow::Error),
}

/// The user's stored credentials, for login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: Uuid,
    pub password_hash: String,
}

/// A user with whether they have voted, for `GET /api/auth/me`.
#[derive(Debug, Clone)]
pub struct UserProfile {
    pub user: User,
    pub has_voted: bool,
}

/// Connection pool occupancy, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStatus {
    pub size: usize,
    pub available: usize,
    pub max_size: usize,
    /// Successful connections made after a failed attempt, since start-up.
    pub reconnects: u64,
}

impl From<deadpool::Status> for PoolStatus {
    fn from(status: deadpool::Status) -> Self {
        Self {
            size: status.size,
            available: status.available,
            max_size: status.max_size,
            reconnects: 0,
        }
    }
}

#[async_trait]
pub trait Store:
    SecurityStore
    + SessionStore
    + ElectionStore
    + BoardStore
    + RollStore
    + OutboxStore
    + UserImport
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`, for logs and health output.
    fn backend(&self) -> &'static str;
    fn pool_status(&self) -> PoolStatus;
    /// Highest applied migration version.
    async fn schema_version(&self) -> Result<i64, StoreError>;
    /// Cheap round trip proving the database answers (and, for PostgreSQL, accepts writes).
    async fn ping(&self) -> Result<(), StoreError>;
    async fn create_user(&self, email: &Email, password_hash: &str) -> Result<User, StoreError>;
    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;
    async fn user_profile(&self, user_id: Uuid) -> Result<Option<UserProfile>, StoreError>;
    /// All candidates ordered by name.
    async fn candidates(&self) -> Result<Vec<Candidate>, StoreError>;
    async fn candidate(&self, id: Uuid) -> Result<Option<Candidate>, StoreError>;
    /// Inserts candidates in one transaction; returns how many were inserted.
    async fn add_candidates(&self, candidates: &[NewCandidate]) -> Result<u64, StoreError>;
    /// Like [`Store::add_candidates`], but only into an empty candidates table (atomically).
    async fn add_candidates_if_empty(&self, candidates: &[NewCandidate])
    -> Result<u64, StoreError>;
    /// That and when the user voted in the default election (never how: ballots name no voter).
    async fn vote_of(&self, user_id: Uuid) -> Result<Option<Vote>, StoreError>;
    async fn tally(&self) -> Result<Tally, StoreError>;
    /// Closes the pool; in-flight work finishes first.
    async fn close(&self);
}

/// Why a store could not be opened at start-up, as one line naming the setting.
pub fn open_error(database: &DatabaseConfig, cause: &StoreError) -> ConfigError {
    let chain = error_chain(cause);
    match database {
        DatabaseConfig::Sqlite { path } => ConfigError::new(
            "DATA_DIR",
            format!(
                "cannot open the SQLite database {}: {chain}",
                path.display()
            ),
        ),
        DatabaseConfig::Postgres(pg) => ConfigError::new(
            "DATABASE_URL",
            format!("cannot use PostgreSQL at {}: {chain}", pg.hosts_display()),
        ),
    }
}

/// `outer: inner: innermost`, on one line.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ").replace('\n', " ")
}

/// Opens the configured store and brings its schema up to date.
pub async fn open(
    database: &DatabaseConfig,
    pool_size: usize,
) -> Result<Arc<dyn Store>, StoreError> {
    match database {
        DatabaseConfig::Sqlite { path } => Ok(Arc::new(SqliteStore::open(path, pool_size).await?)),
        DatabaseConfig::Postgres(pg) => Ok(Arc::new(PostgresStore::open(pg, pool_size).await?)),
    }
}

/// Parses a candidates import file: a JSON array of `{name, party, description}`.
pub fn parse_candidates(json: &str) -> Result<Vec<NewCandidate>, String> {
    let candidates: Vec<NewCandidate> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    candidates
        .into_iter()
        .enumerate()
        .map(|(index, candidate)| {
            let valid = crate::domain::ValidChoice::parse(
                &candidate.name,
                candidate.party.as_deref(),
                candidate.description.as_deref(),
            )
            .map_err(|e| format!("candidate #{}: {e}", index + 1))?;
            let (name, party, description) = valid.into_parts();
            Ok(NewCandidate {
                name,
                party,
                description,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_candidates_are_the_four_of_the_original_design() {
        let candidates = parse_candidates(DEMO_CANDIDATES_JSON).unwrap();
        let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["John Doe", "Jane Smith", "Alex Johnson", "Chris Lee"]
        );
    }

    #[test]
    fn import_file_errors_are_explained() {
        assert!(parse_candidates("{}").is_err());
        assert!(
            parse_candidates(r#"[{"name":" "}]"#)
                .unwrap_err()
                .contains("#1")
        );
        assert!(parse_candidates(r#"[{"name":"A","colour":"red"}]"#).is_err());
    }
}
