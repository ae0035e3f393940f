//! Drawing lots reproducibly from a published seed.
//!
//! Each choice's lot number is `SHA-256(seed ‖ 0x00 ‖ name)` (UTF-8 bytes, no other framing).
//! Whenever a rule leaves a decision to lot, the tied choice with the smallest lot number (its
//! digest compared as a big-endian number, i.e. the smallest lowercase hex string) is the one
//! drawn, whatever the draw decides: to be excluded, to be elected, or to have its surplus
//! transferred first. Anyone with the seed can recompute every draw with `sha256sum`.

use sha2::{Digest, Sha256};

use crate::model::Choice;

/// The seed used when the caller gives none.
pub const DEFAULT_SEED: &str = "securevote";

pub(crate) struct Lot {
    keys: Vec<[u8; 32]>,
}

impl Lot {
    pub(crate) fn new(seed: &str, choices: &[Choice]) -> Lot {
        Lot {
            keys: choices.iter().map(|c| lot_number(seed, &c.name)).collect(),
        }
    }

    /// The tied choice the lot falls on.
    pub(crate) fn draw(&self, tied: &[usize]) -> usize {
        *tied
            .iter()
            .min_by_key(|&&c| self.keys[c])
            .expect("a draw among no choices")
    }

    /// Compares two choices by lot number (the one drawn first sorts first).
    pub(crate) fn cmp(&self, a: usize, b: usize) -> std::cmp::Ordering {
        self.keys[a].cmp(&self.keys[b])
    }
}

/// The lot number of `name` under `seed`, as 32 bytes.
pub fn lot_number(seed: &str, name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update([0u8]);
    h.update(name.as_bytes());
    h.finalize().into()
}

/// The lot number as lowercase hex (what the documentation tells a verifier to compare).
pub fn lot_number_hex(seed: &str, name: &str) -> String {
    lot_number(seed, name)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lot_number_is_sha256_of_seed_nul_name() {
        // printf 'seed\0Alice' | sha256sum
        assert_eq!(
            lot_number_hex("seed", "Alice"),
            "b15950466b5487b31a1ae20be8f6c1c3d97952cb90da837ec3a31b6743d6b87c"
        );
        let choices = vec![Choice::new("1", "Alice"), Choice::new("2", "Bob")];
        // Bob's number starts 7f12..., smaller than Alice's b159...
        assert_eq!(Lot::new("seed", &choices).draw(&[0, 1]), 1);
    }
}
