//! Prometheus metrics, served on a separate private listener (`METRICS_ADDR`) so they are never
//! exposed through the public API or NGINX.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use std::sync::Arc;

use crate::metric_names::{
    DB_RECONNECTS_TOTAL, POOL_AVAILABLE, POOL_MAX, POOL_SIZE, RATE_LIMITED_TOTAL, REQUEST_DURATION,
    REQUESTS_TOTAL, VOTES_CAST_TOTAL,
};
use crate::store::Store;

/// The process-wide recorder; the `metrics` macros report to it. Installed once, so several
/// applications in one process (the tests) share it.
pub(crate) fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(REQUEST_DURATION.to_owned()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is already installed; then ours renders nothing, which is
        // preferable to refusing to start.
        let _ = metrics::set_global_recorder(recorder);
        metrics::describe_counter!(REQUESTS_TOTAL, "HTTP requests by matched route and status");
        metrics::describe_histogram!(
            REQUEST_DURATION,
            metrics::Unit::Seconds,
            "HTTP request latency by route"
        );
        metrics::describe_counter!(VOTES_CAST_TOTAL, "Votes stored (replays not counted)");
        metrics::describe_counter!(
            DB_RECONNECTS_TOTAL,
            "Database connections re-established after a failure"
        );
        metrics::describe_counter!(
            RATE_LIMITED_TOTAL,
            "Attempts refused by a rate limit, by scope"
        );
        metrics::describe_gauge!(POOL_SIZE, "Open database connections");
        metrics::describe_gauge!(POOL_AVAILABLE, "Idle database connections");
        metrics::describe_gauge!(POOL_MAX, "Maximum database connections");
        handle
    })
}

/// The router of the private metrics listener.
pub(crate) fn router(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(store)
}

async fn render(State(store): State<Arc<dyn Store>>) -> Response {
    let pool = store.pool_status();
    metrics::gauge!(POOL_SIZE).set(pool.size as f64);
    metrics::gauge!(POOL_AVAILABLE).set(pool.available as f64);
    metrics::gauge!(POOL_MAX).set(pool.max_size as f64);
    metrics::counter!(DB_RECONNECTS_TOTAL).absolute(pool.reconnects);
    let mut response = handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
