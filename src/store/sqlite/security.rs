//! [`SecurityStore`] on SQLite. Every write runs in an IMMEDIATE transaction: SQLite serialises
//! writers, so a check and the write that depends on it are one atomic step.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, candidate_from_row, time_at, timestamp, uuid_at};
use crate::domain::{Candidate, Email, NewCandidate, User};
use crate::store::security::{
    AdminStats, AuditEntry, AuditFilter, AuditRecord, CandidatePatch, LOCKOUT_MEMORY_SECS,
    LockoutPolicy, LockoutState, LoginGate, Promotion, Role, SecurityStore,
};
use crate::store::{HIT_WINDOW_SECS, StoreError};

pub(super) fn write_audit(conn: &Connection, record: &AuditRecord) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor_id, action, target_type, target_id, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            timestamp(Utc::now()),
            record.actor_id.map(|id| id.to_string()),
            record.action,
            record.target_type,
            record.target_id,
            record.before.as_ref().map(|v| v.to_string()),
            record.after.as_ref().map(|v| v.to_string()),
        ],
    )?;
    Ok(())
}

/// The default election's candidate, if the candidate admin routes (`/api/candidates/{id}`)
/// may change it.
fn editable_candidate(
    conn: &Connection,
    id: Uuid,
) -> rusqlite::Result<Result<Candidate, StoreError>> {
    let contest = match super::elections::editable_default_contest(conn)? {
        Ok(contest) => contest,
        Err(refused) => return Ok(Err(refused)),
    };
    let candidate = conn
        .query_row(
            "SELECT id, name, party, description FROM candidates WHERE id = ?1 AND contest_id = ?2",
            [id.to_string(), contest.to_string()],
            candidate_from_row,
        )
        .optional()?;
    Ok(candidate.ok_or(StoreError::CandidateNotFound))
}

fn has_votes(conn: &Connection, id: Uuid) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM ballot_box WHERE candidate_id = ?1)",
        [id.to_string()],
        |row| row.get(0),
    )
}

fn json_at(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(column)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                column,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        })
    })
    .transpose()
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    let actor: Option<String> = row.get(2)?;
    Ok(AuditEntry {
        id: row.get(0)?,
        at: time_at(row, 1)?,
        actor_id: match actor {
            Some(_) => Some(uuid_at(row, 2)?),
            None => None,
        },
        actor_email: row.get(3)?,
        action: row.get(4)?,
        target_type: row.get(5)?,
        target_id: row.get(6)?,
        before: json_at(row, 7)?,
        after: json_at(row, 8)?,
    })
}

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn user_role(&self, user_id: Uuid) -> Result<Option<Role>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT role FROM users WHERE id = ?1",
                [user_id.to_string()],
                |row| Ok(Role::from_column(&row.get::<_, String>(0)?)),
            )
            .optional()
        })
        .await
    }

    async fn promote_to_admin(&self, email: &Email) -> Result<Option<Promotion>, StoreError> {
        let email = email.as_str().to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found = tx
                .query_row(
                    "SELECT id, email, role FROM users WHERE lower(email) = ?1",
                    [&email],
                    |row| {
                        Ok((
                            uuid_at(row, 0)?,
                            row.get::<_, String>(1)?,
                            Role::from_column(&row.get::<_, String>(2)?),
                        ))
                    },
                )
                .optional()?;
            let Some((id, stored_email, role)) = found else {
                return Ok(None);
            };
            if role == Role::Admin {
                return Ok(Some(Promotion::AlreadyAdmin(id)));
            }
            tx.execute(
                "UPDATE users SET role = 'admin' WHERE id = ?1",
                [id.to_string()],
            )?;
            write_audit(
                &tx,
                &AuditRecord::user_role("user.promote", id, &stored_email, Some(role)),
            )?;
            tx.commit()?;
            Ok(Some(Promotion::Promoted(id)))
        })
        .await
    }

    async fn create_admin(&self, email: &Email, password_hash: &str) -> Result<User, StoreError> {
        let user = User {
            id: Uuid::new_v4(),
            email: email.as_str().to_owned(),
            created_at: Utc::now(),
        };
        let hash = password_hash.to_owned();
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match tx.execute(
                "INSERT INTO users (id, email, password_hash, created_at, role)
                 VALUES (?1, ?2, ?3, ?4, 'admin')",
                params![
                    user.id.to_string(),
                    user.email,
                    hash,
                    timestamp(user.created_at)
                ],
            ) {
                Ok(_) => {}
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    return Ok(Err(StoreError::EmailTaken));
                }
                Err(e) => return Err(e),
            }
            write_audit(
                &tx,
                &AuditRecord::user_role("user.create_admin", user.id, &user.email, None),
            )?;
            tx.commit()?;
            Ok(Ok(user))
        })
        .await
    }

    async fn create_candidate(
        &self,
        actor: Uuid,
        candidate: &NewCandidate,
    ) -> Result<Candidate, StoreError> {
        let created = Candidate {
            id: Uuid::new_v4(),
            name: candidate.name.clone(),
            party: candidate.party.clone(),
            description: candidate.description.clone(),
        };
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let contest = match super::elections::editable_default_contest(&tx)? {
                Ok(contest) => contest,
                Err(refused) => return Ok(Err(refused)),
            };
            tx.execute(
                "INSERT INTO candidates (id, contest_id, name, party, description) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    created.id.to_string(),
                    contest.to_string(),
                    created.name,
                    created.party,
                    created.description
                ],
            )?;
            write_audit(
                &tx,
                &AuditRecord::candidate(
                    actor,
                    "candidate.create",
                    created.id,
                    None,
                    Some(&created),
                ),
            )?;
            tx.commit()?;
            Ok(Ok(created))
        })
        .await
    }

    async fn update_candidate(
        &self,
        actor: Uuid,
        id: Uuid,
        patch: &CandidatePatch,
    ) -> Result<Candidate, StoreError> {
        let patch = patch.clone();
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before = match editable_candidate(&tx, id)? {
                Ok(candidate) => candidate,
                Err(refused) => return Ok(Err(refused)),
            };
            // Votes name the candidate by id: changing a voted-for candidate would move those
            // votes to what the voters did not see.
            if has_votes(&tx, id)? {
                return Ok(Err(StoreError::CandidateHasVotes));
            }
            let after = patch.apply(&before);
            tx.execute(
                "UPDATE candidates SET name = ?2, party = ?3, description = ?4 WHERE id = ?1",
                params![id.to_string(), after.name, after.party, after.description],
            )?;
            write_audit(
                &tx,
                &AuditRecord::candidate(actor, "candidate.update", id, Some(&before), Some(&after)),
            )?;
            tx.commit()?;
            Ok(Ok(after))
        })
        .await
    }

    async fn delete_candidate(&self, actor: Uuid, id: Uuid) -> Result<Candidate, StoreError> {
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before = match editable_candidate(&tx, id)? {
                Ok(candidate) => candidate,
                Err(refused) => return Ok(Err(refused)),
            };
            // The write lock is held, so no vote can arrive between this check and the delete;
            // the RESTRICT foreign key would refuse the delete anyway.
            if has_votes(&tx, id)? {
                return Ok(Err(StoreError::CandidateHasVotes));
            }
            match tx.execute("DELETE FROM candidates WHERE id = ?1", [id.to_string()]) {
                Ok(_) => {}
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    return Ok(Err(StoreError::CandidateHasVotes));
                }
                Err(e) => return Err(e),
            }
            write_audit(
                &tx,
                &AuditRecord::candidate(actor, "candidate.delete", id, Some(&before), None),
            )?;
            tx.commit()?;
            Ok(Ok(before))
        })
        .await
    }

    async fn admin_stats(&self) -> Result<AdminStats, StoreError> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM participation
                   WHERE election_id = (SELECT id FROM elections WHERE is_default))",
                [],
                |row| {
                    Ok(AdminStats {
                        registered_users: row.get(0)?,
                        votes_cast: row.get(1)?,
                    })
                },
            )
        })
        .await
    }

    async fn audit_log(
        &self,
        limit: u32,
        before: Option<i64>,
        filter: Option<&AuditFilter>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (action, prefix) = AuditFilter::sql_params(filter);
        self.with_conn(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT a.id, a.at, a.actor_id, u.email, a.action, a.target_type, a.target_id,
                        a.before, a.after
                 FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
                 WHERE (?1 IS NULL OR a.id < ?1)
                   AND (?3 IS NULL OR a.action = ?3)
                   AND (?4 IS NULL OR a.action LIKE ?4 ESCAPE '\\')
                 ORDER BY a.id DESC LIMIT ?2",
            )?;
            query
                .query_map(params![before, limit, action, prefix], audit_from_row)?
                .collect()
        })
        .await
    }

    async fn count_hit(
        &self,
        scope: &str,
        key: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.with_conn_relaxed(move |conn| {
            conn.query_row(
                "INSERT INTO rate_limit_hits (scope, key, window_start, hits) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (scope, key, window_start) DO UPDATE SET hits = hits + 1
                 RETURNING hits",
                params![scope, key, window_start],
                |row| row.get(0),
            )
        })
        .await
    }

    async fn login_attempt(
        &self,
        account: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LoginGate, StoreError> {
        let (account, policy) = (account.to_owned(), *policy);
        self.with_conn_relaxed(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state = tx
                .query_row(
                    "SELECT window_start, failures, locked_until, lockouts
                     FROM login_lockouts WHERE account = ?1",
                    [&account],
                    |row| {
                        Ok(LockoutState {
                            window_start: row.get(0)?,
                            failures: row.get(1)?,
                            locked_until: row.get(2)?,
                            lockouts: row.get(3)?,
                        })
                    },
                )
                .optional()?
                .unwrap_or_default();
            let (next, gate) = state.attempt(now, &policy);
            if next != state {
                tx.execute(
                    "INSERT INTO login_lockouts (account, window_start, failures, locked_until, lockouts)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (account) DO UPDATE SET window_start = ?2, failures = ?3,
                         locked_until = ?4, lockouts = ?5",
                    params![
                        account,
                        next.window_start,
                        next.failures,
                        next.locked_until,
                        next.lockouts
                    ],
                )?;
            }
            tx.commit()?;
            Ok(gate)
        })
        .await
    }

    async fn login_succeeded(&self, account: &str) -> Result<(), StoreError> {
        let account = account.to_owned();
        self.with_conn_relaxed(move |conn| {
            conn.execute("DELETE FROM login_lockouts WHERE account = ?1", [account])?;
            Ok(())
        })
        .await
    }

    async fn sweep_limits(&self, now: i64, policy: &LockoutPolicy) -> Result<u64, StoreError> {
        let policy = *policy;
        self.with_conn_relaxed(move |conn| {
            let hits = conn.execute(
                "DELETE FROM rate_limit_hits WHERE window_start < ?1",
                [now - 2 * HIT_WINDOW_SECS],
            )?;
            let lockouts = conn.execute(
                "DELETE FROM login_lockouts
                 WHERE window_start < ?1 AND locked_until < ?2
                   AND (lockouts = 0 OR locked_until < ?3)",
                params![now - policy.window_secs, now, now - LOCKOUT_MEMORY_SECS],
            )?;
            Ok((hits + lockouts) as u64)
        })
        .await
    }
}
