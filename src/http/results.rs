use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiError;
use crate::domain::Tally;

/// Votes per candidate, most votes first; candidates without votes included.
#[utoipa::path(
    get,
    path = "/api/results",
    tag = "ballot",
    responses((status = 200, description = "The tally", body = Tally))
)]
pub async fn tally(State(state): State<AppState>) -> Result<Json<Tally>, ApiError> {
    Ok(Json(state.store.tally().await?))
}
