//! [`OutboxStore`] on PostgreSQL: messages are claimed with `FOR UPDATE SKIP LOCKED`, so any
//! number of instances send from one outbox, each message by one of them.

use async_trait::async_trait;
use uuid::Uuid;

use super::elections::EFFECTIVE_STATE;
use super::rolls::VOTED;
use super::security::write_audit;
use super::{PostgresStore, map_error};
use crate::store::StoreError;
use crate::store::elections::Actor;
use crate::store::outbox::{ClaimedMail, Delivery, LinkHolder, MailKind, OutboxStore, Recipients};
use crate::store::security::AuditRecord;

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn queue_mail(
        &self,
        actor: Actor,
        election_id: Uuid,
        kind: MailKind,
        recipients: &Recipients,
    ) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let state: Option<String> = tx
            .query_opt(
                &format!("SELECT {EFFECTIVE_STATE} FROM elections e WHERE e.id = $1 FOR SHARE"),
                &[&election_id],
            )
            .await
            .map_err(map_error)?
            .map(|row| row.get(0));
        match state.as_deref() {
            None => return Err(StoreError::ElectionNotFound),
            Some("scheduled" | "open") => {}
            Some(other) => {
                return Err(StoreError::InvalidTransition(format!(
                    "messages go out while an election is scheduled or open; this one is {other}"
                )));
            }
        }
        let queued = match recipients {
            Recipients::NotInvited => tx
                .execute(
                    "INSERT INTO outbox (election_id, email, kind, state)
                     SELECT r.election_id, r.email, $2, 'queued' FROM roll_entries r
                     WHERE r.election_id = $1 AND NOT EXISTS (
                       SELECT 1 FROM outbox o WHERE o.election_id = r.election_id
                         AND o.email = r.email AND o.kind = 'invitation' AND o.state <> 'failed')",
                    &[&election_id, &kind.as_str()],
                )
                .await
                .map_err(map_error)?,
            Recipients::NotVoted => tx
                .execute(
                    &format!(
                        "INSERT INTO outbox (election_id, email, kind, state)
                         SELECT r.election_id, r.email, $2, 'queued' FROM roll_entries r
                         WHERE r.election_id = $1 AND NOT {VOTED} AND NOT EXISTS (
                           SELECT 1 FROM outbox o WHERE o.election_id = r.election_id
                             AND o.email = r.email AND o.state IN ('queued', 'sending'))"
                    ),
                    &[&election_id, &kind.as_str()],
                )
                .await
                .map_err(map_error)?,
            Recipients::One(email) => {
                // The old link stops working now, not when the new one is sent.
                tx.execute(
                    "UPDATE invitations SET token_hash = NULL WHERE election_id = $1 AND email = $2",
                    &[&election_id, email],
                )
                .await
                .map_err(map_error)?;
                tx.execute(
                    "INSERT INTO outbox (election_id, email, kind, state)
                     SELECT r.election_id, r.email, $3, 'queued' FROM roll_entries r
                     WHERE r.election_id = $1 AND r.email = $2",
                    &[&election_id, email, &kind.as_str()],
                )
                .await
                .map_err(map_error)?
            }
        };
        write_audit(
            &tx,
            &AuditRecord::mail_queued(actor, election_id, kind, recipients, queued),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(queued)
    }

    async fn claim_mail(
        &self,
        token_hash: &str,
        claim_secs: u32,
    ) -> Result<Option<ClaimedMail>, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let claimed = tx
            .query_opt(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1,
                        claimed_until = now() + make_interval(secs => $1)
                 WHERE id = (
                   SELECT id FROM outbox
                   WHERE (state = 'queued' AND next_attempt_at <= now())
                      OR (state = 'sending' AND claimed_until < now())
                   ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, kind, attempts, election_id, email",
                &[&f64::from(claim_secs)],
            )
            .await
            .map_err(map_error)?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let (id, kind, attempts, election_id, email): (Uuid, String, i32, Uuid, String) = (
            claimed.get(0),
            claimed.get(1),
            claimed.get(2),
            claimed.get(3),
            claimed.get(4),
        );
        tx.execute(
            "INSERT INTO invitations (election_id, email, token_hash, issued_at)
             VALUES ($1, $2, $3, now())
             ON CONFLICT (election_id, email)
             DO UPDATE SET token_hash = EXCLUDED.token_hash, issued_at = EXCLUDED.issued_at",
            &[&election_id, &email, &token_hash],
        )
        .await
        .map_err(map_error)?;
        let row = tx
            .query_one(
                "SELECT r.name, e.title, e.timezone, e.opens_at, e.closes_at
                 FROM roll_entries r JOIN elections e ON e.id = r.election_id
                 WHERE r.election_id = $1 AND r.email = $2",
                &[&election_id, &email],
            )
            .await
            .map_err(map_error)?;
        let mail = ClaimedMail {
            id,
            kind: MailKind::from_column(&kind),
            attempts: u32::try_from(attempts).unwrap_or(0),
            email,
            name: row.get(0),
            election_id,
            election_title: row.get(1),
            timezone: row.get(2),
            opens_at: row.get(3),
            closes_at: row.get(4),
        };
        tx.commit().await.map_err(map_error)?;
        Ok(Some(mail))
    }

    async fn mail_sent(&self, id: Uuid) -> Result<(), StoreError> {
        self.query(
            "UPDATE outbox SET state = 'sent', sent_at = now(), claimed_until = NULL WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(())
    }

    async fn mail_retry(&self, id: Uuid, retry_secs: u32, error: &str) -> Result<(), StoreError> {
        self.query(
            "UPDATE outbox SET state = 'queued', claimed_until = NULL, last_error = $3,
                    next_attempt_at = now() + make_interval(secs => $2)
             WHERE id = $1",
            &[&id, &f64::from(retry_secs), &error],
        )
        .await?;
        Ok(())
    }

    async fn mail_failed(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        self.query(
            "UPDATE outbox SET state = 'failed', claimed_until = NULL, last_error = $2 WHERE id = $1",
            &[&id, &error],
        )
        .await?;
        Ok(())
    }

    async fn deliveries(&self, election_id: Uuid) -> Result<Vec<Delivery>, StoreError> {
        let rows = self
            .query(
                "SELECT email, kind, state, attempts, last_error FROM outbox
                 WHERE election_id = $1 ORDER BY email, created_at DESC",
                &[&election_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| Delivery {
                email: row.get(0),
                kind: MailKind::from_column(row.get(1)),
                state: row.get(2),
                attempts: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
                last_error: row.get(4),
            })
            .collect())
    }

    async fn link_holder(&self, token_hash: &str) -> Result<Option<LinkHolder>, StoreError> {
        let row = self
            .query_opt(
                "SELECT election_id, email FROM invitations WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?;
        Ok(row.map(|row| LinkHolder {
            election_id: row.get(0),
            email: row.get(1),
        }))
    }

    async fn account_for(&self, email: &str) -> Result<Uuid, StoreError> {
        let row = self
            .query_opt(
                "WITH made AS (
                   INSERT INTO users (email, password_hash, created_at) VALUES ($1, '!', now())
                   ON CONFLICT DO NOTHING RETURNING id)
                 SELECT id FROM made UNION ALL SELECT id FROM users WHERE lower(email) = $1
                 LIMIT 1",
                &[&email],
            )
            .await?;
        row.map(|row| row.get(0))
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("no account for a roll email")))
    }
}
