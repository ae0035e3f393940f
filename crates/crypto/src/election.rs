//! The election document (§2) and the public context every ballot is checked against.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{RistrettoPoint, VartimeRistrettoPrecomputation};
use curve25519_dalek::traits::VartimePrecomputedMultiscalarMul;
use serde::{Deserialize, Serialize};

use crate::encoding::Bytes32;
use crate::error::EncodingError;

/// Bounds that keep every proof and every tally search small (§2).
pub const MAX_CHOICES: usize = 1000;
pub const MAX_SCORE: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Election {
    pub id: String,
    pub title: String,
    pub contests: Vec<Contest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Contest {
    /// Each choice 0 or 1, between `min` and `max` of them selected (plurality, approval).
    Choices {
        title: String,
        choices: Vec<String>,
        min: u64,
        max: u64,
    },
    /// Each choice a score in `0..=max_score`.
    Score {
        title: String,
        choices: Vec<String>,
        max_score: u64,
    },
}

impl Contest {
    pub fn choice_count(&self) -> usize {
        match self {
            Contest::Choices { choices, .. } | Contest::Score { choices, .. } => choices.len(),
        }
    }

    /// The range every single choice's value must lie in.
    pub fn choice_range(&self) -> (u64, u64) {
        match self {
            Contest::Choices { .. } => (0, 1),
            Contest::Score { max_score, .. } => (0, *max_score),
        }
    }

    /// The range of the number of selected choices, for contests that constrain it.
    pub fn sum_range(&self) -> Option<(u64, u64)> {
        match self {
            Contest::Choices { min, max, .. } => Some((*min, *max)),
            Contest::Score { .. } => None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let count = self.choice_count();
        if count == 0 || count > MAX_CHOICES {
            return Err(format!(
                "a contest has 1 to {MAX_CHOICES} choices, not {count}"
            ));
        }
        match self {
            Contest::Choices { min, max, .. } => {
                if min > max || *max > count as u64 {
                    return Err(format!(
                        "need 0 <= min <= max <= {count}, got min {min}, max {max}"
                    ));
                }
            }
            Contest::Score { max_score, .. } => {
                if *max_score == 0 || *max_score > MAX_SCORE {
                    return Err(format!(
                        "max_score must be in 1..={MAX_SCORE}, got {max_score}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a voter's plaintext values against the contest's rules.
    pub fn check_values(&self, values: &[u64]) -> Result<(), String> {
        if values.len() != self.choice_count() {
            return Err(format!(
                "{} values for {} choices",
                values.len(),
                self.choice_count()
            ));
        }
        let (lo, hi) = self.choice_range();
        if let Some(bad) = values.iter().find(|v| **v < lo || **v > hi) {
            return Err(format!("value {bad} is not in {lo}..={hi}"));
        }
        if let Some((min, max)) = self.sum_range() {
            let sum: u64 = values.iter().sum();
            if sum < min || sum > max {
                return Err(format!(
                    "{sum} choices selected, the contest allows {min}..={max}"
                ));
            }
        }
        Ok(())
    }
}

impl Election {
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() {
            return Err("the election id is empty".into());
        }
        if self.contests.is_empty() {
            return Err("an election has at least one contest".into());
        }
        for (index, contest) in self.contests.iter().enumerate() {
            contest
                .validate()
                .map_err(|e| format!("contest {index}: {e}"))?;
        }
        Ok(())
    }
}

/// What a ballot is encrypted under and checked against: the election hash (§4.2), the election
/// public key and the contests. Built once per election and shared by every verification.
pub struct ElectionContext {
    pub(crate) election_hash: Bytes32,
    pub(crate) public_key: RistrettoPoint,
    pub(crate) public_key_bytes: Bytes32,
    pub(crate) contests: Vec<Contest>,
    /// `G` and `PK` are in every proof equation; precomputed tables make them cheap.
    pub(crate) tables: VartimeRistrettoPrecomputation,
}

impl ElectionContext {
    pub fn new(
        election_hash: Bytes32,
        public_key: &Bytes32,
        contests: Vec<Contest>,
    ) -> Result<Self, EncodingError> {
        let point = public_key.non_identity_point()?;
        Ok(ElectionContext {
            election_hash,
            public_key: point,
            public_key_bytes: *public_key,
            contests,
            tables: VartimeRistrettoPrecomputation::new([RISTRETTO_BASEPOINT_POINT, point]),
        })
    }

    pub fn election_hash(&self) -> &Bytes32 {
        &self.election_hash
    }

    pub fn public_key(&self) -> &Bytes32 {
        &self.public_key_bytes
    }

    pub fn contests(&self) -> &[Contest] {
        &self.contests
    }
}
