//! Bulk loading of voters (`securevote users import`). A separate trait (a supertrait of
//! [`super::Store`]) so each backend keeps the implementation in its own small file.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::Email;

/// One row of a voter list, ready to store: a valid email and an argon2 PHC string.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub email: Email,
    pub password_hash: String,
}

#[async_trait]
pub trait UserImport {
    /// Inserts the users in one transaction, skipping emails that are already registered
    /// (case-insensitively). Returns, for each input row, whether it was inserted.
    async fn import_users(&self, users: &[ImportedUser]) -> Result<Vec<bool>, StoreError>;
}
