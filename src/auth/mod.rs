//! Password hashing and login tokens.

mod password;
mod token;

pub use password::{HasherBusy, PasswordHasher};
pub use token::{IssuedToken, TokenKeys};
