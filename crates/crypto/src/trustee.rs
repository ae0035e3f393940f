//! The key ceremony without a trusted dealer (§3, after ElectionGuard 2.0 §3.2). Trustee-side
//! steps ([`trustee_keygen`], [`encrypt_shares`], [`receive_shares`]) run on the trustee's machine;
//! [`CeremonyBoard`] is the server's mailbox, which sees only public keys and encrypted shares.

use std::collections::BTreeMap;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::encoding::{Bytes32, ChallengeHash, le64};
use crate::error::CeremonyError;
use crate::nonces::NonceSource;
use crate::proofs::ProofPair;

/// Bounds on the number of trustees (§3).
pub const MAX_TRUSTEES: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyParams {
    pub election_id: String,
    /// `n`
    pub trustees: u64,
    /// `t`
    pub threshold: u64,
}

impl CeremonyParams {
    pub fn validate(&self) -> Result<(), CeremonyError> {
        if self.election_id.is_empty() {
            return Err(CeremonyError::Parameters("the election id is empty".into()));
        }
        if self.trustees == 0 || self.trustees > MAX_TRUSTEES {
            return Err(CeremonyError::Parameters(format!(
                "the number of trustees must be in 1..={MAX_TRUSTEES}"
            )));
        }
        if self.threshold == 0 || self.threshold > self.trustees {
            return Err(CeremonyError::Parameters(format!(
                "the threshold must be in 1..={}, got {}",
                self.trustees, self.threshold
            )));
        }
        Ok(())
    }

    fn check_index(&self, index: u64) -> Result<(), CeremonyError> {
        if index == 0 || index > self.trustees {
            return Err(CeremonyError::UnknownTrustee(index));
        }
        Ok(())
    }

    fn coefficient_challenge(
        &self,
        index: u64,
        k: u64,
        commitment: &RistrettoPoint,
        h: &RistrettoPoint,
    ) -> Scalar {
        let mut hash = ChallengeHash::new("securevote/v1/coefficient");
        hash.item(self.election_id.as_bytes())
            .u64(self.trustees)
            .u64(self.threshold)
            .u64(index)
            .u64(k)
            .point(commitment)
            .point(h);
        hash.challenge()
    }
}

/// A trustee's published commitments with their proofs of knowledge (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrusteePublicKey {
    pub index: u64,
    pub commitments: Vec<Bytes32>,
    pub proofs: Vec<ProofPair>,
}

/// A trustee's polynomial: secret, kept on the trustee's machine until the key share is made.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrusteeSecret {
    pub params: CeremonyParams,
    pub index: u64,
    pub coefficients: Vec<Bytes32>,
}

impl std::fmt::Debug for TrusteeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrusteeSecret {{ index: {}, .. }}", self.index)
    }
}

/// The trustee's share `s_j` of the election secret (§3.3): what `trustee decrypt` needs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrusteeKeyShare {
    pub params: CeremonyParams,
    pub index: u64,
    pub share: Bytes32,
}

impl std::fmt::Debug for TrusteeKeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrusteeKeyShare {{ index: {}, .. }}", self.index)
    }
}

/// `P_i(j)` for trustee `j`, encrypted to `K_{j,0}` (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedShare {
    pub from: u64,
    pub to: u64,
    pub ephemeral: Bytes32,
    pub ciphertext: Bytes32,
    pub mac: Bytes32,
}

/// Step 1: a fresh polynomial of degree `t − 1` and its public commitments with proofs.
pub fn trustee_keygen(
    params: &CeremonyParams,
    index: u64,
    nonces: &mut dyn NonceSource,
) -> Result<(TrusteeSecret, TrusteePublicKey), CeremonyError> {
    params.validate()?;
    params.check_index(index)?;
    let mut coefficients = Vec::new();
    let mut commitments = Vec::new();
    let mut proofs = Vec::new();
    for k in 0..params.threshold {
        let a = nonces.next_scalar();
        let commitment = RISTRETTO_BASEPOINT_TABLE * &a;
        let w = nonces.next_scalar();
        let h = RISTRETTO_BASEPOINT_TABLE * &w;
        let c = params.coefficient_challenge(index, k, &commitment, &h);
        proofs.push(ProofPair::new(&c, &(w + c * a)));
        commitments.push(Bytes32::from_point(&commitment));
        coefficients.push(Bytes32::from_scalar(&a));
    }
    Ok((
        TrusteeSecret {
            params: params.clone(),
            index,
            coefficients,
        },
        TrusteePublicKey {
            index,
            commitments,
            proofs,
        },
    ))
}

/// Checks one trustee's public key (§3.1) and returns its decoded commitments.
pub fn verify_trustee_public_key(
    params: &CeremonyParams,
    key: &TrusteePublicKey,
) -> Result<Vec<RistrettoPoint>, CeremonyError> {
    params.check_index(key.index)?;
    let invalid = |detail: String| CeremonyError::InvalidPublicKey {
        trustee: key.index,
        detail,
    };
    if key.commitments.len() as u64 != params.threshold
        || key.proofs.len() as u64 != params.threshold
    {
        return Err(invalid(format!(
            "{} commitments and {} proofs, the threshold is {}",
            key.commitments.len(),
            key.proofs.len(),
            params.threshold
        )));
    }
    let mut points = Vec::with_capacity(key.commitments.len());
    for (k, (commitment, proof)) in key.commitments.iter().zip(&key.proofs).enumerate() {
        let point = commitment
            .non_identity_point()
            .map_err(|e| invalid(format!("commitment {k}: {e}")))?;
        let (c, r) = proof
            .decode()
            .map_err(|e| invalid(format!("proof {k}: {e}")))?;
        let h = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &point, &r);
        if params.coefficient_challenge(key.index, k as u64, &point, &h) != c {
            return Err(invalid(format!(
                "the proof of knowledge of coefficient {k} does not verify"
            )));
        }
        points.push(point);
    }
    Ok(points)
}

fn secret_coefficients(secret: &TrusteeSecret) -> Result<Vec<Scalar>, CeremonyError> {
    secret
        .coefficients
        .iter()
        .map(|c| {
            c.scalar()
                .map_err(|e| CeremonyError::Parameters(format!("trustee secret: {e}")))
        })
        .collect()
}

fn evaluate(coefficients: &[Scalar], at: u64) -> Scalar {
    let x = Scalar::from(at);
    coefficients
        .iter()
        .rev()
        .fold(Scalar::ZERO, |acc, a| acc * x + a)
}

struct ShareKeys {
    encryption: [u8; 32],
    mac: [u8; 32],
}

fn share_keys(
    params: &CeremonyParams,
    from: u64,
    to: u64,
    e: &RistrettoPoint,
    s: &RistrettoPoint,
) -> ShareKeys {
    let mut digest = Sha512::new();
    for item in [
        "securevote/v1/share-key".as_bytes(),
        params.election_id.as_bytes(),
        &le64(from),
        &le64(to),
        e.compress().as_bytes(),
        s.compress().as_bytes(),
    ] {
        digest.update(le64(item.len() as u64));
        digest.update(item);
    }
    let out = digest.finalize();
    let mut keys = ShareKeys {
        encryption: [0; 32],
        mac: [0; 32],
    };
    keys.encryption.copy_from_slice(&out[..32]);
    keys.mac.copy_from_slice(&out[32..]);
    keys
}

fn share_mac(
    params: &CeremonyParams,
    keys: &ShareKeys,
    from: u64,
    to: u64,
    e: &Bytes32,
    ciphertext: &Bytes32,
) -> [u8; 32] {
    // HMAC accepts keys of any length; 32 bytes cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&keys.mac).unwrap_or_else(|_| unreachable!());
    for item in [
        "securevote/v1/share-mac".as_bytes(),
        params.election_id.as_bytes(),
        &le64(from),
        &le64(to),
        e.as_bytes(),
        ciphertext.as_bytes(),
    ] {
        mac.update(&le64(item.len() as u64));
        mac.update(item);
    }
    mac.finalize().into_bytes().into()
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

fn decode_all_keys(
    params: &CeremonyParams,
    keys: &[TrusteePublicKey],
) -> Result<BTreeMap<u64, Vec<RistrettoPoint>>, CeremonyError> {
    let mut decoded = BTreeMap::new();
    for key in keys {
        let points = verify_trustee_public_key(params, key)?;
        if decoded.insert(key.index, points).is_some() {
            return Err(CeremonyError::AlreadySubmitted(key.index));
        }
    }
    if decoded.len() as u64 != params.trustees {
        return Err(CeremonyError::Incomplete(format!(
            "{} of {} trustee public keys",
            decoded.len(),
            params.trustees
        )));
    }
    Ok(decoded)
}

/// Step 2: verifies every trustee's public key, then encrypts `P_i(j)` for every other trustee.
pub fn encrypt_shares(
    secret: &TrusteeSecret,
    keys: &[TrusteePublicKey],
    nonces: &mut dyn NonceSource,
) -> Result<Vec<EncryptedShare>, CeremonyError> {
    let params = &secret.params;
    let decoded = decode_all_keys(params, keys)?;
    let coefficients = secret_coefficients(secret)?;
    let mut shares = Vec::new();
    for (&to, commitments) in &decoded {
        if to == secret.index {
            continue;
        }
        let e = nonces.next_scalar();
        let ephemeral = RISTRETTO_BASEPOINT_TABLE * &e;
        let shared = commitments[0] * e;
        let keys = share_keys(params, secret.index, to, &ephemeral, &shared);
        let value = evaluate(&coefficients, to).to_bytes();
        let ephemeral = Bytes32::from_point(&ephemeral);
        let ciphertext = Bytes32(xor(&value, &keys.encryption));
        let mac = Bytes32(share_mac(
            params,
            &keys,
            secret.index,
            to,
            &ephemeral,
            &ciphertext,
        ));
        shares.push(EncryptedShare {
            from: secret.index,
            to,
            ephemeral,
            ciphertext,
            mac,
        });
    }
    Ok(shares)
}

/// `Σ_k j^k · K_{i,k}`: what `P_i(j)·G` must equal.
fn committed_value(commitments: &[RistrettoPoint], at: u64) -> RistrettoPoint {
    let x = Scalar::from(at);
    let mut power = Scalar::ONE;
    let powers: Vec<Scalar> = commitments
        .iter()
        .map(|_| {
            let p = power;
            power *= x;
            p
        })
        .collect();
    RistrettoPoint::vartime_multiscalar_mul(&powers, commitments)
}

/// Step 3: decrypts and checks the shares addressed to this trustee (one from every other trustee)
/// and makes its key share `s_j`.
pub fn receive_shares(
    secret: &TrusteeSecret,
    keys: &[TrusteePublicKey],
    shares: &[EncryptedShare],
) -> Result<TrusteeKeyShare, CeremonyError> {
    let params = &secret.params;
    let decoded = decode_all_keys(params, keys)?;
    let coefficients = secret_coefficients(secret)?;
    let me = secret.index;
    let own_secret = coefficients
        .first()
        .ok_or_else(|| CeremonyError::Parameters("trustee secret without coefficients".into()))?;
    let mut received: BTreeMap<u64, Scalar> = BTreeMap::new();
    for share in shares.iter().filter(|s| s.to == me) {
        let from = share.from;
        let invalid = |detail: &str| CeremonyError::InvalidShare {
            from,
            to: me,
            detail: detail.into(),
        };
        let commitments = decoded
            .get(&from)
            .ok_or(CeremonyError::UnknownTrustee(from))?;
        if from == me {
            return Err(invalid("a trustee does not send itself a share"));
        }
        if received.contains_key(&from) {
            return Err(CeremonyError::AlreadySubmitted(from));
        }
        let ephemeral = share
            .ephemeral
            .non_identity_point()
            .map_err(|e| invalid(&e.to_string()))?;
        let keys = share_keys(params, from, me, &ephemeral, &(ephemeral * own_secret));
        let expected = share_mac(params, &keys, from, me, &share.ephemeral, &share.ciphertext);
        if !bool::from(subtle_eq(&expected, share.mac.as_bytes())) {
            return Err(invalid("the MAC does not verify"));
        }
        let value = Bytes32(xor(share.ciphertext.as_bytes(), &keys.encryption))
            .scalar()
            .map_err(|e| invalid(&e.to_string()))?;
        if RISTRETTO_BASEPOINT_TABLE * &value != committed_value(commitments, me) {
            return Err(invalid("the share does not match the sender's commitments"));
        }
        received.insert(from, value);
    }
    if received.len() as u64 != params.trustees - 1 {
        return Err(CeremonyError::Incomplete(format!(
            "{} of {} shares received",
            received.len(),
            params.trustees - 1
        )));
    }
    let share: Scalar = received.values().sum::<Scalar>() + evaluate(&coefficients, me);
    Ok(TrusteeKeyShare {
        params: params.clone(),
        index: me,
        share: Bytes32::from_scalar(&share),
    })
}

fn subtle_eq(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}

/// The public side of a finished ceremony: the election public key and every trustee's
/// verification key (§3.3), computed from the published commitments alone.
#[derive(Debug, Clone)]
pub struct TrusteeSet {
    pub(crate) threshold: u64,
    pub(crate) commitments: Vec<Vec<RistrettoPoint>>,
}

impl TrusteeSet {
    /// Verifies all `n` public keys (indices 1..=n, each exactly once).
    pub fn new(params: &CeremonyParams, keys: &[TrusteePublicKey]) -> Result<Self, CeremonyError> {
        params.validate()?;
        let decoded = decode_all_keys(params, keys)?;
        Ok(TrusteeSet {
            threshold: params.threshold,
            commitments: decoded.into_values().collect(),
        })
    }

    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    pub fn trustee_count(&self) -> u64 {
        self.commitments.len() as u64
    }

    /// `PK = Σ_i K_{i,0}`.
    pub fn public_key(&self) -> RistrettoPoint {
        self.commitments.iter().map(|c| c[0]).sum()
    }

    pub fn public_key_bytes(&self) -> Bytes32 {
        Bytes32::from_point(&self.public_key())
    }

    /// `V_j = Σ_i Σ_k j^k · K_{i,k}`.
    pub fn verification_key(&self, trustee: u64) -> Option<RistrettoPoint> {
        if trustee == 0 || trustee > self.trustee_count() {
            return None;
        }
        let x = Scalar::from(trustee);
        let mut scalars = Vec::new();
        let mut points = Vec::new();
        for commitments in &self.commitments {
            let mut power = Scalar::ONE;
            for point in commitments {
                scalars.push(power);
                points.push(*point);
                power *= x;
            }
        }
        Some(RistrettoPoint::vartime_multiscalar_mul(scalars, points))
    }
}

impl TrusteeKeyShare {
    /// Checks that the share matches the trustee's public verification key.
    pub fn matches(&self, trustees: &TrusteeSet) -> bool {
        match (self.share.scalar(), trustees.verification_key(self.index)) {
            (Ok(s), Some(v)) => {
                RISTRETTO_BASEPOINT_TABLE * &s == v && v != RistrettoPoint::identity()
            }
            _ => false,
        }
    }
}

/// The server's relay: it stores public keys and encrypted shares, refuses duplicates and invalid
/// keys, and can never decrypt anything it holds.
#[derive(Debug, Clone)]
pub struct CeremonyBoard {
    params: CeremonyParams,
    keys: BTreeMap<u64, TrusteePublicKey>,
    shares: BTreeMap<(u64, u64), EncryptedShare>,
}

impl CeremonyBoard {
    pub fn new(params: CeremonyParams) -> Result<Self, CeremonyError> {
        params.validate()?;
        Ok(CeremonyBoard {
            params,
            keys: BTreeMap::new(),
            shares: BTreeMap::new(),
        })
    }

    pub fn params(&self) -> &CeremonyParams {
        &self.params
    }

    /// A trustee's public key; a second upload for the same index is refused, even if identical.
    pub fn submit_public_key(&mut self, key: TrusteePublicKey) -> Result<(), CeremonyError> {
        verify_trustee_public_key(&self.params, &key)?;
        if self.keys.contains_key(&key.index) {
            return Err(CeremonyError::AlreadySubmitted(key.index));
        }
        self.keys.insert(key.index, key);
        Ok(())
    }

    pub fn public_keys(&self) -> Vec<TrusteePublicKey> {
        self.keys.values().cloned().collect()
    }

    pub fn all_keys_submitted(&self) -> bool {
        self.keys.len() as u64 == self.params.trustees
    }

    /// A share for the mailbox: only after all keys are in, one per ordered pair.
    pub fn submit_share(&mut self, share: EncryptedShare) -> Result<(), CeremonyError> {
        if !self.all_keys_submitted() {
            return Err(CeremonyError::Incomplete(
                "shares are accepted once every trustee's public key is in".into(),
            ));
        }
        self.params.check_index(share.from)?;
        self.params.check_index(share.to)?;
        if share.from == share.to {
            return Err(CeremonyError::InvalidShare {
                from: share.from,
                to: share.to,
                detail: "a trustee does not send itself a share".into(),
            });
        }
        if self.shares.contains_key(&(share.from, share.to)) {
            return Err(CeremonyError::AlreadySubmitted(share.from));
        }
        self.shares.insert((share.from, share.to), share);
        Ok(())
    }

    /// The mailbox of trustee `to`.
    pub fn shares_for(&self, to: u64) -> Vec<EncryptedShare> {
        self.shares
            .values()
            .filter(|s| s.to == to)
            .cloned()
            .collect()
    }

    /// Whether every trustee has sent a share to every other.
    pub fn all_shares_submitted(&self) -> bool {
        let n = self.params.trustees;
        self.shares.len() as u64 == n * (n - 1)
    }

    pub fn trustee_set(&self) -> Result<TrusteeSet, CeremonyError> {
        TrusteeSet::new(&self.params, &self.public_keys())
    }
}
