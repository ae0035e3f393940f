//! GET /api/bench/ceiling/{bytes}: the HTTP ceiling `bench/run` compares the real read routes
//! with. It answers a fixed JSON body of exactly `bytes` bytes (`{"p":"xxx…"}`) through the same
//! router, middleware and connection handling as every other route, and does nothing else, so
//! "route rate / ceiling rate" is the share of the process's HTTP capacity a route reaches.
//!
//!
//! POST /api/bench/ceiling/ballots/{id}: the ceiling of casting an encrypted ballot, the same
//! request as POST /api/elections/{id}/ballots (`{"encrypted": ballot}`, a voter's token) parsed
//! and verified as that route does, answered without touching the database
//! (`board::verify_without_storing`).
//!
//! Served only with `BENCH_CEILING_ROUTE=true`, which the configuration accepts only on a
//! loopback `BIND_ADDR` and which logs a warning at start-up; not part of the API contract (not
//! in the OpenAPI document).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{AppJson, AppPath, AuthUser};
use super::read_cache::json_response;

pub(crate) const CEILING_PATH: &str = "/api/bench/ceiling/{bytes}";
pub(crate) const BALLOT_CEILING_PATH: &str = "/api/bench/ceiling/ballots/{id}";

/// The casting route's body, as it reads it in an encrypted election.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CeilingBallot {
    encrypted: Option<Value>,
}

pub(super) async fn ballot_ceiling(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<CeilingBallot>,
) -> Result<Response, ApiError> {
    if user.election.is_some_and(|scope| scope != id) {
        return Err(ApiError::NotEligible);
    }
    super::board::verify_without_storing(&state, id, body.encrypted).await
}
/// `{"p":""}`: the smallest body.
const MIN_BYTES: usize = 8;
/// Enough for any real answer; keeps the route from being an amplifier.
const MAX_BYTES: usize = 64 * 1024;

pub(crate) async fn ceiling(uri: Uri) -> Response {
    let size = uri
        .path()
        .rsplit('/')
        .next()
        .and_then(|last| last.parse::<usize>().ok())
        .filter(|n| (MIN_BYTES..=MAX_BYTES).contains(n));
    match size {
        Some(size) => json_response(body_of(size)),
        None => ApiError::InvalidRequest(format!(
            "the body size must be a number from {MIN_BYTES} to {MAX_BYTES}"
        ))
        .into_response(),
    }
}

fn body_of(size: usize) -> Bytes {
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(br#"{"p":""#);
    body.resize(size - 2, b'x');
    body.extend_from_slice(br#""}"#);
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_of_exactly_the_asked_size() {
        for size in [MIN_BYTES, 9, 431, MAX_BYTES] {
            let body = body_of(size);
            assert_eq!(body.len(), size);
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(value["p"].is_string());
        }
    }
}
