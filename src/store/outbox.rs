//! The store's mail side: invitations (one current sign-in link per roll entry, kept as the
//! SHA-256 of its token) and the outbox their messages go through.
//!
//! Delivery guarantees, for every instance and through restarts and failovers:
//! - a message is queued in the transaction of the request that asked for it, so an answered
//!   request's messages are never lost;
//! - a message is claimed by one sender at a time (`sending`, with a claim that expires), so
//!   two instances never send it twice; a sender claims a batch of messages at once (at most one
//!   per voter in a batch), each with its own new link;
//! - the claim and the new links' token hashes commit before any of the batch is handed to the
//!   SMTP server, and a message is marked `sent` after the server accepted it: an instance that
//!   dies in between (or stalls past its claim) leaves the messages it had handed over but not
//!   yet marked to be sent again when their claims expire. Those repeats are the only duplicates
//!   possible, at most one batch per instance (see `crate::mail::sender::batch_size`), and each
//!   repeat's link replaces the first one's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::StoreError;
use super::elections::Actor;

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    Invitation,
    Reminder,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::Reminder => "reminder",
        }
    }

    pub fn from_column(value: &str) -> Self {
        if value == "reminder" {
            Self::Reminder
        } else {
            Self::Invitation
        }
    }
}

/// Which roll entries a request queues messages for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// Every entry without an invitation queued or sent yet.
    NotInvited,
    /// Every entry that has not voted.
    NotVoted,
    /// One entry, whose current link stops working at once.
    One(String),
}

/// A message claimed for sending, with what its text needs.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub id: Uuid,
    pub kind: MailKind,
    pub attempts: u32,
    pub email: String,
    pub name: Option<String>,
    pub election_id: Uuid,
    pub election_title: String,
    pub timezone: String,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
}

/// What became of a claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// The SMTP server accepted it at `at`.
    Sent { at: DateTime<Utc> },
    /// A temporary failure: try again after `retry_secs`.
    Retry { retry_secs: u32, error: String },
    /// A permanent failure, with the server's reply.
    Failed { error: String },
}

/// A message's delivery, for admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub email: String,
    pub kind: MailKind,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    /// The SMTP server's reply to the last failed attempt.
    pub last_error: Option<String>,
}

/// Who a sign-in link is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHolder {
    pub election_id: Uuid,
    pub email: String,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues a message of `kind` for each of `recipients` of a scheduled or open election's
    /// roll, audited; returns how many were queued.
    async fn queue_mail(
        &self,
        actor: Actor,
        election_id: Uuid,
        kind: MailKind,
        recipients: &Recipients,
    ) -> Result<u64, StoreError>;
    /// Claims up to `token_hashes.len()` of the oldest due messages for `claim_secs`, at most
    /// one per voter, and makes one hash each its voter's current link, in one transaction;
    /// returns each claimed message with the index of its hash (empty when nothing is due).
    async fn claim_mail(
        &self,
        token_hashes: &[String],
        claim_secs: u32,
    ) -> Result<Vec<(usize, ClaimedMail)>, StoreError>;
    /// Records the outcomes of claimed messages, in one transaction.
    async fn record_mail(&self, outcomes: &[(Uuid, MailOutcome)]) -> Result<(), StoreError>;
    /// Every message of the election, latest first per entry.
    async fn deliveries(&self, election_id: Uuid) -> Result<Vec<Delivery>, StoreError>;
    /// The voter whose current link has this token hash.
    async fn link_holder(&self, token_hash: &str) -> Result<Option<LinkHolder>, StoreError>;
    /// The account with this email, made (with no usable password) when there is none: a roll
    /// entry is enough to vote by invitation.
    async fn account_for(&self, email: &str) -> Result<Uuid, StoreError>;
}
