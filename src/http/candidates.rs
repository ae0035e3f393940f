use axum::Json;
use axum::extract::{Path, State};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::domain::Candidate;

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Candidate>>, ApiError> {
    Ok(Json(state.store.candidates().await?))
}

pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
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
