//! Settings of the abuse limits and hard limits, validated like every other setting: a bad value
//! stops start-up with one line naming it.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use super::{ConfigError, non_empty, parse_or};

#[derive(Debug, Clone, Default, Args)]
pub struct SecuritySettings {
    /// Addresses or CIDR ranges of reverse proxies (NGINX) whose X-Forwarded-For is believed,
    /// comma separated (e.g. 10.0.0.10/32). Unset: the client address is the socket's.
    #[arg(long, env = "TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Origins allowed to call the API from a browser (CORS), comma separated, e.g.
    /// https://vote.example.org. Unset: CORS is off (same origin only).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", global = true)]
    pub cors_allowed_origins: Option<String>,
    /// Seconds a request may take before it is answered with 503 [default: 15].
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", global = true)]
    pub request_timeout_seconds: Option<String>,
    /// Largest accepted request line plus headers, in bytes [default: 16384].
    #[arg(long, env = "MAX_HEADER_BYTES", global = true)]
    pub max_header_bytes: Option<String>,
    /// Largest accepted request body, in bytes [default: 16384].
    #[arg(long, env = "MAX_BODY_BYTES", global = true)]
    pub max_body_bytes: Option<String>,
    /// Password hashes computed at the same time [default: one per CPU core].
    #[arg(long, env = "ARGON2_MAX_CONCURRENT", global = true)]
    pub argon2_max_concurrent: Option<String>,
    /// Password hashes allowed to wait; beyond, 503 with Retry-After [default: 32 per
    /// concurrent hash].
    #[arg(long, env = "ARGON2_MAX_QUEUED", global = true)]
    pub argon2_max_queued: Option<String>,
    /// Login attempts per client address per minute, all instances together; 0: no limit
    /// [default: 300].
    #[arg(long, env = "LOGIN_LIMIT_PER_IP", global = true)]
    pub login_limit_per_ip: Option<String>,
    /// Registrations per client address per minute; 0: no limit [default: 100].
    #[arg(long, env = "REGISTER_LIMIT_PER_IP", global = true)]
    pub register_limit_per_ip: Option<String>,
    /// Registration attempts per email address per minute; 0: no limit [default: 5].
    #[arg(long, env = "REGISTER_LIMIT_PER_ACCOUNT", global = true)]
    pub register_limit_per_account: Option<String>,
    /// Failed logins per account within LOGIN_FAILURE_WINDOW_SECONDS before the account is
    /// locked; 0: no lockout [default: 10].
    #[arg(long, env = "LOGIN_MAX_FAILURES", global = true)]
    pub login_max_failures: Option<String>,
    /// Window in which failed logins are counted [default: 60].
    #[arg(long, env = "LOGIN_FAILURE_WINDOW_SECONDS", global = true)]
    pub login_failure_window_seconds: Option<String>,
    /// Length of the first lockout; each further one doubles [default: 60].
    #[arg(long, env = "LOGIN_LOCKOUT_SECONDS", global = true)]
    pub login_lockout_seconds: Option<String>,
    /// Longest lockout [default: 3600].
    #[arg(long, env = "LOGIN_LOCKOUT_MAX_SECONDS", global = true)]
    pub login_lockout_max_seconds: Option<String>,
}

/// Validated abuse and hard limits of one instance.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    pub trusted_proxies: Vec<IpNet>,
    /// Exact origins (`scheme://host[:port]`); empty means CORS is off.
    pub cors_allowed_origins: Vec<String>,
    pub request_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    pub argon2_max_concurrent: usize,
    pub argon2_max_queued: usize,
    pub login_limit_per_ip: u32,
    pub register_limit_per_ip: u32,
    pub register_limit_per_account: u32,
    pub login_max_failures: u32,
    pub login_failure_window: Duration,
    pub login_lockout: Duration,
    pub login_lockout_max: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self::from_settings(&SecuritySettings::default())
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl SecurityConfig {
    pub fn from_settings(settings: &SecuritySettings) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let argon2_max_concurrent = at_least(
            parse_or(
                &settings.argon2_max_concurrent,
                "ARGON2_MAX_CONCURRENT",
                cores,
            )?,
            1,
            "ARGON2_MAX_CONCURRENT",
        )?;
        let login_failure_window = seconds(
            &settings.login_failure_window_seconds,
            "LOGIN_FAILURE_WINDOW_SECONDS",
            60,
        )?;
        let login_lockout = seconds(&settings.login_lockout_seconds, "LOGIN_LOCKOUT_SECONDS", 60)?;
        let login_lockout_max = seconds(
            &settings.login_lockout_max_seconds,
            "LOGIN_LOCKOUT_MAX_SECONDS",
            3600,
        )?;
        if login_lockout_max < login_lockout {
            return Err(ConfigError::new(
                "LOGIN_LOCKOUT_MAX_SECONDS",
                "must not be shorter than LOGIN_LOCKOUT_SECONDS",
            ));
        }
        Ok(Self {
            trusted_proxies: trusted_proxies(&settings.trusted_proxies)?,
            cors_allowed_origins: cors_origins(&settings.cors_allowed_origins)?,
            request_timeout: seconds(
                &settings.request_timeout_seconds,
                "REQUEST_TIMEOUT_SECONDS",
                15,
            )?,
            max_header_bytes: at_least(
                parse_or(&settings.max_header_bytes, "MAX_HEADER_BYTES", 16 * 1024)?,
                1024,
                "MAX_HEADER_BYTES",
            )?,
            max_body_bytes: at_least(
                parse_or(&settings.max_body_bytes, "MAX_BODY_BYTES", 16 * 1024)?,
                1024,
                "MAX_BODY_BYTES",
            )?,
            argon2_max_concurrent,
            argon2_max_queued: parse_or(
                &settings.argon2_max_queued,
                "ARGON2_MAX_QUEUED",
                argon2_max_concurrent.saturating_mul(32),
            )?,
            login_limit_per_ip: parse_or(&settings.login_limit_per_ip, "LOGIN_LIMIT_PER_IP", 300)?,
            register_limit_per_ip: parse_or(
                &settings.register_limit_per_ip,
                "REGISTER_LIMIT_PER_IP",
                100,
            )?,
            register_limit_per_account: parse_or(
                &settings.register_limit_per_account,
                "REGISTER_LIMIT_PER_ACCOUNT",
                5,
            )?,
            login_max_failures: parse_or(&settings.login_max_failures, "LOGIN_MAX_FAILURES", 10)?,
            login_failure_window,
            login_lockout,
            login_lockout_max,
        })
    }
}

fn at_least(value: usize, minimum: usize, setting: &'static str) -> Result<usize, ConfigError> {
    if value < minimum {
        return Err(ConfigError::new(
            setting,
            format!("must be at least {minimum}"),
        ));
    }
    Ok(value)
}

fn seconds(
    value: &Option<String>,
    setting: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs = parse_or(value, setting, default)?;
    if secs == 0 {
        return Err(ConfigError::new(setting, "must be at least 1"));
    }
    Ok(Duration::from_secs(secs))
}

/// `10.0.0.10`, `10.0.0.0/24`, `::1`, `fd00::/8`, comma separated.
fn trusted_proxies(value: &Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    let Some(list) = non_empty(value) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("{entry:?} is not an IP address or CIDR range"),
                    )
                })
        })
        .collect()
}

/// Exact origins only: a wildcard would let any site drive the API with a voter's token.
fn cors_origins(value: &Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(list) = non_empty(value) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
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
                Err(ConfigError::new(
                    "CORS_ALLOWED_ORIGINS",
                    format!(
                        "{entry:?} is not an origin such as https://vote.example.org (no path, no wildcard)"
                    ),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sized_for_a_proxied_deployment() {
        let config = SecurityConfig::default();
        assert!(config.trusted_proxies.is_empty());
        assert!(config.cors_allowed_origins.is_empty());
        assert_eq!(config.request_timeout, Duration::from_secs(15));
        assert_eq!(config.max_body_bytes, 16 * 1024);
        assert_eq!(config.login_max_failures, 10);
        assert_eq!(config.argon2_max_queued, config.argon2_max_concurrent * 32);
    }

    #[test]
    fn proxies_and_origins_are_parsed() {
        let config = SecurityConfig::from_settings(&SecuritySettings {
            trusted_proxies: Some("10.0.0.10, 192.168.1.7/24,::1".into()),
            cors_allowed_origins: Some("https://Vote.example.org, http://localhost:8080".into()),
            ..SecuritySettings::default()
        })
        .unwrap();
        let nets: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.0.0.10/32", "192.168.1.0/24", "::1/128"]);
        assert_eq!(
            config.cors_allowed_origins,
            ["https://vote.example.org", "http://localhost:8080"]
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases: Vec<(SecuritySettings, &str)> = vec![
            (
                SecuritySettings {
                    trusted_proxies: Some("nginx.local".into()),
                    ..Default::default()
                },
                "TRUSTED_PROXIES",
            ),
            (
                SecuritySettings {
                    cors_allowed_origins: Some("*".into()),
                    ..Default::default()
                },
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                SecuritySettings {
                    cors_allowed_origins: Some("https://vote.example.org/app".into()),
                    ..Default::default()
                },
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                SecuritySettings {
                    request_timeout_seconds: Some("0".into()),
                    ..Default::default()
                },
                "REQUEST_TIMEOUT_SECONDS",
            ),
            (
                SecuritySettings {
                    max_header_bytes: Some("100".into()),
                    ..Default::default()
                },
                "MAX_HEADER_BYTES",
            ),
            (
                SecuritySettings {
                    argon2_max_concurrent: Some("0".into()),
                    ..Default::default()
                },
                "ARGON2_MAX_CONCURRENT",
            ),
            (
                SecuritySettings {
                    login_limit_per_ip: Some("-1".into()),
                    ..Default::default()
                },
                "LOGIN_LIMIT_PER_IP",
            ),
            (
                SecuritySettings {
                    login_lockout_seconds: Some("600".into()),
                    login_lockout_max_seconds: Some("60".into()),
                    ..Default::default()
                },
                "LOGIN_LOCKOUT_MAX_SECONDS",
            ),
        ];
        for (settings, expected) in cases {
            let error = SecurityConfig::from_settings(&settings).expect_err(expected);
            assert_eq!(error.setting, expected, "{error}");
        }
    }
}
