//! The HTTP API: router, shared state and cross-cutting layers (logging, security headers,
//! body limit, panic safety). One file per resource.

mod auth;
mod candidates;
pub mod error;
mod extract;
mod health;
pub mod metrics;
mod results;
mod votes;
mod web;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::store::Store;
use error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Only same-origin resources; no inline script or style; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub tokens: Arc<TokenKeys>,
}

pub fn router(state: AppState) -> Router {
    let security_headers = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // API answers carry tokens and personal data; static files set their own policy.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    Router::new()
        .route("/health", get(health::health))
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/me", get(auth::me))
        .route("/api/options", get(candidates::list))
        .route("/api/candidates", get(candidates::list))
        .route("/api/candidates/{id}", get(candidates::get_one))
        .route("/api/votes", post(votes::cast))
        .route("/api/votes/me", get(votes::mine))
        .route("/api/results", get(results::tally))
        .fallback(web::static_or_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .layer(security_headers)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("request handler panicked")).into_response()
        }))
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// One log line per request with the matched route (not the raw path, which may hold ids).
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", %method, %route);
    let response = next.run(request).instrument(span.clone()).await;
    let _entered = span.enter();
    let latency = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        status,
        latency_ms = (latency.as_micros() as f64) / 1000.0,
        "request"
    );
    ::metrics::counter!(metrics::REQUESTS_TOTAL, "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    ::metrics::histogram!(metrics::REQUEST_DURATION, "route" => route)
        .record(latency.as_secs_f64());
    response
}

/// Header the API sets on a vote replayed for a retried `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
