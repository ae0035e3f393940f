//! Errors of the core. Each says which rule of docs/election-record.md was broken.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodingError {
    #[error("malformed hex: {0}")]
    Hex(String),
    #[error("not the canonical encoding of a ristretto255 point")]
    NonCanonicalPoint,
    #[error("not a canonical scalar (little-endian, below the group order)")]
    NonCanonicalScalar,
    #[error("the identity point is not allowed here")]
    IdentityPoint,
}

/// Why a ballot was refused (§4.4). The service answers every case with 422 `invalid_ballot_proof`;
/// the text is for logs and the voter client's diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BallotError {
    #[error("ballot is not valid JSON of the ballot format: {0}")]
    Malformed(String),
    #[error("ballot is for another election")]
    WrongElection,
    #[error("ballot is bound to another voter's pseudonym")]
    WrongPseudonym,
    #[error("ballot shape does not match the election: {0}")]
    Shape(String),
    #[error("{at}: {source}")]
    Encoding {
        at: String,
        #[source]
        source: EncodingError,
    },
    #[error("{0}: the proof does not verify")]
    InvalidProof(String),
    #[error("choice values outside the contest's rules: {0}")]
    InvalidChoice(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RevealError {
    #[error(transparent)]
    Ballot(#[from] BallotError),
    #[error("the reveal is for another tracker")]
    WrongTracker,
    #[error("reveal shape does not match the ballot: {0}")]
    Shape(String),
    #[error("{at}: {source}")]
    Encoding {
        at: String,
        #[source]
        source: EncodingError,
    },
    #[error("{0}: the revealed value and nonce do not give this ciphertext")]
    Mismatch(String),
    #[error("revealed values break the contest's rules: {0}")]
    InvalidChoice(String),
}

/// Refusals of the key ceremony (§3).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CeremonyError {
    #[error("invalid ceremony parameters: {0}")]
    Parameters(String),
    #[error("trustee index {0} is outside 1..=n")]
    UnknownTrustee(u64),
    #[error("trustee {0} has already submitted this")]
    AlreadySubmitted(u64),
    #[error("trustee {trustee}: {detail}")]
    InvalidPublicKey { trustee: u64, detail: String },
    #[error("share from trustee {from} to trustee {to}: {detail}")]
    InvalidShare { from: u64, to: u64, detail: String },
    #[error("the ceremony is not complete: {0}")]
    Incomplete(String),
}

/// Refusals of a partial decryption or of a combination (§5).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecryptionError {
    #[error("trustee index {0} is outside 1..=n")]
    UnknownTrustee(u64),
    #[error("trustee {0} has already submitted a partial decryption")]
    AlreadySubmitted(u64),
    #[error("partial decryption shape does not match the tally: {0}")]
    Shape(String),
    #[error("{at}: {source}")]
    Encoding {
        at: String,
        #[source]
        source: EncodingError,
    },
    #[error(
        "trustee {trustee}, contest {contest}, choice {choice}: the decryption proof does not verify"
    )]
    InvalidProof {
        trustee: u64,
        contest: usize,
        choice: usize,
    },
    #[error("{have} partial decryptions, the threshold is {need}")]
    NotEnoughShares { have: usize, need: usize },
    #[error("contest {contest}, choice {choice}: the count is not in 0..={bound}")]
    CountOutOfRange {
        contest: usize,
        choice: usize,
        bound: u64,
    },
    #[error("the key share does not match its verification key")]
    WrongKeyShare,
}
