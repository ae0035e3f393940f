//! Where the "uniform" scalars of encryptions and proofs come from.

use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};

use crate::encoding::ChallengeHash;

/// A stream of scalars, drawn in the order fixed by §7 of the specification.
pub trait NonceSource {
    fn next_scalar(&mut self) -> Scalar;
}

/// Uniform scalars from a cryptographically secure generator: 64 random bytes reduced mod `l`.
pub struct RngNonces<'a, R: RngCore + CryptoRng>(pub &'a mut R);

impl<R: RngCore + CryptoRng> NonceSource for RngNonces<'_, R> {
    fn next_scalar(&mut self) -> Scalar {
        let mut wide = [0u8; 64];
        self.0.fill_bytes(&mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    }
}

/// The deterministic stream of §7, for test vectors only: with a known seed every nonce is public,
/// so a ballot made this way is not secret.
pub struct SeededNonces {
    seed: Vec<u8>,
    counter: u64,
}

impl SeededNonces {
    pub fn new(seed: &[u8]) -> Self {
        SeededNonces {
            seed: seed.to_vec(),
            counter: 0,
        }
    }
}

impl NonceSource for SeededNonces {
    fn next_scalar(&mut self) -> Scalar {
        let mut hash = ChallengeHash::new("securevote/v1/test-nonces");
        hash.item(&self.seed).u64(self.counter);
        self.counter += 1;
        hash.challenge()
    }
}
