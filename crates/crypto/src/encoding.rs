//! Canonical encodings and the framed hashes of the specification (docs/election-record.md §1).

use std::fmt;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256, Sha512};

use crate::error::EncodingError;

/// 32 bytes written in JSON as exactly 64 lowercase hexadecimal characters (§1.1). It is the wire
/// form of points, scalars, hashes and pseudonyms; what the bytes mean is checked where they are
/// used, so that each refusal can name its reason.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes32(pub [u8; 32]);

impl Bytes32 {
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, EncodingError> {
        let bytes = from_hex(text)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            EncodingError::Hex(format!("expected 64 hex digits, got {}", text.len()))
        })?;
        Ok(Bytes32(array))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The canonical encoding of a point.
    pub fn from_point(point: &RistrettoPoint) -> Self {
        Bytes32(point.compress().to_bytes())
    }

    pub fn from_scalar(scalar: &Scalar) -> Self {
        Bytes32(scalar.to_bytes())
    }

    /// Decodes a canonical ristretto255 encoding; every other 32-byte string is refused.
    pub fn point(&self) -> Result<RistrettoPoint, EncodingError> {
        CompressedRistretto(self.0)
            .decompress()
            .ok_or(EncodingError::NonCanonicalPoint)
    }

    /// Decodes a point that must not be the identity.
    pub fn non_identity_point(&self) -> Result<RistrettoPoint, EncodingError> {
        let point = self.point()?;
        if point == RistrettoPoint::identity() {
            return Err(EncodingError::IdentityPoint);
        }
        Ok(point)
    }

    /// Decodes a canonical scalar (little-endian, `< l`).
    pub fn scalar(&self) -> Result<Scalar, EncodingError> {
        Option::from(Scalar::from_canonical_bytes(self.0)).ok_or(EncodingError::NonCanonicalScalar)
    }
}

impl fmt::Debug for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Serialize for Bytes32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Bytes32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Bytes32::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}

/// Lowercase hexadecimal only: one value, one spelling.
pub fn from_hex(text: &str) -> Result<Vec<u8>, EncodingError> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let raw = text.as_bytes();
    if raw.len() % 2 != 0 {
        return Err(EncodingError::Hex("odd number of hex digits".into()));
    }
    raw.chunks(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => Ok(high << 4 | low),
            _ => Err(EncodingError::Hex(
                "not lowercase hexadecimal (0-9, a-f)".into(),
            )),
        })
        .collect()
}

pub(crate) fn le64(n: u64) -> [u8; 8] {
    n.to_le_bytes()
}

/// Accumulates `frame(tag, x_1, …, x_k)` (§1.2) into a hash function.
pub(crate) struct Framed<D: Digest> {
    digest: D,
}

impl<D: Digest> Framed<D> {
    pub(crate) fn new(tag: &str) -> Self {
        let mut framed = Framed { digest: D::new() };
        framed.item(tag.as_bytes());
        framed
    }

    pub(crate) fn item(&mut self, bytes: &[u8]) -> &mut Self {
        self.digest.update(le64(bytes.len() as u64));
        self.digest.update(bytes);
        self
    }

    pub(crate) fn point(&mut self, point: &RistrettoPoint) -> &mut Self {
        self.item(point.compress().as_bytes())
    }

    pub(crate) fn u64(&mut self, n: u64) -> &mut Self {
        self.item(&le64(n))
    }

    pub(crate) fn finish(self) -> sha2::digest::Output<D> {
        self.digest.finalize()
    }
}

impl Framed<Sha512> {
    /// `Hq`: the 64-byte digest reduced modulo `l`.
    pub(crate) fn challenge(self) -> Scalar {
        let digest = self.finish();
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&digest);
        Scalar::from_bytes_mod_order_wide(&wide)
    }
}

impl Framed<Sha256> {
    pub(crate) fn bytes32(self) -> Bytes32 {
        let digest = self.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(&digest);
        Bytes32(out)
    }
}

pub(crate) type ChallengeHash = Framed<Sha512>;
pub(crate) type ByteHash = Framed<Sha256>;

/// SHA-256 of raw bytes (event hashes, §6.1).
pub fn sha256(bytes: &[u8]) -> Bytes32 {
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    Bytes32(out)
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Crockford base32 of `bytes` (5 bits per character, most significant first); `bytes.len() * 8`
/// must be a multiple of 5.
pub fn crockford_base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(CROCKFORD[((buffer >> bits) & 31) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict_lowercase() {
        assert_eq!(from_hex("00ff").unwrap(), vec![0, 255]);
        assert!(from_hex("00FF").is_err());
        assert!(from_hex("0g").is_err());
        assert!(from_hex("abc").is_err());
        assert!(Bytes32::from_hex(&"00".repeat(31)).is_err());
    }

    #[test]
    fn non_canonical_scalars_and_points_are_refused() {
        // l itself, little-endian: not reduced.
        let l =
            Bytes32::from_hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .unwrap();
        assert_eq!(l.scalar(), Err(EncodingError::NonCanonicalScalar));
        // The field element p = 2^255 - 19 is a non-canonical encoding of 0.
        let p =
            Bytes32::from_hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
                .unwrap();
        assert_eq!(p.point(), Err(EncodingError::NonCanonicalPoint));
        // A negative field element (low bit set) is never a canonical ristretto encoding.
        let mut negative = [0u8; 32];
        negative[0] = 1;
        assert_eq!(
            Bytes32(negative).point(),
            Err(EncodingError::NonCanonicalPoint)
        );
        assert_eq!(
            Bytes32([0; 32]).non_identity_point(),
            Err(EncodingError::IdentityPoint)
        );
    }

    #[test]
    fn crockford_groups() {
        assert_eq!(crockford_base32(&[0xff; 5]), "ZZZZZZZZ");
        assert_eq!(crockford_base32(&[0; 5]), "00000000");
        assert_eq!(
            crockford_base32(&[0x84, 0x21, 0x08, 0x42, 0x10]),
            "GGGGGGGG"
        );
    }
}
