//! Homomorphic tally (§5.1), partial decryptions with Chaum–Pedersen proofs (§5.2), their
//! combination with Lagrange coefficients (§5.3) and the bounded discrete logarithm (§5.4).

use std::collections::{BTreeMap, HashMap};

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use serde::{Deserialize, Serialize};

use crate::ballot::VerifiedBallot;
use crate::election::{Contest, ElectionContext};
use crate::encoding::{Bytes32, ChallengeHash};
use crate::error::DecryptionError;
use crate::nonces::NonceSource;
use crate::proofs::ProofPair;
use crate::trustee::{TrusteeKeyShare, TrusteeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ciphertext {
    pub alpha: Bytes32,
    pub beta: Bytes32,
}

/// The sum of the counted ballots, per contest and choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedTally {
    pub counted: u64,
    pub contests: Vec<Vec<Ciphertext>>,
}

type Pair = (RistrettoPoint, RistrettoPoint);

/// Adds verified ballots up, one at a time.
#[derive(Debug, Clone)]
pub struct TallyAccumulator {
    sums: Vec<Vec<Pair>>,
    counted: u64,
}

impl TallyAccumulator {
    pub fn new(context: &ElectionContext) -> Self {
        let identity = (RistrettoPoint::identity(), RistrettoPoint::identity());
        TallyAccumulator {
            sums: context
                .contests
                .iter()
                .map(|c| vec![identity; c.choice_count()])
                .collect(),
            counted: 0,
        }
    }

    /// `ballot` must have been verified against the same election context.
    pub fn add(&mut self, ballot: &VerifiedBallot) {
        for (sums, ciphertexts) in self.sums.iter_mut().zip(&ballot.ciphertexts) {
            for (sum, (alpha, beta)) in sums.iter_mut().zip(ciphertexts) {
                sum.0 += alpha;
                sum.1 += beta;
            }
        }
        self.counted += 1;
    }

    pub fn finish(&self) -> EncryptedTally {
        EncryptedTally {
            counted: self.counted,
            contests: self
                .sums
                .iter()
                .map(|sums| {
                    sums.iter()
                        .map(|(a, b)| Ciphertext {
                            alpha: Bytes32::from_point(a),
                            beta: Bytes32::from_point(b),
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

/// The encrypted tally of the given (counted) ballots.
pub fn aggregate<'a>(
    context: &ElectionContext,
    ballots: impl IntoIterator<Item = &'a VerifiedBallot>,
) -> EncryptedTally {
    let mut accumulator = TallyAccumulator::new(context);
    for ballot in ballots {
        accumulator.add(ballot);
    }
    accumulator.finish()
}

fn decode_tally(tally: &EncryptedTally) -> Result<Vec<Vec<Pair>>, DecryptionError> {
    tally
        .contests
        .iter()
        .enumerate()
        .map(|(ci, contest)| {
            contest
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    let at = || format!("tally contest {ci} choice {j}");
                    let alpha = c
                        .alpha
                        .point()
                        .map_err(|source| DecryptionError::Encoding { at: at(), source })?;
                    let beta = c
                        .beta
                        .point()
                        .map_err(|source| DecryptionError::Encoding { at: at(), source })?;
                    Ok((alpha, beta))
                })
                .collect()
        })
        .collect()
}

/// One trustee's share of the decryption of one tally ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionShare {
    pub share: Bytes32,
    pub proof: ProofPair,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialDecryption {
    pub trustee: u64,
    pub contests: Vec<Vec<DecryptionShare>>,
}

#[allow(clippy::too_many_arguments)]
fn decryption_challenge(
    election_hash: &Bytes32,
    trustee: u64,
    verification_key: &RistrettoPoint,
    (alpha, beta): &Pair,
    share: &RistrettoPoint,
    a: &RistrettoPoint,
    b: &RistrettoPoint,
) -> Scalar {
    let mut hash = ChallengeHash::new("securevote/v1/decryption");
    hash.item(election_hash.as_bytes())
        .u64(trustee)
        .point(verification_key)
        .point(alpha)
        .point(beta)
        .point(share)
        .point(a)
        .point(b);
    hash.challenge()
}

/// `trustee decrypt`: the trustee's shares `M_j = s_j·A` of every tally ciphertext, with proofs.
pub fn partial_decrypt(
    election_hash: &Bytes32,
    key_share: &TrusteeKeyShare,
    tally: &EncryptedTally,
    nonces: &mut dyn NonceSource,
) -> Result<PartialDecryption, DecryptionError> {
    let s = key_share
        .share
        .scalar()
        .map_err(|source| DecryptionError::Encoding {
            at: "key share".into(),
            source,
        })?;
    let verification_key = RISTRETTO_BASEPOINT_TABLE * &s;
    let decoded = decode_tally(tally)?;
    let contests = decoded
        .iter()
        .map(|contest| {
            contest
                .iter()
                .map(|pair| {
                    let share = pair.0 * s;
                    let w = nonces.next_scalar();
                    let a = RISTRETTO_BASEPOINT_TABLE * &w;
                    let b = pair.0 * w;
                    let c = decryption_challenge(
                        election_hash,
                        key_share.index,
                        &verification_key,
                        pair,
                        &share,
                        &a,
                        &b,
                    );
                    DecryptionShare {
                        share: Bytes32::from_point(&share),
                        proof: ProofPair::new(&c, &(w + c * s)),
                    }
                })
                .collect()
        })
        .collect();
    Ok(PartialDecryption {
        trustee: key_share.index,
        contests,
    })
}

fn verify_partial(
    election_hash: &Bytes32,
    trustees: &TrusteeSet,
    tally: &[Vec<Pair>],
    partial: &PartialDecryption,
) -> Result<Vec<Vec<RistrettoPoint>>, DecryptionError> {
    let trustee = partial.trustee;
    let verification_key = trustees
        .verification_key(trustee)
        .ok_or(DecryptionError::UnknownTrustee(trustee))?;
    if partial.contests.len() != tally.len() {
        return Err(DecryptionError::Shape(format!(
            "{} contests, the tally has {}",
            partial.contests.len(),
            tally.len()
        )));
    }
    let mut shares = Vec::with_capacity(tally.len());
    for (contest, (pairs, items)) in tally.iter().zip(&partial.contests).enumerate() {
        if pairs.len() != items.len() {
            return Err(DecryptionError::Shape(format!(
                "contest {contest}: {} shares for {} choices",
                items.len(),
                pairs.len()
            )));
        }
        let mut row = Vec::with_capacity(pairs.len());
        for (choice, (pair, item)) in pairs.iter().zip(items).enumerate() {
            let at = || format!("trustee {trustee} contest {contest} choice {choice}");
            let share = item
                .share
                .point()
                .map_err(|source| DecryptionError::Encoding { at: at(), source })?;
            let (c, r) = item
                .proof
                .decode()
                .map_err(|source| DecryptionError::Encoding { at: at(), source })?;
            let a = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &verification_key, &r);
            let b = RistrettoPoint::vartime_multiscalar_mul([r, -c], [pair.0, share]);
            if decryption_challenge(
                election_hash,
                trustee,
                &verification_key,
                pair,
                &share,
                &a,
                &b,
            ) != c
            {
                return Err(DecryptionError::InvalidProof {
                    trustee,
                    contest,
                    choice,
                });
            }
            row.push(share);
        }
        shares.push(row);
    }
    Ok(shares)
}

/// Checks one trustee's partial decryption of the tally (§5.2).
pub fn verify_partial_decryption(
    election_hash: &Bytes32,
    trustees: &TrusteeSet,
    tally: &EncryptedTally,
    partial: &PartialDecryption,
) -> Result<(), DecryptionError> {
    verify_partial(election_hash, trustees, &decode_tally(tally)?, partial).map(|_| ())
}

/// `λ_j = Π_{k≠j} k / (k − j)` for the given distinct indices.
pub(crate) fn lagrange_at_zero(indices: &[u64]) -> Vec<Scalar> {
    indices
        .iter()
        .map(|&j| {
            let (mut numerator, mut denominator) = (Scalar::ONE, Scalar::ONE);
            for &k in indices.iter().filter(|&&k| k != j) {
                numerator *= Scalar::from(k);
                denominator *= Scalar::from(k) - Scalar::from(j);
            }
            numerator * denominator.invert()
        })
        .collect()
}

/// The largest possible count of a choice: `N · m_max` (§5.4).
pub fn count_bound(contest: &Contest, counted: u64) -> u64 {
    counted.saturating_mul(contest.choice_range().1)
}

/// Collects verified partial decryptions of one tally and combines them (§5.3–5.4). The service
/// keeps one per election and feeds it the trustees' uploads.
#[derive(Debug, Clone)]
pub struct TallyDecryption {
    election_hash: Bytes32,
    trustees: TrusteeSet,
    tally: EncryptedTally,
    decoded: Vec<Vec<Pair>>,
    shares: BTreeMap<u64, Vec<Vec<RistrettoPoint>>>,
}

impl TallyDecryption {
    pub fn new(
        election_hash: Bytes32,
        trustees: TrusteeSet,
        tally: EncryptedTally,
    ) -> Result<Self, DecryptionError> {
        let decoded = decode_tally(&tally)?;
        Ok(TallyDecryption {
            election_hash,
            trustees,
            tally,
            decoded,
            shares: BTreeMap::new(),
        })
    }

    pub fn tally(&self) -> &EncryptedTally {
        &self.tally
    }

    /// Verifies and keeps a trustee's partial decryption; a second one from the same trustee is
    /// refused, even if identical.
    pub fn add(&mut self, partial: &PartialDecryption) -> Result<(), DecryptionError> {
        if self.shares.contains_key(&partial.trustee) {
            return Err(DecryptionError::AlreadySubmitted(partial.trustee));
        }
        let shares = verify_partial(&self.election_hash, &self.trustees, &self.decoded, partial)?;
        self.shares.insert(partial.trustee, shares);
        Ok(())
    }

    pub fn trustees_in(&self) -> Vec<u64> {
        self.shares.keys().copied().collect()
    }

    pub fn has_threshold(&self) -> bool {
        self.shares.len() as u64 >= self.trustees.threshold
    }

    /// `T·G = B − Σ λ_j M_j` per choice, from every partial decryption received.
    fn decrypted_points(&self) -> Result<Vec<Vec<RistrettoPoint>>, DecryptionError> {
        if !self.has_threshold() {
            return Err(DecryptionError::NotEnoughShares {
                have: self.shares.len(),
                need: self.trustees.threshold as usize,
            });
        }
        let indices = self.trustees_in();
        let lambdas = lagrange_at_zero(&indices);
        let shares: Vec<_> = self.shares.values().collect();
        Ok(self
            .decoded
            .iter()
            .enumerate()
            .map(|(ci, contest)| {
                contest
                    .iter()
                    .enumerate()
                    .map(|(j, (_, beta))| {
                        let m = RistrettoPoint::vartime_multiscalar_mul(
                            &lambdas,
                            shares.iter().map(|s| s[ci][j]),
                        );
                        beta - m
                    })
                    .collect()
            })
            .collect())
    }

    /// The counts, found by baby-step giant-step within each choice's bound.
    pub fn combine(&self, contests: &[Contest]) -> Result<Vec<Vec<u64>>, DecryptionError> {
        let points = self.decrypted_points()?;
        if contests.len() != points.len() {
            return Err(DecryptionError::Shape(format!(
                "{} contests, the tally has {}",
                contests.len(),
                points.len()
            )));
        }
        let max_bound = contests
            .iter()
            .map(|c| count_bound(c, self.tally.counted))
            .max()
            .unwrap_or(0);
        let table = BabySteps::new(max_bound);
        let mut result = Vec::with_capacity(points.len());
        for (contest_index, (contest, row)) in contests.iter().zip(&points).enumerate() {
            let bound = count_bound(contest, self.tally.counted);
            let mut counts = Vec::with_capacity(row.len());
            for (choice, point) in row.iter().enumerate() {
                counts.push(
                    table
                        .log(point, bound)
                        .ok_or(DecryptionError::CountOutOfRange {
                            contest: contest_index,
                            choice,
                            bound,
                        })?,
                );
            }
            result.push(counts);
        }
        Ok(result)
    }

    /// Checks a published result without searching: `T·G = B − M` and `T ≤ N·m_max` (§6.9).
    /// Returns the first (contest, choice) that fails.
    pub fn check_result(
        &self,
        contests: &[Contest],
        result: &[Vec<u64>],
    ) -> Result<(), DecryptionError> {
        let points = self.decrypted_points()?;
        if result.len() != points.len() || contests.len() != points.len() {
            return Err(DecryptionError::Shape(
                "the result has the wrong number of contests".into(),
            ));
        }
        for (ci, ((row, counts), contest)) in points.iter().zip(result).zip(contests).enumerate() {
            if row.len() != counts.len() {
                return Err(DecryptionError::Shape(format!(
                    "contest {ci}: {} counts for {} choices",
                    counts.len(),
                    row.len()
                )));
            }
            let bound = count_bound(contest, self.tally.counted);
            for (j, (point, count)) in row.iter().zip(counts).enumerate() {
                if *count > bound || &(RISTRETTO_BASEPOINT_TABLE * &Scalar::from(*count)) != point {
                    return Err(DecryptionError::CountOutOfRange {
                        contest: ci,
                        choice: j,
                        bound,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Baby-step giant-step for `T·G = P` with `0 ≤ T ≤ bound`.
struct BabySteps {
    step: u64,
    table: HashMap<[u8; 32], u64>,
}

impl BabySteps {
    fn new(bound: u64) -> Self {
        let step = ((bound as f64).sqrt() as u64 + 1).max(1);
        let mut table = HashMap::with_capacity(step as usize);
        let mut point = RistrettoPoint::identity();
        for j in 0..step {
            table.insert(point.compress().to_bytes(), j);
            point += RISTRETTO_BASEPOINT_POINT;
        }
        BabySteps { step, table }
    }

    fn log(&self, target: &RistrettoPoint, bound: u64) -> Option<u64> {
        let giant = RISTRETTO_BASEPOINT_TABLE * &Scalar::from(self.step);
        let mut point = *target;
        let mut i = 0u64;
        while i * self.step <= bound {
            if let Some(j) = self.table.get(&point.compress().to_bytes()) {
                let t = i * self.step + j;
                return (t <= bound).then_some(t);
            }
            point -= giant;
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baby_steps_find_every_small_log() {
        let table = BabySteps::new(500);
        for t in [0u64, 1, 2, 22, 23, 499, 500] {
            let p = RISTRETTO_BASEPOINT_TABLE * &Scalar::from(t);
            assert_eq!(table.log(&p, 500), Some(t));
        }
        let p = RISTRETTO_BASEPOINT_TABLE * &Scalar::from(501u64);
        assert_eq!(table.log(&p, 500), None);
    }

    #[test]
    fn lagrange_interpolates_at_zero() {
        // P(z) = 7 + 3z: any two points give P(0) = 7.
        let p = |z: u64| Scalar::from(7u64) + Scalar::from(3u64) * Scalar::from(z);
        for indices in [vec![1u64, 2], vec![2, 3], vec![1, 3], vec![1, 2, 3]] {
            let lambdas = lagrange_at_zero(&indices);
            let at_zero: Scalar = indices.iter().zip(&lambdas).map(|(j, l)| p(*j) * l).sum();
            assert_eq!(at_zero, Scalar::from(7u64));
        }
    }
}
