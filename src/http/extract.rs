//! Extractors whose rejections are [`ApiError`]s, so malformed requests get JSON errors too.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;

/// A JSON object body with JSON error bodies: 415 for a missing JSON content type, 413 for a
/// body over the limit, 400 `invalid_request` for malformed JSON, a body that is not an object
/// (serde would otherwise accept `[email, password]` for a struct), or a missing or mistyped
/// field.
pub(super) struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest("could not read the request body".into())
            }
        })?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(ApiError::InvalidRequest(
                "request body must be a JSON object".into(),
            ));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::InvalidRequest(data_error_message(&e.body_text())))
            }
            Err(_) => Err(ApiError::InvalidRequest(
                "request body is not valid JSON".into(),
            )),
        }
    }
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// serde's message without axum's prefix, cut short so a huge value is not echoed back.
fn data_error_message(text: &str) -> String {
    let detail = text.split_once(": ").map_or(text, |(_, rest)| rest);
    let mut message: String = detail.chars().take(200).collect();
    if detail.chars().count() > 200 {
        message.push('…');
    }
    format!("invalid request body: {message}")
}

/// The authenticated user, from `Authorization: Bearer <token>`. Handlers that take it are
/// protected; a missing, malformed, expired or forged token is a 401.
#[derive(Debug, Clone)]
pub(super) struct AuthUser {
    pub id: Uuid,
    /// Signed in by an invitation link: the one election this sign-in is for.
    pub election: Option<Uuid>,
    /// The account's email, read with its token generation: an encrypted ballot's pseudonym.
    pub email: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "missing Authorization: Bearer token",
            ))?;
        Self::from_header(header, state).await
    }
}

/// Whoever is asking, on routes open to everyone that show admins more. Without a valid token
/// (none, malformed, expired or ended) the caller is simply not an admin: these routes never
/// answer 401.
#[derive(Debug, Clone, Copy)]
pub(super) struct MaybeUser {
    pub is_admin: bool,
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Self { is_admin: false });
        };
        let user = match AuthUser::from_header(header, state).await {
            Ok(user) => user,
            Err(ApiError::Unauthorized(_)) => return Ok(Self { is_admin: false }),
            Err(other) => return Err(other),
        };
        let is_admin = user.election.is_none()
            && matches!(
                state.store.user_role(user.id).await?,
                Some(crate::store::Role::Admin)
            );
        Ok(Self { is_admin })
    }
}

impl AuthUser {
    /// A valid token whose generation is still the account's: one primary-key lookup, so a
    /// logout on any instance ends the token everywhere at once.
    async fn from_header(
        header: &axum::http::HeaderValue,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::Unauthorized(
                "Authorization header must be: Bearer <token>",
            ))?;
        let subject = state
            .tokens
            .verify_subject(token)
            .ok_or(ApiError::Unauthorized("invalid or expired token"))?;
        match state.store.token_owner(subject.user_id).await? {
            None => Err(ApiError::Unauthorized("this account no longer exists")),
            Some(owner) if owner.generation != subject.generation => Err(ApiError::Unauthorized(
                "this session has ended; log in again",
            )),
            Some(owner) => Ok(Self {
                id: subject.user_id,
                election: subject.election,
                email: owner.email,
            }),
        }
    }
}

/// An authenticated user with the admin role. The role is read from the database on every
/// request (one primary-key lookup), so demoting an admin takes effect at once, whatever
/// tokens they hold. A voter gets 403; a token of a deleted account 401.
#[derive(Debug, Clone, Copy)]
pub(super) struct AdminUser {
    pub id: Uuid,
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.election.is_some() {
            // An invitation link signs a voter in to vote, never to administer.
            return Err(ApiError::Forbidden);
        }
        match state.store.user_role(user.id).await? {
            Some(crate::store::Role::Admin) => Ok(Self { id: user.id }),
            Some(crate::store::Role::Voter) => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthorized("this account no longer exists")),
        }
    }
}

/// A path parameter whose rejection (e.g. invalid percent-encoding) is a JSON 400.
pub(super) struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| {
                ApiError::InvalidRequest(format!(
                    "invalid path parameter: {}",
                    rejection.body_text()
                ))
            })
    }
}

/// Query parameters whose rejection is a JSON 400 naming the problem.
pub(super) struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let detail: String = text
                    .split_once(": ")
                    .map_or(text.as_str(), |(_, rest)| rest)
                    .chars()
                    .take(200)
                    .collect();
                ApiError::InvalidRequest(format!("invalid query string: {detail}"))
            })
    }
}
