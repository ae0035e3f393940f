//! Names of the Prometheus metrics. A leaf module: the HTTP layer records and describes them,
//! and nothing here depends on any other part of the crate.

pub const REQUESTS_TOTAL: &str = "securevote_http_requests_total";
pub const REQUEST_DURATION: &str = "securevote_http_request_duration_seconds";
pub const VOTES_CAST_TOTAL: &str = "securevote_votes_cast_total";
/// Refused attempts, by scope.
pub const RATE_LIMITED_TOTAL: &str = "securevote_rate_limited_total";
/// Successful database connections made after a failed attempt (the store's pool status).
pub const DB_RECONNECTS_TOTAL: &str = "securevote_db_reconnects_total";
pub const POOL_SIZE: &str = "securevote_db_pool_connections";
pub const POOL_AVAILABLE: &str = "securevote_db_pool_available";
pub const POOL_MAX: &str = "securevote_db_pool_max_connections";
