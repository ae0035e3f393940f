//! The store's session side: the per-account token generation that ends sessions, and the
//! replacement of a legacy password hash after a successful login.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;

/// What a token's check reads of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// Tokens of an earlier generation are ended.
    pub generation: i64,
    pub email: String,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The account's current token generation and email (one primary-key lookup, which every
    /// authenticated request makes); `None` when the account does not exist.
    async fn token_owner(&self, user_id: Uuid) -> Result<Option<TokenOwner>, StoreError>;
    /// Ends every session of the account: increments its token generation, so tokens issued
    /// before are refused by every instance. With an actor (an admin), the change is audited
    /// (`user.logout_everywhere`) in the same transaction. `false` when there is no such account.
    async fn end_sessions(&self, user_id: Uuid, actor: Option<Uuid>) -> Result<bool, StoreError>;
    /// Replaces the account's password hash with `new_hash` if it is still `old_hash` (one
    /// statement, so a concurrent password change is never overwritten); whether it did.
    async fn replace_password_hash(
        &self,
        user_id: Uuid,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError>;
}

/// The audit record of an admin signing an account out everywhere.
pub fn logout_audit(
    actor: Uuid,
    user_id: Uuid,
    email: &str,
    generation: i64,
) -> super::AuditRecord {
    super::AuditRecord {
        actor_id: Some(actor),
        action: "user.logout_everywhere",
        target_type: "user",
        target_id: user_id.to_string(),
        before: Some(serde_json::json!({"email": email, "token_generation": generation})),
        after: Some(serde_json::json!({"email": email, "token_generation": generation + 1})),
    }
}
