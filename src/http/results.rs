use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiError;
use crate::domain::Tally;

pub async fn tally(State(state): State<AppState>) -> Result<Json<Tally>, ApiError> {
    Ok(Json(state.store.tally().await?))
}
