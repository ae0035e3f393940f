//! [`UserImport`] on PostgreSQL: one multi-row `INSERT ... SELECT FROM unnest(...)` per batch,
//! so a batch of a thousand voters is one statement, one round trip and one commit.

use std::collections::HashSet;

use async_trait::async_trait;

use super::{PostgresStore, map_error};
use crate::store::StoreError;
use crate::store::bulk::{ImportedUser, UserImport};

#[async_trait]
impl UserImport for PostgresStore {
    async fn import_users(&self, users: &[ImportedUser]) -> Result<Vec<bool>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
        let hashes: Vec<&str> = users.iter().map(|u| u.password_hash.as_str()).collect();
        let conn = self.connection().await?;
        // No conflict target: both the exact and the case-insensitive unique index count, and
        // an existing account is left exactly as it is.
        let insert = conn
            .prepare_cached(
                "INSERT INTO users (email, password_hash, created_at)
                 SELECT email, password_hash, now()
                 FROM unnest($1::text[], $2::text[]) AS batch (email, password_hash)
                 ON CONFLICT DO NOTHING
                 RETURNING email",
            )
            .await
            .map_err(map_error)?;
        let rows = conn
            .query(&insert, &[&emails, &hashes])
            .await
            .map_err(map_error)?;
        let inserted: HashSet<String> = rows.iter().map(|row| row.get(0)).collect();
        Ok(emails.iter().map(|e| inserted.contains(*e)).collect())
    }
}
