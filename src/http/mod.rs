//! The HTTP API: router, shared state and cross-cutting layers (logging, security headers,
//! CORS, request timeout, header and body limits, panic safety). One file per resource; the
//! routes and their OpenAPI document are declared together in [`api_routes`].

mod admin;
mod auth;
pub(crate) mod bench;
pub(crate) mod board;
mod board_writer;
mod candidates;
mod ceremony;
mod client_ip;
mod downloads;
pub(crate) mod election_cache;
mod elections;
mod error;
mod extract;
mod health;
mod invitations;
mod limits;
pub(crate) mod metrics;
mod openapi;
pub(crate) mod rate_limit;
pub mod read_cache;
mod results;
mod rolls;
mod votes;
mod web;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::config::SecurityConfig;
use crate::store::Store;
use error::ApiError;
use rate_limit::RateLimiter;

/// Only same-origin resources; no inline script or style; never framed.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the handlers share. axum clones it for every request, so it is one `Arc` (its fields
/// are reached through `Deref`): a request clones and drops one reference count, not one per
/// shared part.
#[derive(Clone)]
pub(crate) struct AppState(Arc<SharedState>);

impl AppState {
    pub(crate) fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub(crate) struct SharedState {
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub tokens: Arc<TokenKeys>,
    /// Trusted proxies, CORS and the hard and abuse limits.
    pub security: Arc<SecurityConfig>,
    pub limiter: Arc<RateLimiter>,
    /// The candidate list and results as cached JSON; told about votes and ballot changes.
    pub reads: Arc<read_cache::ReadCache>,
    /// Frozen elections' ballots, the default election and released results.
    pub elections: Arc<election_cache::ElectionCache>,
    /// `REGISTRATION=open`: anyone may register an account.
    pub registration_open: bool,
    /// `BENCH_CEILING_ROUTE`: also serve the benchmark's HTTP ceiling route.
    pub bench_ceiling_route: bool,
    /// The key voters' pseudonyms in encrypted elections are derived with (docs §4.1).
    pub pseudonym_key: [u8; 32],
    /// Encrypted elections' settings and setup events, as far as they are frozen.
    pub encrypted: Arc<board::EncryptedElections>,
    /// Groups concurrent encrypted ballots of an election into one board append.
    pub board_writer: Arc<board_writer::BoardWriter>,
}

pub(crate) fn router(state: AppState) -> Router {
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

    let security = Arc::clone(&state.security);
    let (api, _) = api_routes().split_for_parts();
    // Not part of the API (no OpenAPI entry): bench/run's yardstick, on loopback, on request.
    let api = if state.bench_ceiling_route {
        api.route(bench::CEILING_PATH, axum::routing::get(bench::ceiling))
            .route(
                bench::BALLOT_CEILING_PATH,
                axum::routing::post(bench::ballot_ceiling),
            )
    } else {
        api
    };
    api.fallback(web::static_or_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(security.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            security.request_timeout(),
            limits::request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            security.max_header_bytes,
            limits::header_size,
        ))
        .layer(middleware::from_fn(log_request))
        .layer(tower::util::option_layer(limits::cors(&security)))
        .layer(security_headers)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("request handler panicked")).into_response()
        }))
        .with_state(state)
}

/// Every route the API serves, each registered together with its OpenAPI documentation (the
/// path and method come from the handler's `#[utoipa::path]`), so the document at
/// /api/openapi.json cannot list a route that is not served or miss one that is. Add routes
/// here, with `routes!`, never with a plain `.route()`.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(health::health))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::me))
        .routes(routes!(auth::logout))
        .routes(routes!(candidates::options))
        .routes(routes!(candidates::list, admin::create_candidate))
        .routes(routes!(
            candidates::get_one,
            admin::update_candidate,
            admin::delete_candidate
        ))
        .routes(routes!(votes::cast))
        .routes(routes!(votes::mine))
        .routes(routes!(results::tally))
        .routes(routes!(elections::list, elections::create))
        .routes(routes!(
            elections::get_one,
            elections::update,
            elections::delete
        ))
        .routes(routes!(elections::schedule))
        .routes(routes!(elections::open))
        .routes(routes!(elections::close))
        .routes(routes!(elections::extend))
        .routes(routes!(elections::publish))
        .routes(routes!(elections::archive))
        .routes(routes!(elections::make_default))
        .routes(routes!(elections::cast))
        .routes(routes!(elections::results))
        .routes(routes!(ceremony::set_encryption))
        .routes(routes!(ceremony::ceremony))
        .routes(routes!(ceremony::upload_key, ceremony::list_keys))
        .routes(routes!(ceremony::upload_share, ceremony::list_shares))
        .routes(routes!(board::board))
        .routes(routes!(board::archive))
        .routes(routes!(board::decrypt))
        .routes(routes!(board::voter_credential))
        .routes(routes!(board::spoil))
        .routes(routes!(rolls::turnout))
        .routes(routes!(rolls::turnout_csv))
        .routes(routes!(rolls::page))
        .routes(routes!(
            invitations::send_invitations,
            invitations::deliveries
        ))
        .routes(routes!(invitations::send_reminders))
        .routes(routes!(invitations::resend))
        .routes(routes!(invitations::failures_csv))
        .routes(routes!(invitations::magic_sign_in))
        .routes(routes!(invitations::request_link))
        .merge(
            // A roll is far larger than any other request body.
            OpenApiRouter::new()
                .routes(routes!(rolls::import))
                .layer(DefaultBodyLimit::max(rolls::MAX_ROLL_BYTES)),
        )
        .routes(routes!(elections::export_blt))
        .routes(routes!(admin::stats))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::logout_user))
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
    ::metrics::counter!(crate::metric_names::REQUESTS_TOTAL, "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    ::metrics::histogram!(crate::metric_names::REQUEST_DURATION, "route" => route)
        .record(latency.as_secs_f64());
    response
}

/// Header the API sets on a vote replayed for a retried `Idempotency-Key`.
pub(crate) const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
