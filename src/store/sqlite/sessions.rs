//! [`SessionStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::SqliteStore;
use super::security::write_audit;
use crate::store::StoreError;
use crate::store::sessions::{SessionStore, TokenOwner, logout_audit};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn token_owner(&self, user_id: Uuid) -> Result<Option<TokenOwner>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached("SELECT token_generation, email FROM users WHERE id = ?1")?
                .query_row([user_id.to_string()], |row| {
                    Ok(TokenOwner {
                        generation: row.get(0)?,
                        email: row.get(1)?,
                    })
                })
                .optional()
        })
        .await
    }

    async fn end_sessions(&self, user_id: Uuid, actor: Option<Uuid>) -> Result<bool, StoreError> {
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found: Option<(String, i64)> = tx
                .query_row(
                    "SELECT email, token_generation FROM users WHERE id = ?1",
                    [user_id.to_string()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((email, generation)) = found else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE users SET token_generation = token_generation + 1 WHERE id = ?1",
                [user_id.to_string()],
            )?;
            if let Some(actor) = actor {
                write_audit(&tx, &logout_audit(actor, user_id, &email, generation))?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn replace_password_hash(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let (old_hash, new_hash) = (old_hash.to_owned(), new_hash.to_owned());
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?1 WHERE id = ?2 AND password_hash = ?3",
                params![new_hash, user_id.to_string(), old_hash],
            )
            .map(|changed| changed == 1)
        })
        .await
    }
}
