//! Ballots: encryption with proofs (§4.3–4.4), verification on cast, the tracker (§4.5) and the
//! Benaloh challenge (§4.6).

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use serde::{Deserialize, Serialize};

use crate::election::{Contest, ElectionContext};
use crate::encoding::{ByteHash, Bytes32, crockford_base32, le64};
use crate::error::{BallotError, RevealError};
use crate::nonces::NonceSource;
use crate::proofs::{ProofPair, RangeStatement};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ballot {
    pub election_hash: Bytes32,
    pub pseudonym: Bytes32,
    pub contests: Vec<ContestBallot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContestBallot {
    pub choices: Vec<EncryptedChoice>,
    pub sum_proof: Vec<ProofPair>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedChoice {
    pub alpha: Bytes32,
    pub beta: Bytes32,
    pub proof: Vec<ProofPair>,
}

/// What a challenged ballot reveals: its plaintext values and encryption nonces (§4.6). Secret
/// until the voter challenges; a ballot whose reveal was shown must never be cast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reveal {
    pub tracker: String,
    pub contests: Vec<ContestReveal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContestReveal {
    pub values: Vec<u64>,
    pub nonces: Vec<Bytes32>,
}

/// The ballot receipt (§4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tracker {
    pub hash: Bytes32,
}

impl Tracker {
    /// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`: 120 bits in Crockford base32.
    pub fn display(&self) -> String {
        let text = crockford_base32(&self.hash.0[..15]);
        let groups: Vec<&str> = (0..6).map(|g| &text[g * 4..g * 4 + 4]).collect();
        groups.join("-")
    }
}

impl std::fmt::Display for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// A ballot that passed [`verify_ballot`], with its decoded ciphertexts for the tally.
#[derive(Debug, Clone)]
pub struct VerifiedBallot {
    pub tracker: Tracker,
    pub pseudonym: Bytes32,
    pub(crate) ciphertexts: Vec<Vec<(RistrettoPoint, RistrettoPoint)>>,
}

impl Ballot {
    pub fn from_json(text: &str) -> Result<Self, BallotError> {
        serde_json::from_str(text).map_err(|e| BallotError::Malformed(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and vectors always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `ballot_bytes` of §4.5.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.election_hash.as_bytes());
        out.extend_from_slice(self.pseudonym.as_bytes());
        out.extend_from_slice(&le64(self.contests.len() as u64));
        let pairs = |out: &mut Vec<u8>, proof: &[ProofPair]| {
            out.extend_from_slice(&le64(proof.len() as u64));
            for pair in proof {
                out.extend_from_slice(pair.c.as_bytes());
                out.extend_from_slice(pair.r.as_bytes());
            }
        };
        for contest in &self.contests {
            out.extend_from_slice(&le64(contest.choices.len() as u64));
            for choice in &contest.choices {
                out.extend_from_slice(choice.alpha.as_bytes());
                out.extend_from_slice(choice.beta.as_bytes());
                pairs(&mut out, &choice.proof);
            }
            pairs(&mut out, &contest.sum_proof);
        }
        out
    }

    pub fn tracker(&self) -> Tracker {
        let mut hash = ByteHash::new("securevote/v1/tracker");
        hash.item(&self.canonical_bytes());
        Tracker {
            hash: hash.bytes32(),
        }
    }
}

fn choice_label(contest: usize, choice: usize) -> String {
    format!("contest/{contest}/choice/{choice}")
}

fn sum_label(contest: usize) -> String {
    format!("contest/{contest}/sum")
}

/// Encrypts a voter's values (one `Vec` per contest, one value per choice) with all proofs
/// (§4.3–4.4). Returns the ballot and its reveal, which the caller keeps secret unless the voter
/// challenges the ballot. `nonces` must be [`crate::RngNonces`] outside tests.
pub fn encrypt_ballot(
    context: &ElectionContext,
    pseudonym: &Bytes32,
    values: &[Vec<u64>],
    nonces: &mut dyn NonceSource,
) -> Result<(Ballot, Reveal), BallotError> {
    if values.len() != context.contests.len() {
        return Err(BallotError::InvalidChoice(format!(
            "{} contests of values for {} contests",
            values.len(),
            context.contests.len()
        )));
    }
    let mut contests = Vec::with_capacity(values.len());
    let mut reveals = Vec::with_capacity(values.len());
    for (index, (contest, contest_values)) in context.contests.iter().zip(values).enumerate() {
        contest
            .check_values(contest_values)
            .map_err(|e| BallotError::InvalidChoice(format!("contest {index}: {e}")))?;
        let (encrypted, reveal) =
            encrypt_contest(context, pseudonym, index, contest, contest_values, nonces);
        contests.push(encrypted);
        reveals.push(reveal);
    }
    let ballot = Ballot {
        election_hash: context.election_hash,
        pseudonym: *pseudonym,
        contests,
    };
    let reveal = Reveal {
        tracker: ballot.tracker().display(),
        contests: reveals,
    };
    Ok((ballot, reveal))
}

fn encrypt_contest(
    context: &ElectionContext,
    pseudonym: &Bytes32,
    index: usize,
    contest: &Contest,
    values: &[u64],
    nonces: &mut dyn NonceSource,
) -> (ContestBallot, ContestReveal) {
    let (lo, hi) = contest.choice_range();
    let mut choices = Vec::with_capacity(values.len());
    let mut nonce_list = Vec::with_capacity(values.len());
    let (mut sum_alpha, mut sum_beta) = (RistrettoPoint::identity(), RistrettoPoint::identity());
    let mut sum_nonce = Scalar::ZERO;
    for (choice, &m) in values.iter().enumerate() {
        let r = nonces.next_scalar();
        let alpha = RISTRETTO_BASEPOINT_TABLE * &r;
        let beta = RISTRETTO_BASEPOINT_TABLE * &Scalar::from(m) + context.public_key * r;
        let label = choice_label(index, choice);
        let statement = RangeStatement {
            context,
            pseudonym,
            label: &label,
            lo,
            hi,
            alpha,
            beta,
        };
        let proof = statement.prove(m, &r, nonces);
        choices.push(EncryptedChoice {
            alpha: Bytes32::from_point(&alpha),
            beta: Bytes32::from_point(&beta),
            proof,
        });
        nonce_list.push(Bytes32::from_scalar(&r));
        sum_alpha += alpha;
        sum_beta += beta;
        sum_nonce += r;
    }
    let sum_proof = match contest.sum_range() {
        Some((min, max)) => {
            let label = sum_label(index);
            let statement = RangeStatement {
                context,
                pseudonym,
                label: &label,
                lo: min,
                hi: max,
                alpha: sum_alpha,
                beta: sum_beta,
            };
            statement.prove(values.iter().sum(), &sum_nonce, nonces)
        }
        None => Vec::new(),
    };
    (
        ContestBallot { choices, sum_proof },
        ContestReveal {
            values: values.to_vec(),
            nonces: nonce_list,
        },
    )
}

fn decode_pairs(proof: &[ProofPair], at: &str) -> Result<Vec<(Scalar, Scalar)>, BallotError> {
    proof
        .iter()
        .map(|pair| {
            pair.decode().map_err(|source| BallotError::Encoding {
                at: format!("{at} proof"),
                source,
            })
        })
        .collect()
}

/// Checks a ballot on cast (§4.4): election, pseudonym (when the caller knows the voter's), shape,
/// canonical encodings and every proof. Returns the tracker and the decoded ciphertexts.
pub fn verify_ballot(
    context: &ElectionContext,
    ballot: &Ballot,
    expected_pseudonym: Option<&Bytes32>,
) -> Result<VerifiedBallot, BallotError> {
    if ballot.election_hash != context.election_hash {
        return Err(BallotError::WrongElection);
    }
    if let Some(expected) = expected_pseudonym {
        if &ballot.pseudonym != expected {
            return Err(BallotError::WrongPseudonym);
        }
    }
    if ballot.contests.len() != context.contests.len() {
        return Err(BallotError::Shape(format!(
            "{} contests, the election has {}",
            ballot.contests.len(),
            context.contests.len()
        )));
    }
    let mut ciphertexts = Vec::with_capacity(ballot.contests.len());
    for (index, (contest, encrypted)) in context.contests.iter().zip(&ballot.contests).enumerate() {
        ciphertexts.push(verify_contest(
            context,
            &ballot.pseudonym,
            index,
            contest,
            encrypted,
        )?);
    }
    Ok(VerifiedBallot {
        tracker: ballot.tracker(),
        pseudonym: ballot.pseudonym,
        ciphertexts,
    })
}

fn verify_contest(
    context: &ElectionContext,
    pseudonym: &Bytes32,
    index: usize,
    contest: &Contest,
    encrypted: &ContestBallot,
) -> Result<Vec<(RistrettoPoint, RistrettoPoint)>, BallotError> {
    if encrypted.choices.len() != contest.choice_count() {
        return Err(BallotError::Shape(format!(
            "contest {index}: {} choices, the contest has {}",
            encrypted.choices.len(),
            contest.choice_count()
        )));
    }
    let (lo, hi) = contest.choice_range();
    let expected_sum_len = contest.sum_range().map_or(0, |(min, max)| max - min + 1);
    if encrypted.sum_proof.len() as u64 != expected_sum_len {
        return Err(BallotError::Shape(format!(
            "contest {index}: the sum proof has {} pairs, expected {expected_sum_len}",
            encrypted.sum_proof.len()
        )));
    }
    let mut decoded = Vec::with_capacity(encrypted.choices.len());
    let (mut sum_alpha, mut sum_beta) = (RistrettoPoint::identity(), RistrettoPoint::identity());
    for (choice, item) in encrypted.choices.iter().enumerate() {
        let label = choice_label(index, choice);
        if item.proof.len() as u64 != hi - lo + 1 {
            return Err(BallotError::Shape(format!(
                "{label}: the proof has {} pairs, expected {}",
                item.proof.len(),
                hi - lo + 1
            )));
        }
        let alpha = item
            .alpha
            .non_identity_point()
            .map_err(|source| BallotError::Encoding {
                at: format!("{label} alpha"),
                source,
            })?;
        let beta = item.beta.point().map_err(|source| BallotError::Encoding {
            at: format!("{label} beta"),
            source,
        })?;
        let pairs = decode_pairs(&item.proof, &label)?;
        let statement = RangeStatement {
            context,
            pseudonym,
            label: &label,
            lo,
            hi,
            alpha,
            beta,
        };
        if !statement.verify(&pairs) {
            return Err(BallotError::InvalidProof(label));
        }
        sum_alpha += alpha;
        sum_beta += beta;
        decoded.push((alpha, beta));
    }
    if let Some((min, max)) = contest.sum_range() {
        let label = sum_label(index);
        let pairs = decode_pairs(&encrypted.sum_proof, &label)?;
        let statement = RangeStatement {
            context,
            pseudonym,
            label: &label,
            lo: min,
            hi: max,
            alpha: sum_alpha,
            beta: sum_beta,
        };
        if !statement.verify(&pairs) {
            return Err(BallotError::InvalidProof(label));
        }
    }
    Ok(decoded)
}

/// Checks a challenged ballot against its reveal (§4.6) and returns the values it encrypts.
pub fn verify_reveal(
    context: &ElectionContext,
    ballot: &Ballot,
    reveal: &Reveal,
) -> Result<Vec<Vec<u64>>, RevealError> {
    let verified = verify_ballot(context, ballot, None)?;
    if reveal.tracker != verified.tracker.display() {
        return Err(RevealError::WrongTracker);
    }
    if reveal.contests.len() != context.contests.len() {
        return Err(RevealError::Shape(format!(
            "{} contests, the election has {}",
            reveal.contests.len(),
            context.contests.len()
        )));
    }
    let mut values = Vec::with_capacity(reveal.contests.len());
    for (index, ((contest, revealed), ciphertexts)) in context
        .contests
        .iter()
        .zip(&reveal.contests)
        .zip(&verified.ciphertexts)
        .enumerate()
    {
        if revealed.nonces.len() != contest.choice_count() {
            return Err(RevealError::Shape(format!(
                "contest {index}: {} nonces for {} choices",
                revealed.nonces.len(),
                contest.choice_count()
            )));
        }
        contest
            .check_values(&revealed.values)
            .map_err(|e| RevealError::InvalidChoice(format!("contest {index}: {e}")))?;
        for (choice, ((m, nonce), (alpha, beta))) in revealed
            .values
            .iter()
            .zip(&revealed.nonces)
            .zip(ciphertexts)
            .enumerate()
        {
            let label = choice_label(index, choice);
            let r = nonce.scalar().map_err(|source| RevealError::Encoding {
                at: format!("{label} nonce"),
                source,
            })?;
            let expected_alpha = RISTRETTO_BASEPOINT_TABLE * &r;
            let expected_beta =
                RISTRETTO_BASEPOINT_TABLE * &Scalar::from(*m) + context.public_key * r;
            if &expected_alpha != alpha || &expected_beta != beta {
                return Err(RevealError::Mismatch(label));
            }
        }
        values.push(revealed.values.clone());
    }
    Ok(values)
}
