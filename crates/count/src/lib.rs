//! Counting engine of securevote (pure: no I/O, no clock, no async, no floating point).
//!
//! [`count`] takes a [`Contest`], its [`Ballot`]s, a [`Method`] and a seed, and returns a
//! [`CountResult`] holding the elected choices in order of election and the full working; its
//! [`CountResult::to_json`] and [`text_report`] render it. [`tally`] is the command-line path:
//! a BLT or JSON ballots file in, a rendered result (or a one-line error) out. The rules each
//! method implements, the tie-breaking draw and the file formats are in docs/counting.md.

#![warn(unreachable_pub)]

pub mod blt;
mod condorcet;
pub mod decimal;
mod engine;
mod irv;
pub mod json_ballots;
pub mod lot;
mod meek;
mod model;
mod prepare;
mod rank;
mod report;
mod result;
mod scottish;
mod simple;
mod tally;

pub use decimal::{Fixed, Weight, WeightError};
pub use engine::{check_ballot, count};
pub use lot::DEFAULT_SEED;
pub use model::{Ballot, BallotForm, Choice, Contest, CountError, Method, UnknownMethod};
pub use report::text_report;
pub use result::{CountResult, Decision, Round, TieBreak};
pub use tally::{Format, Loaded, TallyError, load, tally};
