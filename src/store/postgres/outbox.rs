//! [`OutboxStore`] on PostgreSQL: messages are claimed with `FOR UPDATE SKIP LOCKED`, so any
//! number of instances send from one outbox, each message by one of them; a batch is claimed, and
//! its outcomes recorded, in one statement each.

use async_trait::async_trait;
use uuid::Uuid;

use super::elections::EFFECTIVE_STATE;
use super::rolls::VOTED;
use super::security::write_audit;
use super::{PostgresStore, map_error};
use crate::store::StoreError;
use crate::store::elections::Actor;
use crate::store::outbox::{
    ClaimedMail, Delivery, LinkHolder, MailKind, MailOutcome, OutboxStore, Recipients,
};
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
        token_hashes: &[String],
        claim_secs: u32,
    ) -> Result<Vec<(usize, ClaimedMail)>, StoreError> {
        if token_hashes.is_empty() {
            return Ok(Vec::new());
        }
        // One statement, one commit: lock the oldest due messages (skipping those another
        // sender holds), keep the first of each voter's (one link per voter and batch), number
        // them, claim them, and give the n-th the n-th token hash as its voter's link.
        let rows = self
            .query(
                "WITH due AS (
                   SELECT id, election_id, email, next_attempt_at FROM outbox
                   WHERE (state = 'queued' AND next_attempt_at <= now())
                      OR (state = 'sending' AND claimed_until < now())
                   ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED),
                 picked AS (
                   SELECT id, row_number() OVER (ORDER BY next_attempt_at, id) AS n FROM (
                     SELECT DISTINCT ON (election_id, email) id, next_attempt_at FROM due
                     ORDER BY election_id, email, next_attempt_at, id) AS firsts),
                 claimed AS (
                   UPDATE outbox o SET state = 'sending', attempts = o.attempts + 1,
                          claimed_until = now() + make_interval(secs => $1)
                   FROM picked p WHERE o.id = p.id
                   RETURNING o.id, o.kind, o.attempts, o.election_id, o.email, p.n),
                 linked AS (
                   INSERT INTO invitations (election_id, email, token_hash, issued_at)
                   SELECT c.election_id, c.email, t.hash, now()
                   FROM claimed c JOIN unnest($3::text[]) WITH ORDINALITY AS t(hash, n) ON t.n = c.n
                   ON CONFLICT (election_id, email)
                   DO UPDATE SET token_hash = EXCLUDED.token_hash, issued_at = EXCLUDED.issued_at)
                 SELECT c.id, c.kind, c.attempts, c.election_id, c.email, c.n,
                        r.name, e.title, e.timezone, e.opens_at, e.closes_at
                 FROM claimed c JOIN elections e ON e.id = c.election_id
                 LEFT JOIN roll_entries r ON r.election_id = c.election_id AND r.email = c.email
                 ORDER BY c.n",
                &[
                    &f64::from(claim_secs),
                    &(token_hashes.len() as i64),
                    &token_hashes,
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let n: i64 = row.get(5);
                let mail = ClaimedMail {
                    id: row.get(0),
                    kind: MailKind::from_column(row.get(1)),
                    attempts: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                    email: row.get(4),
                    name: row.get(6),
                    election_id: row.get(3),
                    election_title: row.get(7),
                    timezone: row.get(8),
                    opens_at: row.get(9),
                    closes_at: row.get(10),
                };
                (usize::try_from(n - 1).unwrap_or(usize::MAX), mail)
            })
            .collect())
    }

    async fn record_mail(&self, outcomes: &[(Uuid, MailOutcome)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(outcomes.len());
        let mut states = Vec::with_capacity(outcomes.len());
        let mut sent_at = Vec::with_capacity(outcomes.len());
        let mut retry_secs = Vec::with_capacity(outcomes.len());
        let mut errors = Vec::with_capacity(outcomes.len());
        for (id, outcome) in outcomes {
            ids.push(*id);
            let (state, at, retry, error) = match outcome {
                MailOutcome::Sent { at } => ("sent", Some(*at), None, None),
                MailOutcome::Retry { retry_secs, error } => (
                    "queued",
                    None,
                    Some(f64::from(*retry_secs)),
                    Some(error.as_str()),
                ),
                MailOutcome::Failed { error } => ("failed", None, None, Some(error.as_str())),
            };
            states.push(state);
            sent_at.push(at);
            retry_secs.push(retry);
            errors.push(error);
        }
        self.query(
            "UPDATE outbox o SET state = u.state, claimed_until = NULL,
                    sent_at = COALESCE(u.sent_at, o.sent_at),
                    last_error = COALESCE(u.error, o.last_error),
                    next_attempt_at = CASE WHEN u.retry_secs IS NULL THEN o.next_attempt_at
                                      ELSE now() + make_interval(secs => u.retry_secs) END
             FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[])
                  AS u(id, state, sent_at, retry_secs, error)
             WHERE o.id = u.id",
            &[&ids, &states, &sent_at, &retry_secs, &errors],
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
