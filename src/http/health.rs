use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::openapi::HealthBody;

/// How long the database may take to answer before the instance reports itself degraded.
const DATABASE_DEADLINE: Duration = Duration::from_secs(2);

/// For load balancers: 200 while the database (the writable primary) answers, 503 otherwise.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = super::openapi::HealthBody,
            example = json!({"status": "ok", "database": "ok"})),
        (status = 503, description = "The database does not answer within 2 s", body = super::openapi::HealthBody,
            example = json!({"status": "degraded", "database": "unavailable"})),
    )
)]
pub(super) async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthBody>) {
    match tokio::time::timeout(DATABASE_DEADLINE, state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(HealthBody {
                status: "ok",
                database: "ok",
            }),
        ),
        outcome => {
            let reason = match outcome {
                Ok(Err(e)) => crate::store::error_chain(&e),
                _ => format!("no answer within {DATABASE_DEADLINE:?}"),
            };
            tracing::warn!(%reason, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthBody {
                    status: "degraded",
                    database: "unavailable",
                }),
            )
        }
    }
}
