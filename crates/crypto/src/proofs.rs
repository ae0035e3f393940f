//! Range proofs: disjunctive Chaum–Pedersen proofs that a ciphertext encrypts a value in
//! `lo..=hi` (§4.3), in the compact (challenge, response) form of Belenios.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimePrecomputedMultiscalarMul;
use serde::{Deserialize, Serialize};

use crate::election::ElectionContext;
use crate::encoding::{Bytes32, ChallengeHash};
use crate::error::EncodingError;
use crate::nonces::NonceSource;

/// One (challenge, response) pair of a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofPair {
    pub c: Bytes32,
    pub r: Bytes32,
}

impl ProofPair {
    pub(crate) fn new(c: &Scalar, r: &Scalar) -> Self {
        ProofPair {
            c: Bytes32::from_scalar(c),
            r: Bytes32::from_scalar(r),
        }
    }

    pub(crate) fn decode(&self) -> Result<(Scalar, Scalar), EncodingError> {
        Ok((self.c.scalar()?, self.r.scalar()?))
    }
}

/// What a range proof is about: a ciphertext, its range and its context (§4.3).
pub(crate) struct RangeStatement<'a> {
    pub(crate) context: &'a ElectionContext,
    pub(crate) pseudonym: &'a Bytes32,
    pub(crate) label: &'a str,
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    pub(crate) alpha: RistrettoPoint,
    pub(crate) beta: RistrettoPoint,
}

impl RangeStatement<'_> {
    fn challenge(&self, commitments: &[(RistrettoPoint, RistrettoPoint)]) -> Scalar {
        let mut hash = ChallengeHash::new("securevote/v1/range");
        hash.item(self.context.election_hash.as_bytes())
            .item(self.pseudonym.as_bytes())
            .item(self.label.as_bytes())
            .u64(self.lo)
            .u64(self.hi)
            .item(self.context.public_key_bytes.as_bytes())
            .point(&self.alpha)
            .point(&self.beta);
        for (a, b) in commitments {
            hash.point(a).point(b);
        }
        hash.challenge()
    }

    /// `(r·G − c·α, r·PK − c·(β − v·G))`, the commitments a pair must reproduce (variable time:
    /// for verification of public proofs only).
    fn commitment(&self, v: u64, c: &Scalar, r: &Scalar) -> (RistrettoPoint, RistrettoPoint) {
        let a = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &self.alpha, r);
        let b = self.context.tables.vartime_mixed_multiscalar_mul(
            [c * Scalar::from(v), *r],
            [-c],
            [self.beta],
        );
        (a, b)
    }

    /// Proves that the ciphertext is `Enc(m; nonce)` with `m` in range. The caller guarantees that
    /// it is; scalars are drawn in the order of §7.
    pub(crate) fn prove(
        &self,
        m: u64,
        nonce: &Scalar,
        nonces: &mut dyn NonceSource,
    ) -> Vec<ProofPair> {
        debug_assert!(self.lo <= m && m <= self.hi);
        let mut pairs = Vec::with_capacity((self.hi - self.lo + 1) as usize);
        let mut commitments = Vec::with_capacity(pairs.capacity());
        let mut w = Scalar::ZERO;
        for v in self.lo..=self.hi {
            if v == m {
                w = nonces.next_scalar();
                let a = RISTRETTO_BASEPOINT_TABLE * &w;
                let b = self.context.public_key * w;
                pairs.push((Scalar::ZERO, Scalar::ZERO));
                commitments.push((a, b));
            } else {
                let c = nonces.next_scalar();
                let r = nonces.next_scalar();
                pairs.push((c, r));
                // Constant time: which positions are simulated is the vote itself.
                let a = RISTRETTO_BASEPOINT_TABLE * &r - self.alpha * c;
                let shifted = self.beta - RISTRETTO_BASEPOINT_TABLE * &Scalar::from(v);
                let b = self.context.public_key * r - shifted * c;
                commitments.push((a, b));
            }
        }
        let challenge = self.challenge(&commitments);
        let simulated: Scalar = pairs.iter().map(|(c, _)| c).sum();
        let real = (m - self.lo) as usize;
        let c_m = challenge - simulated;
        pairs[real] = (c_m, w + c_m * nonce);
        pairs.iter().map(|(c, r)| ProofPair::new(c, r)).collect()
    }

    /// Verifies decoded pairs; `pairs.len()` must already equal `hi − lo + 1`.
    pub(crate) fn verify(&self, pairs: &[(Scalar, Scalar)]) -> bool {
        if pairs.len() as u64 != self.hi - self.lo + 1 {
            return false;
        }
        let commitments: Vec<_> = pairs
            .iter()
            .zip(self.lo..=self.hi)
            .map(|((c, r), v)| self.commitment(v, c, r))
            .collect();
        let sum: Scalar = pairs.iter().map(|(c, _)| c).sum();
        sum == self.challenge(&commitments)
    }
}
