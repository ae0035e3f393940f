//! Extractors whose rejections are [`ApiError`]s, so malformed requests get JSON errors too.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;

/// `Json<T>` with JSON error bodies: 415 for a missing JSON content type, 413 for a body over
/// the limit, 400 `invalid_request` for malformed JSON or a missing or mistyped field.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
                JsonRejection::JsonSyntaxError(_) => {
                    ApiError::InvalidRequest("request body is not valid JSON".into())
                }
                JsonRejection::JsonDataError(e) => {
                    ApiError::InvalidRequest(data_error_message(&e.body_text()))
                }
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::InvalidRequest(other.body_text()),
            }),
        }
    }
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
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
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
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::Unauthorized(
                "Authorization header must be: Bearer <token>",
            ))?;
        let id = state
            .tokens
            .verify(token)
            .ok_or(ApiError::Unauthorized("invalid or expired token"))?;
        Ok(Self { id })
    }
}
