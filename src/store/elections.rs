//! The store's elections side: elections with their contests and choices, their lifecycle, and
//! the ballots cast in them. A supertrait of [`super::Store`], implemented by each backend in its
//! own `elections.rs`.
//!
//! Rules the database keeps, the same on every instance:
//! - an election's state is judged by the database's clock in the statement that reads or uses
//!   it: a ballot is accepted only while the election is open at that statement's `now()`;
//! - one ballot per voter per election is the primary key of `participation`; a ballot's
//!   participation row and its ballot-box row (which names no voter) commit together;
//! - contests and choices change only while the election is `draft` (checked in the changing
//!   transaction, with the election row locked);
//! - a ballot and the counts it adds to commit together.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::StoreError;
use crate::domain::IdempotencyKey;
use crate::elections::{Action, Election, ElectionKey, NewElection};

/// Counters are spread over this many rows per subject (see the `tallies` table).
pub const TALLY_SHARDS: i16 = 32;

/// Who made a change, for the audit log: an admin's account, or the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Admin(Uuid),
    Cli,
    /// Someone without an account acting on their own behalf (a voter asking for a new link).
    Anonymous,
}

impl Actor {
    pub fn id(self) -> Option<Uuid> {
        match self {
            Self::Admin(id) => Some(id),
            Self::Cli | Self::Anonymous => None,
        }
    }
}

/// A checked ballot ready to store.
#[derive(Debug, Clone)]
pub struct NewBallot {
    pub election_id: Uuid,
    pub user_id: Uuid,
    /// The canonical ballot (`BallotContent::to_json`).
    pub selections: Value,
    /// The ballot's one choice when it has one contest with one choice.
    pub candidate_id: Option<Uuid>,
    /// Counters this ballot adds one to: its plurality and approval choices and the election
    /// (ballots cast), sorted so concurrent ballots lock counter rows in the same order.
    pub counted: Vec<Uuid>,
    pub idempotency_key: Option<IdempotencyKey>,
}

impl NewBallot {
    pub fn new(
        election_id: Uuid,
        user_id: Uuid,
        selections: Value,
        candidate_id: Option<Uuid>,
        mut counted: Vec<Uuid>,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Self {
        counted.push(election_id);
        counted.sort_unstable();
        counted.dedup();
        Self {
            election_id,
            user_id,
            selections,
            candidate_id,
            counted,
            idempotency_key,
        }
    }
}

/// A stored ballot as its voter may see it again (a replay of a retried request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CastBallot {
    /// The ballot's id: the receipt the voter can quote.
    pub receipt: Uuid,
    pub election_id: Uuid,
    pub candidate_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Stored by an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
}

/// Digest of `parts` under a purpose label, each part length-prefixed so no two inputs collide.
fn digest(purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"securevote/");
    hash.update(purpose.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

fn uuid_from(hash: [u8; 32]) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

impl NewBallot {
    /// What the participation row keeps of the retry key: a digest of the key, and one of key
    /// and content. Neither names the ballot; a key too short to resist guessing lets whoever
    /// guesses it test contents against the second digest, so both are erased at the seal.
    pub fn retry_digests(&self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let Some(key) = &self.idempotency_key else {
            return (None, None);
        };
        let (election, user) = (self.election_id.as_bytes(), self.user_id.as_bytes());
        let key = key.as_str().as_bytes();
        let content = self.selections.to_string();
        (
            Some(digest("retry-key", &[election, user, key]).to_vec()),
            Some(digest("retry-request", &[election, user, key, content.as_bytes()]).to_vec()),
        )
    }

    /// The ballot's id: random, or with a retry key derived from election, voter and key, so a
    /// replay returns the same receipt without the id being stored next to the voter (and two
    /// voters sending the same key get different ids). Whoever guesses a voter's key can
    /// derive it, which is why the seal gives every ballot a new random id.
    pub fn ballot_id(&self) -> Uuid {
        match &self.idempotency_key {
            Some(key) => uuid_from(digest(
                "ballot-id",
                &[
                    self.election_id.as_bytes(),
                    self.user_id.as_bytes(),
                    key.as_str().as_bytes(),
                ],
            )),
            None => Uuid::new_v4(),
        }
    }
}

/// The v1 `Vote` of a voter who has voted: an id derived from election and voter (never a
/// ballot's id), no choice (the service cannot tell which ballot is theirs) and the time of
/// voting.
pub fn participation_vote(
    election_id: Uuid,
    user_id: Uuid,
    voted_at: DateTime<Utc>,
) -> crate::domain::Vote {
    crate::domain::Vote {
        id: uuid_from(digest(
            "participation",
            &[election_id.as_bytes(), user_id.as_bytes()],
        )),
        candidate_id: None,
        created_at: voted_at,
    }
}

/// The voter's participation, found when a new ballot could not be stored: who voted, when,
/// and the digests that recognise a retry of the same request.
#[derive(Debug, Clone)]
pub struct Participation {
    pub voted_at: DateTime<Utc>,
    pub key_hash: Option<Vec<u8>>,
    pub request_hash: Option<Vec<u8>>,
}

impl Participation {
    /// A retry of the same request (same key, same content) replays the original answer; the
    /// same key with other content is a 422; anything else is a second ballot.
    pub fn outcome(self, election_id: Uuid, ballot: &NewBallot) -> Result<CastBallot, StoreError> {
        let (key_hash, request_hash) = ballot.retry_digests();
        let same_key = key_hash.is_some() && self.key_hash == key_hash;
        let same_content = request_hash.is_some() && self.request_hash == request_hash;
        match (same_key, same_content) {
            (true, true) => Ok(CastBallot {
                receipt: ballot.ballot_id(),
                election_id,
                candidate_id: ballot.candidate_id,
                created_at: self.voted_at,
                replayed: true,
            }),
            (true, false) => Err(StoreError::IdempotencyKeyReused),
            (false, _) => Err(StoreError::AlreadyVoted),
        }
    }
}

/// Why no ballot was inserted and none was stored before: the election's side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BallotRefusal {
    pub election_found: bool,
    pub open: bool,
    /// A roll election whose roll does not list the voter.
    pub roll: bool,
    pub candidate_found: bool,
}

impl BallotRefusal {
    pub fn into_error(self) -> StoreError {
        if !self.election_found {
            StoreError::ElectionNotFound
        } else if !self.open {
            StoreError::ElectionNotOpen
        } else if self.roll {
            StoreError::NotEligible
        } else if !self.candidate_found {
            StoreError::CandidateNotFound
        } else {
            StoreError::Internal(anyhow::anyhow!(
                "ballot neither stored nor refused by a rule"
            ))
        }
    }
}

/// An election's counters: ballots cast and, per plurality or approval choice, the ballots
/// that chose it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElectionCounts {
    pub ballots: u64,
    pub choices: HashMap<Uuid, u64>,
    /// The same sums of the ballots' roll weights, in nano-units (`crate::rolls::WEIGHT_SCALE`).
    pub ballots_weight: u64,
    pub weights: HashMap<Uuid, u64>,
}

pub use crate::elections::StoredBallot;

#[async_trait]
pub trait ElectionStore: Send + Sync {
    /// Stores the election whole (contests and choices) as `draft`, with its audit record.
    async fn create_election(
        &self,
        actor: Actor,
        election: &NewElection,
    ) -> Result<Election, StoreError>;
    /// Every election, newest first, with its state by the database's clock.
    async fn elections(&self) -> Result<Vec<Election>, StoreError>;
    async fn election(&self, key: &ElectionKey) -> Result<Option<Election>, StoreError>;
    async fn default_election(&self) -> Result<Option<Election>, StoreError>;
    /// Replaces a draft election's settings and contests (409 `election_frozen` otherwise).
    async fn replace_draft(
        &self,
        actor: Actor,
        id: Uuid,
        election: &NewElection,
    ) -> Result<Election, StoreError>;
    async fn delete_draft(&self, actor: Actor, id: Uuid) -> Result<(), StoreError>;
    /// Applies an admin's action (with `closes_at` for `extend`), judged by the database's clock.
    async fn transition(
        &self,
        actor: Actor,
        id: Uuid,
        action: Action,
        closes_at: Option<DateTime<Utc>>,
    ) -> Result<Election, StoreError>;
    /// Makes the election the one `/api/options`, `/api/votes` and `/api/results` mean.
    async fn set_default_election(&self, actor: Actor, id: Uuid) -> Result<Election, StoreError>;
    /// Stores the voter's one ballot in the election if it is open, or replays a retry.
    async fn cast_ballot(&self, ballot: &NewBallot) -> Result<CastBallot, StoreError>;
    /// The elections the user has cast a ballot in.
    async fn voted_elections(&self, user_id: Uuid) -> Result<Vec<Uuid>, StoreError>;
    /// The election's counters, summed over their shards.
    async fn election_counts(&self, election: &Election) -> Result<ElectionCounts, StoreError>;
    /// Every stored ballot's content, for counting ranked and score contests.
    async fn ballot_selections(&self, election_id: Uuid) -> Result<Vec<StoredBallot>, StoreError>;
    /// Seals every election that is closed by the database's clock and not sealed yet: its
    /// ballots are rewritten with new random ids in random order, its counters rewritten, the
    /// retry digests of its voters erased, and then the old row versions removed from the
    /// database's files. Idempotent; a step interrupted by a crash is done again by the next
    /// call. Returns the number of elections sealed.
    async fn seal_closed(&self) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ballot(user: Uuid, key: Option<&str>, choice: &str) -> NewBallot {
        let election = Uuid::from_u128(7);
        NewBallot::new(
            election,
            user,
            json!({ "contest": [choice] }),
            None,
            Vec::new(),
            key.map(|k| IdempotencyKey::parse(k).unwrap()),
        )
    }

    fn stored(first: &NewBallot) -> Participation {
        let (key_hash, request_hash) = first.retry_digests();
        Participation {
            voted_at: DateTime::<Utc>::UNIX_EPOCH,
            key_hash,
            request_hash,
        }
    }

    #[test]
    fn a_retry_replays_the_receipt_and_a_changed_ballot_with_the_key_is_refused() {
        let user = Uuid::from_u128(1);
        let first = ballot(user, Some("k-1"), "a");
        let receipt = first.ballot_id();
        let replay = stored(&first)
            .outcome(first.election_id, &ballot(user, Some("k-1"), "a"))
            .unwrap();
        assert!(replay.replayed);
        assert_eq!(
            replay.receipt, receipt,
            "the receipt is derived from the key"
        );
        assert_eq!(replay.created_at, DateTime::<Utc>::UNIX_EPOCH);
        assert!(matches!(
            stored(&first).outcome(first.election_id, &ballot(user, Some("k-1"), "b")),
            Err(StoreError::IdempotencyKeyReused)
        ));
        for other in [ballot(user, Some("k-2"), "a"), ballot(user, None, "a")] {
            assert!(matches!(
                stored(&first).outcome(first.election_id, &other),
                Err(StoreError::AlreadyVoted)
            ));
        }
        let keyless = ballot(user, None, "a");
        assert!(matches!(
            stored(&keyless).outcome(first.election_id, &ballot(user, None, "a")),
            Err(StoreError::AlreadyVoted)
        ));
    }

    #[test]
    fn ids_without_a_key_are_random_and_the_participation_id_is_no_ballot_id() {
        let user = Uuid::from_u128(1);
        let keyless = ballot(user, None, "a");
        assert_ne!(keyless.ballot_id(), keyless.ballot_id());
        let keyed = ballot(user, Some("k-1"), "a");
        let same_key = ballot(Uuid::from_u128(2), Some("k-1"), "a");
        assert_ne!(
            keyed.ballot_id(),
            same_key.ballot_id(),
            "two voters may send the same key"
        );
        let vote = participation_vote(keyed.election_id, user, DateTime::<Utc>::UNIX_EPOCH);
        assert_ne!(vote.id, keyed.ballot_id());
        assert_eq!(vote.candidate_id, None);
        // The digests name neither the key nor the ballot's id.
        let (key_hash, request_hash) = keyed.retry_digests();
        for digest in [key_hash.unwrap(), request_hash.unwrap()] {
            assert!(!digest.windows(3).any(|w| w == b"k-1"));
            assert!(
                !digest
                    .windows(16)
                    .any(|w| w == keyed.ballot_id().as_bytes())
            );
        }
    }
}
