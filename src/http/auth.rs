use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{AppJson, AuthUser};
use crate::domain::{Email, Password, User, records::rfc3339_utc};

#[derive(Deserialize)]
pub struct CredentialsBody {
    email: String,
    password: String,
}

pub async fn register(
    State(state): State<AppState>,
    AppJson(body): AppJson<CredentialsBody>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::InvalidEmail(e.0))?;
    let password = Password::parse(body.password).map_err(|e| ApiError::InvalidPassword(e.0))?;
    let password_hash = state.hasher.hash(password).await?;
    let user = state.store.create_user(&email, &password_hash).await?;
    tracing::info!(user_id = %user.id, "registered");
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Serialize)]
pub struct LoginResponse {
    token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// An unknown email, a malformed one and a wrong password all cost one argon2 verification and
/// all get the same 401, so responses reveal nothing about which accounts exist.
pub async fn login(
    State(state): State<AppState>,
    AppJson(body): AppJson<CredentialsBody>,
) -> Result<Json<LoginResponse>, ApiError> {
    let credentials = match Email::parse(&body.email) {
        Ok(email) => state.store.credentials(&email).await?,
        Err(_) => None,
    };
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let verified = state.hasher.verify(body.password, stored_hash).await?;
    let user_id = credentials
        .filter(|_| verified)
        .map(|c| c.user_id)
        .ok_or(ApiError::InvalidCredentials)?;
    let issued = state.tokens.issue(user_id);
    Ok(Json(LoginResponse {
        token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
    }))
}

#[derive(Serialize)]
pub struct MeResponse {
    id: Uuid,
    email: String,
    #[serde(with = "rfc3339_utc")]
    created_at: chrono::DateTime<chrono::Utc>,
    has_voted: bool,
}

pub async fn me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MeResponse>, ApiError> {
    let profile = state
        .store
        .user_profile(user.id)
        .await?
        .ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    Ok(Json(MeResponse {
        id: profile.user.id,
        email: profile.user.email,
        created_at: profile.user.created_at,
        has_voted: profile.has_voted,
    }))
}
