//! Hard limits on every request (time, header size) and the CORS policy. Bodies are limited by
//! axum's `DefaultBodyLimit` in the router; password hashing by [`crate::auth::PasswordHasher`].

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::ApiError;
use crate::config::SecurityConfig;

/// Answers 503 `unavailable` (JSON, with `Retry-After`) when a request runs past the timeout,
/// instead of tower-http's empty 408 (which would blame the client).
///
/// The handler's future is dropped, but nothing in flight is cancelled at the database: the vote
/// runs in its own task (see `votes::cast`), and the store never sends a cancel request, so a
/// commit waiting for the synchronous standby still completes; a retry with the same
/// Idempotency-Key then gets the original 201.
pub(super) async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut.into_response(),
    }
}

/// Refuses requests whose request line and headers exceed the limit with a JSON 431. (hyper
/// itself refuses far larger heads, around 400 KiB, before any of this code runs.)
pub(super) async fn header_size(
    State(max_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let uri = request.uri();
    let head = request.method().as_str().len()
        + uri
            .path_and_query()
            .map_or(0, |target| target.as_str().len())
        + uri
            .authority()
            .map_or(0, |authority| authority.as_str().len())
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head > max_bytes {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// `None` (no CORS headers at all: browsers allow same-origin calls only) unless origins are
/// configured. Tokens travel in the Authorization header, never in cookies, so no credentials
/// mode is needed.
pub(super) fn cors(config: &SecurityConfig) -> Option<CorsLayer> {
    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([header::RETRY_AFTER, super::IDEMPOTENT_REPLAYED])
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_slow_request_gets_a_json_503_with_retry_after() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "done"
                }),
            )
            .route("/fast", get(|| async { "done" }))
            .layer(from_fn_with_state(
                Duration::from_millis(50),
                request_timeout,
            ));

        let slow = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let fast = app
            .oneshot(Request::get("/fast").body(Body::empty()).unwrap())
            .await
            .unwrap();

        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(slow.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(slow.into_body(), 4096).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "unavailable");
        assert_eq!(fast.status(), StatusCode::OK);
    }
}
