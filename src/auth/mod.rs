//! Password hashing and login tokens.

mod password;
mod token;

pub use password::{HasherBusy, MAX_BCRYPT_COST, PasswordHasher, Verified, is_legacy_bcrypt};
pub use token::{IssuedToken, MAX_CLOCK_SKEW_SECS, TokenKeys, TokenSubject};
