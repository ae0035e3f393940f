//! Abuse limits, hard limits, trusted proxies and CORS: typed settings like every other, and the
//! one rule across them (the lockout maximum is not shorter than the first lockout).

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use super::{ConfigError, at_least};

/// Minimum JWT secret length when several instances share a PostgreSQL database.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Args)]
pub struct SecurityConfig {
    /// Addresses or CIDR ranges of reverse proxies (NGINX) whose X-Forwarded-For is believed,
    /// comma separated (e.g. 10.0.0.10/32). Unset: the client address is the socket's.
    #[arg(long, env = "TRUSTED_PROXIES", global = true, value_delimiter = ',', value_parser = proxy)]
    pub trusted_proxies: Vec<IpNet>,
    /// Origins allowed to call the API from a browser (CORS), comma separated, e.g.
    /// https://vote.example.org. Unset: CORS is off (same origin only).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", global = true, value_delimiter = ',', value_parser = origin)]
    pub cors_allowed_origins: Vec<String>,
    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", global = true, default_value_t = 15, value_parser = at_least(1u64))]
    pub request_timeout_seconds: u64,
    /// Largest accepted request line plus headers, in bytes.
    #[arg(long, env = "MAX_HEADER_BYTES", global = true, default_value_t = 16 * 1024, value_parser = at_least(1024usize))]
    pub max_header_bytes: usize,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", global = true, default_value_t = 16 * 1024, value_parser = at_least(1024usize))]
    pub max_body_bytes: usize,
    /// Password hashes computed at the same time [default: one per CPU core].
    #[arg(long, env = "ARGON2_MAX_CONCURRENT", global = true, value_parser = at_least(1usize))]
    pub argon2_max_concurrent: Option<usize>,
    /// Password hashes allowed to wait; beyond, 503 with Retry-After [default: 32 per
    /// concurrent hash].
    #[arg(long, env = "ARGON2_MAX_QUEUED", global = true, value_parser = at_least(0usize))]
    pub argon2_max_queued: Option<usize>,
    /// Login attempts per client address per minute, all instances together; 0: no limit.
    #[arg(long, env = "LOGIN_LIMIT_PER_IP", global = true, default_value_t = 300, value_parser = at_least(0u32))]
    pub login_limit_per_ip: u32,
    /// Registrations per client address per minute; 0: no limit.
    #[arg(long, env = "REGISTER_LIMIT_PER_IP", global = true, default_value_t = 100, value_parser = at_least(0u32))]
    pub register_limit_per_ip: u32,
    /// Registration attempts per email address per minute; 0: no limit.
    #[arg(long, env = "REGISTER_LIMIT_PER_ACCOUNT", global = true, default_value_t = 5, value_parser = at_least(0u32))]
    pub register_limit_per_account: u32,
    /// Failed logins per account within LOGIN_FAILURE_WINDOW_SECONDS before the account is
    /// locked; 0: no lockout.
    #[arg(long, env = "LOGIN_MAX_FAILURES", global = true, default_value_t = 10, value_parser = at_least(0u32))]
    pub login_max_failures: u32,
    /// Window in which failed logins are counted, in seconds.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW_SECONDS", global = true, default_value_t = 60, value_parser = at_least(1u64))]
    pub login_failure_window_seconds: u64,
    /// Length of the first lockout in seconds; each further one doubles.
    #[arg(long, env = "LOGIN_LOCKOUT_SECONDS", global = true, default_value_t = 60, value_parser = at_least(1u64))]
    pub login_lockout_seconds: u64,
    /// Longest lockout in seconds.
    #[arg(long, env = "LOGIN_LOCKOUT_MAX_SECONDS", global = true, default_value_t = 3600, value_parser = at_least(1u64))]
    pub login_lockout_max_seconds: u64,
    /// Seconds a client may take to send a request line and headers; then the connection is
    /// closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECONDS", global = true, default_value_t = 10, value_parser = at_least(1u64))]
    pub header_read_timeout_seconds: u64,
    /// Seconds a connection may stay without any byte read or written; then it is closed.
    #[arg(long, env = "IDLE_TIMEOUT_SECONDS", global = true, default_value_t = 60, value_parser = at_least(1u64))]
    pub idle_timeout_seconds: u64,
    /// Open connections per client address (IPv6: per /64) on the public port; beyond, new
    /// connections get a 503 and are closed. Connections from TRUSTED_PROXIES are not counted
    /// (NGINX limits its own clients); 0: no cap.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", global = true, default_value_t = 128, value_parser = at_least(0usize))]
    pub max_connections_per_ip: usize,
}

impl Default for SecurityConfig {
    /// Every limit at its default, whatever the environment holds.
    fn default() -> Self {
        super::defaults()
    }
}

impl SecurityConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.login_lockout_max_seconds < self.login_lockout_seconds {
            return Err(ConfigError::new(
                "LOGIN_LOCKOUT_MAX_SECONDS",
                "must not be shorter than LOGIN_LOCKOUT_SECONDS",
            ));
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds)
    }

    pub fn argon2_max_concurrent(&self) -> usize {
        self.argon2_max_concurrent
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
    }

    pub fn argon2_max_queued(&self) -> usize {
        self.argon2_max_queued
            .unwrap_or_else(|| self.argon2_max_concurrent().saturating_mul(32))
    }
}

/// `10.0.0.10`, `10.0.0.0/24`, `::1` or `fd00::/8`.
fn proxy(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{entry:?} is not an IP address or CIDR range"))
}

/// Exact origins only: a wildcard would let any site drive the API with a voter's token.
fn origin(entry: &str) -> Result<String, String> {
    let entry = entry.trim();
    let host = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"));
    let valid = host.is_some_and(|host| {
        !host.is_empty()
            && !host.contains('/')
            && host
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '*' && c != ',')
    });
    if valid {
        Ok(entry.to_ascii_lowercase())
    } else {
        Err(format!(
            "{entry:?} is not an origin such as https://vote.example.org (no path, no wildcard)"
        ))
    }
}
