use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::AppPath;
use crate::domain::Candidate;

/// The ballot, ordered by name.
#[utoipa::path(
    get,
    path = "/api/candidates",
    tag = "ballot",
    responses((status = 200, description = "All candidates; while the database cannot be reached, the last copy with an `Age` header", body = Vec<Candidate>,
        headers(("Age" = Option<u64>, description = "seconds since the copy was read, when served from an older copy during a database outage"))))
)]
pub(super) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    // At most read_cache::MAX_AGE old, or the last copy with an `Age` header while the
    // database cannot be reached; see there.
    Ok(state.reads.candidates_json().await?.into_response())
}

/// Another name for GET /api/candidates, with the same answer.
#[utoipa::path(
    get,
    path = "/api/options",
    tag = "ballot",
    responses((status = 200, description = "All candidates; while the database cannot be reached, the last copy with an `Age` header", body = Vec<Candidate>,
        headers(("Age" = Option<u64>, description = "seconds since the copy was read, when served from an older copy during a database outage"))))
)]
pub(super) async fn options(state: State<AppState>) -> Result<Response, ApiError> {
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
pub(super) async fn get_one(
    State(state): State<AppState>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Candidate>, ApiError> {
    let candidate = state
        .store
        .candidate(id)
        .await?
        .ok_or(ApiError::CandidateNotFound)?;
    Ok(Json(candidate))
}
