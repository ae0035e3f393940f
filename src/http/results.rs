use axum::extract::State;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use super::read_cache::json_response;
#[allow(unused_imports)] // named by the OpenAPI annotation below
use crate::domain::Tally;

/// Votes per candidate, most votes first; candidates without votes included.
#[utoipa::path(
    get,
    path = "/api/results",
    tag = "ballot",
    responses((status = 200, description = "The tally", body = Tally))
)]
pub(super) async fn tally(State(state): State<AppState>) -> Result<Response, ApiError> {
    // At most read_cache::MAX_AGE old, and with this instance's own votes at once; see there.
    Ok(json_response(state.reads.results_json().await?))
}
