//! GET /api/bench/ceiling/{bytes}: the HTTP ceiling `bench/run` compares the real read routes
//! with. It answers a fixed JSON body of exactly `bytes` bytes (`{"p":"xxx…"}`) through the same
//! router, middleware and connection handling as every other route, and does nothing else, so
//! "route rate / ceiling rate" is the share of the process's HTTP capacity a route reaches.
//!
//! Served only with `BENCH_CEILING_ROUTE=true`, which the configuration accepts only on a
//! loopback `BIND_ADDR` and which logs a warning at start-up; not part of the API contract (not
//! in the OpenAPI document).

use axum::body::Bytes;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::read_cache::json_response;

pub(crate) const CEILING_PATH: &str = "/api/bench/ceiling/{bytes}";
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
