use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AuthUser};
use super::{AppState, IDEMPOTENT_REPLAYED};
use crate::domain::{IdempotencyKey, Vote};
use crate::store::Ballot;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct VoteBody {
    candidate_id: Uuid,
}

/// Casts the user's one vote. With an `Idempotency-Key`, a retry of the same request (for
/// example after a lost response, or by NGINX on another backend) gets the original 201 back.
#[utoipa::path(
    post,
    path = "/api/votes",
    tag = "votes",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$",
        description = "1 to 255 printable ASCII characters without spaces, e.g. a UUID; a retry with the same key gets the original answer")),
    request_body = VoteBody,
    responses(
        (status = 201, description = "Vote stored (or replayed for a retried key)", body = Vote,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replay"))),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 404, description = "`candidate_not_found`", body = ErrorBody),
        (status = 409, description = "`already_voted`", body = ErrorBody),
        (status = 422, description = "`idempotency_key_reused`: same key, other candidate", body = ErrorBody),
    )
)]
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
    // Its own task: if this request is dropped (request timeout, client gone) the vote's
    // transaction still runs to its end, including the wait for the synchronous standby, and
    // its connection goes back to the pool clean.
    let store = std::sync::Arc::clone(&state.store);
    let began = std::time::Instant::now();
    let cast = tokio::spawn(async move { store.cast_vote(&ballot).await })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    if !cast.replayed {
        // This instance's cached results count the vote at once.
        state.reads.vote_recorded(cast.vote.candidate_id, began);
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

/// The user's vote.
#[utoipa::path(
    get,
    path = "/api/votes/me",
    tag = "votes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's vote", body = Vote),
        (status = 404, description = "`not_voted`", body = ErrorBody),
    )
)]
pub async fn mine(State(state): State<AppState>, user: AuthUser) -> Result<Json<Vote>, ApiError> {
    match state.store.vote_of(user.id).await? {
        Some(vote) => Ok(Json(vote)),
        // A token can outlive its account; that is a 401, not "has not voted".
        None if state.store.user_role(user.id).await?.is_none() => {
            Err(ApiError::Unauthorized("this account no longer exists"))
        }
        None => Err(ApiError::NotVoted),
    }
}
