use axum::Json;
use axum::extract::State;
use axum::response::Response;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::AppPath;
use super::read_cache::json_response;
use crate::domain::Candidate;

/// The ballot, ordered by name.
#[utoipa::path(
    get,
    path = "/api/candidates",
    tag = "ballot",
    responses((status = 200, description = "All candidates", body = Vec<Candidate>))
)]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    // At most read_cache::MAX_AGE old; see there.
    Ok(json_response(state.reads.candidates_json().await?))
}

/// The original design's name for GET /api/candidates.
#[utoipa::path(
    get,
    path = "/api/options",
    tag = "ballot",
    responses((status = 200, description = "All candidates", body = Vec<Candidate>))
)]
pub async fn options(state: State<AppState>) -> Result<Response, ApiError> {
    list(state).await
}

/// One candidate.
#[utoipa::path(
    get,
    path = "/api/candidates/{id}",
    tag = "ballot",
    params(("id" = String, Path, description = "Candidate id (UUID)")),
    responses(
        (status = 200, description = "The candidate", body = Candidate),
        (status = 400, description = "`invalid_request`: not a UUID", body = ErrorBody),
        (status = 404, description = "`candidate_not_found`", body = ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<Candidate>, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::InvalidRequest("candidate id must be a UUID".into()))?;
    let candidate = state
        .store
        .candidate(id)
        .await?
        .ok_or(ApiError::CandidateNotFound)?;
    Ok(Json(candidate))
}
