use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{AppJson, AuthUser};
use super::{AppState, IDEMPOTENT_REPLAYED};
use crate::domain::{IdempotencyKey, Vote};
use crate::store::Ballot;

#[derive(Deserialize)]
pub struct VoteBody {
    candidate_id: Uuid,
}

/// Casts the user's one vote. With an `Idempotency-Key`, a retry of the same request (for
/// example after a lost response, or by NGINX on another backend) gets the original 201 back.
pub async fn cast(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    AppJson(body): AppJson<VoteBody>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let raw = value.to_str().map_err(|_| {
                ApiError::InvalidRequest("Idempotency-Key must be printable ASCII".into())
            })?;
            Some(IdempotencyKey::parse(raw).map_err(|e| ApiError::InvalidRequest(e.0.into()))?)
        }
    };
    let ballot = Ballot {
        user_id: user.id,
        candidate_id: body.candidate_id,
        idempotency_key,
    };
    let cast = state.store.cast_vote(&ballot).await?;
    if !cast.replayed {
        tracing::info!(user_id = %user.id, vote_id = %cast.vote.id, "vote cast");
        ::metrics::counter!(super::metrics::VOTES_CAST_TOTAL).increment(1);
    }
    let mut response = (StatusCode::CREATED, Json(cast.vote)).into_response();
    if cast.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

pub async fn mine(State(state): State<AppState>, user: AuthUser) -> Result<Json<Vote>, ApiError> {
    let vote = state
        .store
        .vote_of(user.id)
        .await?
        .ok_or(ApiError::NotVoted)?;
    Ok(Json(vote))
}
