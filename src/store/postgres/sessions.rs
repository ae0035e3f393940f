//! [`SessionStore`] on PostgreSQL. Ending sessions waits for the synchronous standby like any
//! other change: a failover must not bring a signed-out token back.

use async_trait::async_trait;
use uuid::Uuid;

use super::security::write_audit;
use super::{PostgresStore, map_error};
use crate::store::StoreError;
use crate::store::sessions::{SessionStore, TokenOwner, logout_audit};

#[async_trait]
impl SessionStore for PostgresStore {
    async fn token_owner(&self, user_id: Uuid) -> Result<Option<TokenOwner>, StoreError> {
        let row = self
            .query_opt(
                "SELECT token_generation, email FROM users WHERE id = $1",
                &[&user_id],
            )
            .await?;
        Ok(row.map(|row| TokenOwner {
            generation: row.get(0),
            email: row.get(1),
        }))
    }

    async fn end_sessions(&self, user_id: Uuid, actor: Option<Uuid>) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let row = tx
            .query_opt(
                "UPDATE users SET token_generation = token_generation + 1 WHERE id = $1
                 RETURNING email, token_generation - 1",
                &[&user_id],
            )
            .await
            .map_err(map_error)?;
        let Some(row) = row else {
            return Ok(false);
        };
        if let Some(actor) = actor {
            let (email, generation): (String, i64) = (row.get(0), row.get(1));
            write_audit(&tx, &logout_audit(actor, user_id, &email, generation)).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(true)
    }

    async fn replace_password_hash(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let conn = self.connection().await?;
        let changed = conn
            .execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
                &[&new_hash, &user_id, &old_hash],
            )
            .await
            .map_err(map_error)?;
        Ok(changed == 1)
    }
}
