use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::client_ip::ClientIp;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AuthUser};
use crate::domain::{Email, Password, User, records::rfc3339_utc};

/// Longest email and password a login considers (the registration rules' maxima). Longer
/// values are refused with 400 before any work: nothing registered can be that long, so the
/// answer reveals nothing about accounts.
const MAX_LOGIN_EMAIL_CHARS: usize = 254;
const MAX_LOGIN_PASSWORD_CHARS: usize = 128;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CredentialsBody {
    /// Trimmed and lowercased; at most 254 characters.
    #[schema(format = Email, max_length = 254, example = "ada@example.org")]
    email: String,
    /// 8 to 128 characters; at registration, not a common or easily guessed password (400
    /// `invalid_password` says why).
    #[schema(min_length = 8, max_length = 128, example = "correct horse battery")]
    password: String,
}

/// Creates a voter account. No request can create an admin.
#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "auth",
    request_body = CredentialsBody,
    responses(
        (status = 201, description = "Registered", body = User),
        (status = 400, description = "`invalid_request`, `invalid_email`, `invalid_password`", body = ErrorBody),
        (status = 403, description = "`registration_closed` (REGISTRATION=closed)", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many registrations from this address or for this email", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(super) async fn register(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppJson(body): AppJson<CredentialsBody>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if !state.registration_open {
        return Err(ApiError::RegistrationClosed);
    }
    let email = Email::parse(&body.email).map_err(|e| ApiError::InvalidEmail(e.0))?;
    let password = Password::parse_for_account(body.password, email.as_str())
        .map_err(|e| ApiError::InvalidPassword(e.0))?;
    state.limiter.check_register(client, &email).await?;
    let password_hash = state.hasher.hash(password).await?;
    let user = state.store.create_user(&email, &password_hash).await?;
    tracing::info!(user_id = %user.id, "registered");
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Serialize, ToSchema)]
pub(super) struct LoginResponse {
    /// HS256 JWT for `Authorization: Bearer <token>`.
    token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}

/// An unknown email, a malformed one and a wrong password all cost one argon2 verification and
/// all get the same 401, so responses reveal nothing about which accounts exist. The address
/// limit and the account lockout are checked first, so a flood costs no hashing.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body = CredentialsBody,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "`invalid_request`: missing field, or longer than any registered value", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 429, description = "`rate_limited`: too many attempts from this address, or the account is locked out after repeated failures", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppJson(body): AppJson<CredentialsBody>,
) -> Result<Json<LoginResponse>, ApiError> {
    if body.email.chars().count() > MAX_LOGIN_EMAIL_CHARS {
        return Err(ApiError::InvalidRequest(
            "email must be at most 254 characters".into(),
        ));
    }
    if body.password.chars().count() > MAX_LOGIN_PASSWORD_CHARS {
        return Err(ApiError::InvalidRequest(
            "password must be at most 128 characters".into(),
        ));
    }
    state.limiter.check_login_ip(client).await?;
    state.limiter.check_login_account(&body.email).await?;
    let credentials = match Email::parse(&body.email) {
        Ok(email) => state.store.credentials(&email).await?,
        Err(_) => None,
    };
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let verified = state
        .hasher
        .verify_upgrading(body.password, stored_hash)
        .await?;
    let credentials = credentials
        .filter(|_| verified.matches)
        .ok_or(ApiError::InvalidCredentials)?;
    let user_id = credentials.user_id;
    if let Some(new_hash) = verified.rehashed {
        // A legacy bcrypt hash: replaced with argon2id, unless the password changed meanwhile.
        // A failure here must not undo the login; the next one retries.
        match state
            .store
            .replace_password_hash(user_id, &credentials.password_hash, &new_hash)
            .await
        {
            Ok(replaced) => {
                tracing::info!(%user_id, replaced, "legacy bcrypt hash upgraded to argon2id")
            }
            Err(error) => {
                tracing::warn!(%user_id, error = %crate::store::error_chain(&error), "could not upgrade a legacy bcrypt hash")
            }
        }
    }
    state.limiter.login_succeeded(&body.email).await;
    let generation = state
        .store
        .token_owner(user_id)
        .await?
        .ok_or(ApiError::InvalidCredentials)?
        .generation;
    let issued = state.tokens.issue_session(user_id, generation, None);
    Ok(Json(LoginResponse {
        token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
    }))
}

#[derive(Serialize, ToSchema)]
pub(super) struct MeResponse {
    id: Uuid,
    email: String,
    #[serde(with = "rfc3339_utc")]
    #[schema(value_type = String, format = DateTime)]
    created_at: chrono::DateTime<chrono::Utc>,
    /// Whether the user has voted in the default election.
    has_voted: bool,
    /// Whether the account is an admin (may use the admin routes and the console).
    is_admin: bool,
    /// Per election the user may see, whether they have cast a ballot in it.
    elections: Vec<super::elections::VoterElection>,
}

/// The logged-in user.
#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The token's user", body = MeResponse))
)]
pub(super) async fn me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MeResponse>, ApiError> {
    let profile = state
        .store
        .user_profile(user.id)
        .await?
        .ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    let is_admin = state.store.user_role(user.id).await? == Some(crate::store::Role::Admin);
    Ok(Json(MeResponse {
        id: profile.user.id,
        email: profile.user.email,
        created_at: profile.user.created_at,
        has_voted: profile.has_voted,
        is_admin,
        elections: super::elections::voter_elections(&state, user.id).await?,
    }))
}

/// Ends the session for real: the account's token generation is incremented in the database, so
/// this token, and every other token of the account issued before, is refused by every instance
/// from now on (the account's other devices log in again).
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out; the account's tokens no longer work"),
        (status = 401, description = "`unauthorized`: no valid token (already logged out, expired)", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
    )
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    state.store.end_sessions(user.id, None).await?;
    tracing::info!(user_id = %user.id, "logged out");
    Ok(StatusCode::NO_CONTENT)
}
