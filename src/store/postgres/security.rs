//! [`SecurityStore`] on PostgreSQL.
//!
//! Admin changes and their audit records commit together and, like votes, wait for the
//! synchronous standby. The abuse counters do not: they are written with
//! `synchronous_commit = off` (in their own transactions only), so logins keep working while the
//! standby is away and do not pay a replication round trip. The price is that a failover may
//! forget the last moments of counts, which only resets a few limits.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::{PostgresStore, candidate_from_row, constraint, map_error};
use crate::domain::{Candidate, Email, NewCandidate, User};
use crate::store::security::{
    AdminStats, AuditEntry, AuditFilter, AuditRecord, CandidatePatch, LOCKOUT_MEMORY_SECS,
    LockoutPolicy, LockoutState, LoginGate, Promotion, Role, SecurityStore,
};
use crate::store::{HIT_WINDOW_SECS, StoreError};

/// Transaction-local: the pooled connection keeps the default (synchronous) for votes.
const ASYNC_COMMIT: &str = "SET LOCAL synchronous_commit = off";

pub(super) async fn write_audit(
    tx: &Transaction<'_>,
    record: &AuditRecord,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO audit_log (actor_id, action, target_type, target_id, before, after)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(map_error)?;
    tx.execute(
        &statement,
        &[
            &record.actor_id,
            &record.action,
            &record.target_type,
            &record.target_id,
            &record.before,
            &record.after,
        ],
    )
    .await
    .map_err(map_error)?;
    Ok(())
}

/// The candidate, locked until the end of the transaction.
async fn candidate_for_update(
    tx: &Transaction<'_>,
    id: Uuid,
) -> Result<Option<Candidate>, StoreError> {
    let contest = super::elections::editable_default_contest(tx).await?;
    let row = tx
        .query_opt(
            "SELECT id, name, party, description FROM candidates
             WHERE id = $1 AND contest_id = $2 FOR UPDATE",
            &[&id, &contest],
        )
        .await
        .map_err(map_error)?;
    Ok(row.as_ref().map(candidate_from_row))
}

#[async_trait]
impl SecurityStore for PostgresStore {
    async fn user_role(&self, user_id: Uuid) -> Result<Option<Role>, StoreError> {
        let row = self
            .query_opt("SELECT role FROM users WHERE id = $1", &[&user_id])
            .await?;
        Ok(row.map(|row| Role::from_column(row.get(0))))
    }

    async fn promote_to_admin(&self, email: &Email) -> Result<Option<Promotion>, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let row = tx
            .query_opt(
                "SELECT id, email, role FROM users WHERE lower(email) = $1 FOR UPDATE",
                &[&email.as_str()],
            )
            .await
            .map_err(map_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (id, stored_email, role): (Uuid, String, Role) =
            (row.get(0), row.get(1), Role::from_column(row.get(2)));
        if role == Role::Admin {
            return Ok(Some(Promotion::AlreadyAdmin(id)));
        }
        tx.execute("UPDATE users SET role = 'admin' WHERE id = $1", &[&id])
            .await
            .map_err(map_error)?;
        write_audit(
            &tx,
            &AuditRecord::user_role("user.promote", id, &stored_email, Some(role)),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(Some(Promotion::Promoted(id)))
    }

    async fn create_admin(&self, email: &Email, password_hash: &str) -> Result<User, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let row = match tx
            .query_one(
                "INSERT INTO users (email, password_hash, created_at, role)
                 VALUES ($1, $2, now(), 'admin') RETURNING id, email, created_at",
                &[&email.as_str(), &password_hash],
            )
            .await
        {
            Ok(row) => row,
            Err(e) if matches!(constraint(&e), Some((code, _)) if *code == SqlState::UNIQUE_VIOLATION) =>
            {
                return Err(StoreError::EmailTaken);
            }
            Err(e) => return Err(map_error(e)),
        };
        let user = User {
            id: row.get(0),
            email: row.get(1),
            created_at: row.get(2),
        };
        write_audit(
            &tx,
            &AuditRecord::user_role("user.create_admin", user.id, &user.email, None),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(user)
    }

    async fn create_candidate(
        &self,
        actor: Uuid,
        candidate: &NewCandidate,
    ) -> Result<Candidate, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let contest = super::elections::editable_default_contest(&tx).await?;
        let row = tx
            .query_one(
                "INSERT INTO candidates (contest_id, name, party, description) VALUES ($1, $2, $3, $4)
                 RETURNING id, name, party, description",
                &[&contest, &candidate.name, &candidate.party, &candidate.description],
            )
            .await
            .map_err(map_error)?;
        let created = candidate_from_row(&row);
        write_audit(
            &tx,
            &AuditRecord::candidate(actor, "candidate.create", created.id, None, Some(&created)),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(created)
    }

    async fn update_candidate(
        &self,
        actor: Uuid,
        id: Uuid,
        patch: &CandidatePatch,
    ) -> Result<Candidate, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let before = candidate_for_update(&tx, id)
            .await?
            .ok_or(StoreError::CandidateNotFound)?;
        // Votes name the candidate by id: changing a voted-for candidate's name or party would
        // move those votes to what the voters did not see.
        let voted: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM ballot_box WHERE candidate_id = $1)",
                &[&id],
            )
            .await
            .map_err(map_error)?
            .get(0);
        if voted {
            return Err(StoreError::CandidateHasVotes);
        }
        let after = patch.apply(&before);
        tx.execute(
            "UPDATE candidates SET name = $2, party = $3, description = $4 WHERE id = $1",
            &[&id, &after.name, &after.party, &after.description],
        )
        .await
        .map_err(map_error)?;
        write_audit(
            &tx,
            &AuditRecord::candidate(actor, "candidate.update", id, Some(&before), Some(&after)),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(after)
    }

    async fn delete_candidate(&self, actor: Uuid, id: Uuid) -> Result<Candidate, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let before = candidate_for_update(&tx, id)
            .await?
            .ok_or(StoreError::CandidateNotFound)?;
        // The RESTRICT foreign key decides, also against a vote committed a moment ago on
        // another instance: the database refuses, the transaction rolls back on drop.
        match tx
            .execute("DELETE FROM candidates WHERE id = $1", &[&id])
            .await
        {
            Ok(_) => {}
            Err(e) if matches!(constraint(&e), Some((code, _)) if *code == SqlState::FOREIGN_KEY_VIOLATION) =>
            {
                return Err(StoreError::CandidateHasVotes);
            }
            Err(e) => return Err(map_error(e)),
        }
        write_audit(
            &tx,
            &AuditRecord::candidate(actor, "candidate.delete", id, Some(&before), None),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(before)
    }

    async fn admin_stats(&self) -> Result<AdminStats, StoreError> {
        let row = self
            .query_opt(
                "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM participation
                   WHERE election_id = (SELECT id FROM elections WHERE is_default))",
                &[],
            )
            .await?
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("COUNT returned no row")))?;
        Ok(AdminStats {
            registered_users: row.get(0),
            votes_cast: row.get(1),
        })
    }

    async fn audit_log(
        &self,
        limit: u32,
        before: Option<i64>,
        filter: Option<&AuditFilter>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (action, prefix) = AuditFilter::sql_params(filter);
        let rows = self
            .query(
                "SELECT a.id, a.at, a.actor_id, u.email, a.action, a.target_type, a.target_id,
                        a.before, a.after
                 FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
                 WHERE ($1::bigint IS NULL OR a.id < $1)
                   AND ($3::text IS NULL OR a.action = $3)
                   AND ($4::text IS NULL OR a.action LIKE $4 ESCAPE '\\')
                 ORDER BY a.id DESC LIMIT $2",
                &[&before, &i64::from(limit), &action, &prefix],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                id: row.get(0),
                at: row.get(1),
                actor_id: row.get(2),
                actor_email: row.get(3),
                action: row.get(4),
                target_type: row.get(5),
                target_id: row.get(6),
                before: row.get(7),
                after: row.get(8),
            })
            .collect())
    }

    async fn count_hit(
        &self,
        scope: &str,
        key: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        tx.batch_execute(ASYNC_COMMIT).await.map_err(map_error)?;
        let statement = tx
            .prepare_cached(
                "INSERT INTO rate_limit_hits (scope, key, window_start, hits) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (scope, key, window_start)
                 DO UPDATE SET hits = rate_limit_hits.hits + 1
                 RETURNING hits",
            )
            .await
            .map_err(map_error)?;
        let hits: i32 = tx
            .query_one(&statement, &[&scope, &key, &window_start])
            .await
            .map_err(map_error)?
            .get(0);
        tx.commit().await.map_err(map_error)?;
        Ok(i64::from(hits))
    }

    async fn login_attempt(
        &self,
        account: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LoginGate, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        tx.batch_execute(ASYNC_COMMIT).await.map_err(map_error)?;
        // One statement creates the row if needed, locks it until commit (serialising attempts
        // on the same account across instances) and returns its state.
        let row = tx
            .query_one(
                "INSERT INTO login_lockouts (account, window_start, failures, locked_until, lockouts)
                 VALUES ($1, 0, 0, 0, 0)
                 ON CONFLICT (account) DO UPDATE SET account = EXCLUDED.account
                 RETURNING window_start, failures, locked_until, lockouts",
                &[&account],
            )
            .await
            .map_err(map_error)?;
        let state = LockoutState {
            window_start: row.get(0),
            failures: i64::from(row.get::<_, i32>(1)),
            locked_until: row.get(2),
            lockouts: i64::from(row.get::<_, i32>(3)),
        };
        let (next, gate) = state.attempt(now, policy);
        if next != state {
            let clamp = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
            tx.execute(
                "UPDATE login_lockouts SET window_start = $2, failures = $3, locked_until = $4,
                     lockouts = $5
                 WHERE account = $1",
                &[
                    &account,
                    &next.window_start,
                    &clamp(next.failures),
                    &next.locked_until,
                    &clamp(next.lockouts),
                ],
            )
            .await
            .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(gate)
    }

    async fn login_succeeded(&self, account: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        tx.batch_execute(ASYNC_COMMIT).await.map_err(map_error)?;
        tx.execute("DELETE FROM login_lockouts WHERE account = $1", &[&account])
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(())
    }

    async fn sweep_limits(&self, now: i64, policy: &LockoutPolicy) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        tx.batch_execute(ASYNC_COMMIT).await.map_err(map_error)?;
        let hits = tx
            .execute(
                "DELETE FROM rate_limit_hits WHERE window_start < $1",
                &[&(now - 2 * HIT_WINDOW_SECS)],
            )
            .await
            .map_err(map_error)?;
        let lockouts = tx
            .execute(
                "DELETE FROM login_lockouts
                 WHERE window_start < $1 AND locked_until < $2
                   AND (lockouts = 0 OR locked_until < $3)",
                &[
                    &(now - policy.window_secs),
                    &now,
                    &(now - LOCKOUT_MEMORY_SECS),
                ],
            )
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(hits + lockouts)
    }
}
