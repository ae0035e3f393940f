//! Ballot cryptography of securevote (pure: no I/O, no clock, no async).
//!
//! Exponential ElGamal over ristretto255 with disjunctive Chaum–Pedersen range proofs, a threshold
//! key ceremony without a trusted dealer, partial decryptions with proofs, and the hash-chained
//! election record with its verifier. `docs/election-record.md` is the specification; section
//! numbers in the comments (§n) refer to it.

#![warn(unreachable_pub)]

mod ballot;
mod election;
mod encoding;
mod error;
mod nonces;
mod proofs;
mod record;
mod tally;
mod trustee;

pub use ballot::{
    Ballot, ContestBallot, ContestReveal, EncryptedChoice, Reveal, Tracker, VerifiedBallot,
    encrypt_ballot, verify_ballot, verify_reveal,
};
pub use election::{Contest, Election, ElectionContext, MAX_CHOICES, MAX_SCORE};
pub use encoding::{Bytes32, crockford_base32, from_hex, sha256, to_hex};
pub use error::{BallotError, CeremonyError, DecryptionError, EncodingError, RevealError};
pub use nonces::{NonceSource, RngNonces, SeededNonces};
pub use proofs::ProofPair;
pub use record::{
    BallotEvent, Board, Check, CloseEvent, Event, GENESIS_PREV, Record, ResultEvent, SetupEvent,
    SpoiledEvent, VerifiedResult, VerifyError, event_hash, event_line, parse_event_line,
    roll_fingerprint, verify_board, verify_record,
};
pub use tally::{
    Ciphertext, DecryptionShare, EncryptedTally, PartialDecryption, TallyAccumulator,
    TallyDecryption, aggregate, count_bound, partial_decrypt, verify_partial_decryption,
};
pub use trustee::{
    CeremonyBoard, CeremonyParams, EncryptedShare, MAX_TRUSTEES, TrusteeKeyShare, TrusteePublicKey,
    TrusteeSecret, TrusteeSet, encrypt_shares, receive_shares, trustee_keygen,
    verify_trustee_public_key,
};
