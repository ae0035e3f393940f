//! Types that can only be built valid, and the records the service hands out.

mod choice;
mod email;
mod idempotency_key;
mod password;
pub mod records;
mod text;

pub use choice::{ChoiceName, Description, Party, ValidChoice};
pub use email::Email;
pub use idempotency_key::IdempotencyKey;
pub use password::Password;
pub use records::{Candidate, CandidateTally, NewCandidate, Tally, User, Vote};

/// Why a user-supplied value was refused; the message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DomainError(pub &'static str);
