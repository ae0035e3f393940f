//! [`UserImport`] on SQLite: one IMMEDIATE transaction per batch with a prepared statement, so
//! a batch costs one fsync.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, timestamp};
use crate::store::StoreError;
use crate::store::bulk::{ImportedUser, UserImport};

#[async_trait]
impl UserImport for SqliteStore {
    async fn import_users(&self, users: &[ImportedUser]) -> Result<Vec<bool>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String)> = users
            .iter()
            .map(|u| (u.email.as_str().to_owned(), u.password_hash.clone()))
            .collect();
        self.with_conn(move |conn| {
            let created_at = timestamp(Utc::now());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut inserted = Vec::with_capacity(rows.len());
            {
                // No conflict target: both the exact and the lower(email) unique index count.
                let mut insert = tx.prepare(
                    "INSERT INTO users (id, email, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )?;
                for (email, hash) in &rows {
                    let changed = insert.execute(params![
                        Uuid::new_v4().to_string(),
                        email,
                        hash,
                        created_at
                    ])?;
                    inserted.push(changed == 1);
                }
            }
            tx.commit()?;
            Ok(inserted)
        })
        .await
    }
}
