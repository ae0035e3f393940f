//! [`OutboxStore`] on SQLite: one writer, so a message is claimed inside an IMMEDIATE
//! transaction (no two senders, in this or another process, can claim the same one); a batch is
//! claimed, and its outcomes recorded, in one transaction each.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::elections::{EFFECTIVE_STATE, NOW, millis};
use super::rolls::VOTED;
use super::security::write_audit;
use super::{SqliteStore, time_at, uuid_at};
use crate::store::StoreError;
use crate::store::elections::Actor;
use crate::store::outbox::{
    ClaimedMail, Delivery, LinkHolder, MailKind, MailOutcome, OutboxStore, Recipients,
};
use crate::store::security::AuditRecord;

fn optional_time(
    row: &rusqlite::Row<'_>,
    column: usize,
) -> rusqlite::Result<Option<chrono::DateTime<Utc>>> {
    match row.get::<_, Option<String>>(column)? {
        None => Ok(None),
        Some(_) => time_at(row, column).map(Some),
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn queue_mail(
        &self,
        actor: Actor,
        election_id: Uuid,
        kind: MailKind,
        recipients: &Recipients,
    ) -> Result<u64, StoreError> {
        let recipients = recipients.clone();
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = election_id.to_string();
            let state: Option<String> = tx
                .query_row(
                    &format!("SELECT {EFFECTIVE_STATE} FROM elections e WHERE e.id = ?1"),
                    [&id],
                    |row| row.get(0),
                )
                .optional()?;
            match state.as_deref() {
                None => return Ok(Err(StoreError::ElectionNotFound)),
                Some("scheduled" | "open") => {}
                Some(other) => {
                    return Ok(Err(StoreError::InvalidTransition(format!(
                        "messages go out while an election is scheduled or open; this one is {other}"
                    ))));
                }
            }
            let new_id = "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
                || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))";
            let queued = match &recipients {
                Recipients::NotInvited => tx.execute(
                    &format!(
                        "INSERT INTO outbox (id, election_id, email, kind, state, next_attempt_at, created_at)
                         SELECT {new_id}, r.election_id, r.email, ?2, 'queued', {NOW}, {NOW} FROM roll_entries r
                         WHERE r.election_id = ?1 AND NOT EXISTS (
                           SELECT 1 FROM outbox o WHERE o.election_id = r.election_id
                             AND o.email = r.email AND o.kind = 'invitation' AND o.state <> 'failed')"
                    ),
                    params![id, kind.as_str()],
                )?,
                Recipients::NotVoted => tx.execute(
                    &format!(
                        "INSERT INTO outbox (id, election_id, email, kind, state, next_attempt_at, created_at)
                         SELECT {new_id}, r.election_id, r.email, ?2, 'queued', {NOW}, {NOW} FROM roll_entries r
                         WHERE r.election_id = ?1 AND NOT {VOTED} AND NOT EXISTS (
                           SELECT 1 FROM outbox o WHERE o.election_id = r.election_id
                             AND o.email = r.email AND o.state IN ('queued', 'sending'))"
                    ),
                    params![id, kind.as_str()],
                )?,
                Recipients::One(email) => {
                    // The old link stops working now, not when the new one is sent.
                    tx.execute(
                        "UPDATE invitations SET token_hash = NULL WHERE election_id = ?1 AND email = ?2",
                        params![id, email],
                    )?;
                    tx.execute(
                        &format!(
                            "INSERT INTO outbox (id, election_id, email, kind, state, next_attempt_at, created_at)
                             SELECT {new_id}, r.election_id, r.email, ?3, 'queued', {NOW}, {NOW} FROM roll_entries r
                             WHERE r.election_id = ?1 AND r.email = ?2"
                        ),
                        params![id, email, kind.as_str()],
                    )?
                }
            } as u64;
            write_audit(
                &tx,
                &AuditRecord::mail_queued(actor, election_id, kind, &recipients, queued),
            )?;
            tx.commit()?;
            Ok(Ok(queued))
        })
        .await
    }

    async fn claim_mail(
        &self,
        token_hashes: &[String],
        claim_secs: u32,
    ) -> Result<Vec<(usize, ClaimedMail)>, StoreError> {
        if token_hashes.is_empty() {
            return Ok(Vec::new());
        }
        let token_hashes = token_hashes.to_vec();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<(String, String, String)> = tx
                .prepare_cached(&format!(
                    "SELECT id, election_id, email FROM outbox
                     WHERE (state = 'queued' AND next_attempt_at <= {NOW})
                        OR (state = 'sending' AND claimed_until < {NOW})
                     ORDER BY next_attempt_at, id LIMIT ?1"
                ))?
                .query_map([token_hashes.len() as i64], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            // One link per voter and batch: a voter's later message waits for the next claim.
            let mut voters = std::collections::HashSet::new();
            let due: Vec<(String, String, String)> = due
                .into_iter()
                .filter(|(_, election_id, email)| voters.insert((election_id.clone(), email.clone())))
                .collect();
            let claim_until = millis(Utc::now() + chrono::TimeDelta::seconds(i64::from(claim_secs)));
            let mut claimed = Vec::with_capacity(due.len());
            let mut claim = tx.prepare_cached(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_until = ?2
                 WHERE id = ?1 RETURNING kind, attempts",
            )?;
            let mut link = tx.prepare_cached(&format!(
                "INSERT INTO invitations (election_id, email, token_hash, issued_at)
                 VALUES (?1, ?2, ?3, {NOW})
                 ON CONFLICT (election_id, email)
                 DO UPDATE SET token_hash = excluded.token_hash, issued_at = excluded.issued_at"
            ))?;
            let mut details = tx.prepare_cached(
                "SELECT o.id, r.name, e.title, e.timezone, e.opens_at, e.closes_at, e.id
                 FROM outbox o JOIN roll_entries r ON r.election_id = o.election_id AND r.email = o.email
                 JOIN elections e ON e.id = o.election_id WHERE o.id = ?1",
            )?;
            for (n, (id, election_id, email)) in due.into_iter().enumerate() {
                let (kind, attempts): (String, u32) =
                    claim.query_row(params![id, claim_until], |row| Ok((row.get(0)?, row.get(1)?)))?;
                link.execute(params![election_id, email, token_hashes[n]])?;
                let mail = details.query_row([&id], |row| {
                    Ok(ClaimedMail {
                        id: uuid_at(row, 0)?,
                        kind: MailKind::from_column(&kind),
                        attempts,
                        email: email.clone(),
                        name: row.get(1)?,
                        election_id: uuid_at(row, 6)?,
                        election_title: row.get(2)?,
                        timezone: row.get(3)?,
                        opens_at: optional_time(row, 4)?,
                        closes_at: optional_time(row, 5)?,
                    })
                })?;
                claimed.push((n, mail));
            }
            drop((claim, link, details));
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    async fn record_mail(&self, outcomes: &[(Uuid, MailOutcome)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let outcomes = outcomes.to_vec();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut sent = tx.prepare_cached(
                    "UPDATE outbox SET state = 'sent', sent_at = ?2, claimed_until = NULL WHERE id = ?1",
                )?;
                let mut retry = tx.prepare_cached(
                    "UPDATE outbox SET state = 'queued', claimed_until = NULL, last_error = ?3,
                            next_attempt_at = ?2 WHERE id = ?1",
                )?;
                let mut failed = tx.prepare_cached(
                    "UPDATE outbox SET state = 'failed', claimed_until = NULL, last_error = ?2 WHERE id = ?1",
                )?;
                for (id, outcome) in &outcomes {
                    let id = id.to_string();
                    match outcome {
                        MailOutcome::Sent { at } => sent.execute(params![id, millis(*at)])?,
                        MailOutcome::Retry { retry_secs, error } => {
                            let next = millis(
                                Utc::now() + chrono::TimeDelta::seconds(i64::from(*retry_secs)),
                            );
                            retry.execute(params![id, next, error])?
                        }
                        MailOutcome::Failed { error } => failed.execute(params![id, error])?,
                    };
                }
            }
            tx.commit()
        })
        .await
    }

    async fn deliveries(&self, election_id: Uuid) -> Result<Vec<Delivery>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "SELECT email, kind, state, attempts, last_error FROM outbox
                 WHERE election_id = ?1 ORDER BY email, created_at DESC",
            )?
            .query_map([election_id.to_string()], |row| {
                let kind: String = row.get(1)?;
                Ok(Delivery {
                    email: row.get(0)?,
                    kind: MailKind::from_column(&kind),
                    state: row.get(2)?,
                    attempts: row.get(3)?,
                    last_error: row.get(4)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn link_holder(&self, token_hash: &str) -> Result<Option<LinkHolder>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT election_id, email FROM invitations WHERE token_hash = ?1",
                [token_hash],
                |row| {
                    Ok(LinkHolder {
                        election_id: uuid_at(row, 0)?,
                        email: row.get(1)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn account_for(&self, email: &str) -> Result<Uuid, StoreError> {
        let email = email.to_owned();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing: Option<String> = tx
                .query_row("SELECT id FROM users WHERE lower(email) = ?1", [&email], |row| row.get(0))
                .optional()?;
            let id = match existing {
                Some(id) => Uuid::parse_str(&id).map_err(|e| super::conversion_error(0, e))?,
                None => {
                    let id = Uuid::new_v4();
                    tx.execute(
                        "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, '!', ?3)",
                        params![id.to_string(), email, super::timestamp(Utc::now())],
                    )?;
                    id
                }
            };
            tx.commit()?;
            Ok(id)
        })
        .await
    }
}
