//! The store's side of encrypted elections (docs/election-record.md): an election's encryption
//! settings, the key ceremony's mailbox and the hash-chained bulletin board. A supertrait of
//! [`super::Store`], implemented by each backend in its own `board.rs`.
//!
//! Rules the database keeps, the same on every instance:
//! - a board's events are numbered from 0 without gaps (the primary key `(election_id, seq)`),
//!   and each names its predecessor's hash; an append reads the head and writes after it in one
//!   transaction that first locks the election (SQLite: the write lock of an IMMEDIATE
//!   transaction; PostgreSQL: the election row, `FOR NO KEY UPDATE`), so two instances never
//!   fork the chain;
//! - a ballot's board event and its voter's participation row commit together (several ballots
//!   may share one transaction: the service groups concurrent ones, see `http::board_writer`);
//! - a tracker appears at most once on a board (a unique index);
//! - one ceremony message per (kind, sender, recipient) (the primary key).

use async_trait::async_trait;
use securevote_crypto::{Bytes32, Event, GENESIS_PREV, event_hash, event_line};
use uuid::Uuid;

use super::StoreError;

pub use crate::elections::encrypted::Encryption;

/// What a ceremony message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// A trustee's `TrusteePublicKey` (sender = its index, recipient 0).
    Key,
    /// An `EncryptedShare` (sender `from`, recipient `to`).
    Share,
    /// A trustee's `PartialDecryption` of the tally (sender = the trustee, recipient 0).
    Partial,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Share => "share",
            Self::Partial => "partial",
        }
    }
}

/// A stored ceremony message: its JSON body as uploaded (after verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyMessage {
    pub sender: u64,
    pub recipient: u64,
    pub body: String,
}

/// One line of a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardLine {
    pub seq: u64,
    pub line: String,
    /// The line's event hash, lowercase hex.
    pub hash: String,
}

/// A board line found by its tracker, with its kind and (for a `ballot`) its pseudonym (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedLine {
    pub line: BoardLine,
    pub kind: String,
    pub pseudonym: Option<String>,
    /// No later event has the same pseudonym: for a `ballot`, it is the one that counts.
    pub latest: bool,
}

/// The last event of a board: its number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardHead {
    pub seq: u64,
    pub hash: String,
}

/// Events to append to a board in one transaction.
#[derive(Debug, Clone)]
pub struct BoardAppend {
    pub election_id: Uuid,
    /// Appended only if the board has exactly this many events now (else `BoardConflict`); for
    /// events whose content depends on the whole board (setup, close, tally, result).
    pub expect_len: Option<u64>,
    /// Appended only while the election is open by the database's clock.
    pub require_open: bool,
    /// The voters of the `ballot` events: their participation rows are written (or their time
    /// renewed, since an encrypted election allows re-voting) in the same transaction.
    pub voters: Vec<Uuid>,
    /// The events in order. A `ballot` event's `supersedes` is filled in by the store: the
    /// tracker of the board's last `ballot` event with the same pseudonym.
    pub events: Vec<Event>,
}

/// What an append wrote: the new head, and per event its line.
#[derive(Debug, Clone)]
pub struct Appended {
    pub lines: Vec<BoardLine>,
}

/// The columns of a board row besides its line: kind, pseudonym and tracker (hex / display).
pub fn event_columns(event: &Event) -> (&'static str, Option<String>, Option<String>) {
    match event {
        Event::Ballot(b) => (
            "ballot",
            Some(b.ballot.pseudonym.to_hex()),
            Some(b.tracker.clone()),
        ),
        Event::Spoiled(s) => ("spoiled", None, Some(s.tracker.clone())),
        other => (other.type_name(), None, None),
    }
}

/// The line of the event that follows the head `head` (`None`: the board is empty).
pub fn next_line(head: Option<&BoardHead>, event: &Event) -> Result<BoardLine, StoreError> {
    let (seq, prev) = match head {
        None => (0, GENESIS_PREV),
        Some(head) => (
            head.seq + 1,
            Bytes32::from_hex(&head.hash).map_err(|e| {
                StoreError::Internal(anyhow::anyhow!("stored board hash is not hex: {e}"))
            })?,
        ),
    };
    let line = event_line(seq, &prev, event);
    let hash = event_hash(&line).to_hex();
    Ok(BoardLine { seq, line, hash })
}

#[async_trait]
pub trait BoardStore: Send + Sync {
    /// Makes a draft election encrypted with these settings, or plain again (`None`); refused
    /// once the election is not a draft or a trustee key is uploaded.
    async fn set_encryption(
        &self,
        election_id: Uuid,
        encryption: Option<Encryption>,
    ) -> Result<(), StoreError>;
    async fn encryption(&self, election_id: Uuid) -> Result<Option<Encryption>, StoreError>;
    /// Stores a ceremony message; `Ok(false)` if one is already stored for its kind, sender and
    /// recipient (nothing changed).
    async fn add_ceremony_message(
        &self,
        election_id: Uuid,
        kind: CeremonyKind,
        message: &CeremonyMessage,
    ) -> Result<bool, StoreError>;
    /// The election's messages of a kind, by sender then recipient.
    async fn ceremony_messages(
        &self,
        election_id: Uuid,
        kind: CeremonyKind,
    ) -> Result<Vec<CeremonyMessage>, StoreError>;
    /// Appends the events after the board's head, in one transaction with the voter's
    /// participation (see [`BoardAppend`]). A tracker already on the board is
    /// `StoreError::TrackerOnBoard`.
    async fn append_board(&self, append: &BoardAppend) -> Result<Appended, StoreError>;
    /// Up to `limit` lines with `seq > after` (from 0 without `after`), in order.
    async fn board_lines(
        &self,
        election_id: Uuid,
        after: Option<u64>,
        limit: u64,
    ) -> Result<Vec<BoardLine>, StoreError>;
    async fn board_head(&self, election_id: Uuid) -> Result<Option<BoardHead>, StoreError>;
    /// The line holding this tracker (trackers are unique on a board), if any.
    async fn board_line_by_tracker(
        &self,
        election_id: Uuid,
        tracker: &str,
    ) -> Result<Option<TrackedLine>, StoreError>;
}
