//! Elections: the election as a first-class object with contests, a lifecycle, a schedule, a
//! frozen ballot and a results embargo. Pure rules only; the stores keep them and the HTTP and
//! CLI layers call them.

pub mod ballot;
pub mod counting;
pub mod document;
pub mod encrypted;
pub mod lifecycle;
pub mod model;

pub use ballot::{BallotContent, ContestSelection};
pub use document::{ElectionDocument, NewElection};
pub use lifecycle::Action;
pub use model::{
    BallotForm, Choice, Contest, Election, ElectionKey, ElectionState, Eligibility, Method,
    ResultsPolicy, StoredBallot,
};
