//! Settings from the environment (and `.env`) turned into a validated [`Config`].
//!
//! Every problem is reported as a [`ConfigError`] naming the setting, so start-up can fail with
//! one clear line. Secrets are never part of an error message or a `Debug` rendering.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use tokio_postgres::config::{Host, TargetSessionAttrs};

mod mail;
mod security;
pub use mail::{MailConfig, MailSettings};
pub use security::{SecurityConfig, SecuritySettings};

/// Minimum JWT secret length when several instances share a PostgreSQL database.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Raw settings as given on the command line or in the environment. Everything is a string here
/// so that validation, with one consistent error format, happens in [`Config::from_settings`].
#[derive(Debug, Clone, Default, Args)]
pub struct Settings {
    /// PostgreSQL URL (`postgres://user:pass@host1:5432,host2:5432/db`; several hosts allowed, the
    /// writable one is used) or `sqlite://PATH`. Wins over the DB_* settings.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL host(s), comma separated, each optionally with `:port` (`pg1,pg2:5433`).
    #[arg(long, env = "DB_HOST", global = true)]
    pub db_host: Option<String>,
    /// PostgreSQL port for hosts given without one [default: 5432].
    #[arg(long, env = "DB_PORT", global = true)]
    pub db_port: Option<String>,
    /// PostgreSQL user [default: postgres].
    #[arg(long, env = "DB_USER", global = true)]
    pub db_user: Option<String>,
    /// PostgreSQL password.
    #[arg(long, env = "DB_PASSWORD", global = true, hide_env_values = true)]
    pub db_password: Option<String>,
    /// PostgreSQL database name [default: the user name].
    #[arg(long, env = "DB_NAME", global = true)]
    pub db_name: Option<String>,
    /// Maximum PostgreSQL/SQLite connections in the pool [default: 16].
    #[arg(long, env = "DB_POOL_SIZE", global = true)]
    pub db_pool_size: Option<String>,
    /// Seconds to wait for one database host to accept a connection [default: 2].
    #[arg(long, env = "DB_CONNECT_TIMEOUT_SECONDS", global = true)]
    pub db_connect_timeout_seconds: Option<String>,
    /// HMAC secret for login tokens, at least 32 bytes; required with PostgreSQL. With SQLite a
    /// random secret is generated and kept in DATA_DIR when unset.
    #[arg(long, env = "JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Lifetime of a login token in seconds [default: 3600].
    #[arg(long, env = "JWT_TTL_SECONDS", global = true)]
    pub jwt_ttl_seconds: Option<String>,
    /// TCP port of the HTTP API [default: 3000].
    #[arg(long, env = "PORT", global = true)]
    pub port: Option<String>,
    /// Address the HTTP API listens on [default: 0.0.0.0].
    #[arg(long, env = "BIND_ADDR", global = true)]
    pub bind_addr: Option<String>,
    /// Directory of the embedded SQLite database and generated secret [default: ./data].
    #[arg(long, env = "DATA_DIR", global = true)]
    pub data_dir: Option<String>,
    /// Address of the private Prometheus listener serving GET /metrics (e.g. 127.0.0.1:9100);
    /// unset: no metrics endpoint. Keep it off the public network.
    #[arg(long, env = "METRICS_ADDR", global = true)]
    pub metrics_addr: Option<String>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Abuse limits, hard limits, trusted proxies and CORS.
    #[command(flatten)]
    pub security: SecuritySettings,
    #[command(flatten)]
    pub mail: MailSettings,
    /// Benchmarks only (`bench/run`): also serve GET /api/bench/ceiling/{bytes}, a fixed JSON
    /// body of that size, as the HTTP ceiling the real routes are compared with. Refused unless
    /// BIND_ADDR is a loopback address; logged as a warning [default: false].
    #[arg(long, env = "BENCH_CEILING_ROUTE", global = true)]
    pub bench_ceiling_route: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the votes live.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    Sqlite { path: PathBuf },
    Postgres(Box<PostgresConfig>),
}

/// A PostgreSQL connection configuration that always targets the writable host.
#[derive(Clone)]
pub struct PostgresConfig {
    pub connect: tokio_postgres::Config,
}

impl PostgresConfig {
    fn database(mut connect: tokio_postgres::Config, connect_timeout: Duration) -> DatabaseConfig {
        // Only the primary accepts votes; a standby (or a demoted primary) must never be used.
        connect.target_session_attrs(TargetSessionAttrs::ReadWrite);
        connect.connect_timeout(connect_timeout);
        if connect.get_application_name().is_none() {
            connect.application_name("securevote");
        }
        DatabaseConfig::Postgres(Box::new(Self { connect }))
    }

    /// `host:port` list for logs and errors; no user name, no password.
    pub fn hosts_display(&self) -> String {
        let ports = self.connect.get_ports();
        self.connect
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                match host {
                    Host::Tcp(name) => format!("{name}:{port}"),
                    Host::Unix(path) => format!("{}:{port}", path.display()),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("hosts", &self.hosts_display())
            .field("dbname", &self.connect.get_dbname())
            .field("user", &self.connect.get_user())
            .finish_non_exhaustive()
    }
}

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Validated configuration of one securevote instance.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub db_pool_size: usize,
    /// `None` only on SQLite, where a secret is generated and kept in `data_dir`.
    pub jwt_secret: Option<Secret>,
    pub jwt_ttl: Duration,
    pub log_format: LogFormat,
    pub metrics_addr: Option<SocketAddr>,
    pub security: SecurityConfig,
    pub mail: MailConfig,
    /// Serve the benchmark's HTTP ceiling route (`BENCH_CEILING_ROUTE`); loopback only.
    pub bench_ceiling_route: bool,
}

/// A configuration problem: which setting, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        Self {
            setting,
            problem: problem.into(),
        }
    }
}

impl Config {
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let port = parse_or(&settings.port, "PORT", 3000u16)?;
        let bind_ip = parse_or(&settings.bind_addr, "BIND_ADDR", IpAddr::from([0, 0, 0, 0]))?;
        let data_dir = PathBuf::from(non_empty(&settings.data_dir).unwrap_or("./data"));
        let db_pool_size = parse_or(&settings.db_pool_size, "DB_POOL_SIZE", 16usize)?;
        if db_pool_size == 0 {
            return Err(ConfigError::new("DB_POOL_SIZE", "must be at least 1"));
        }
        let connect_timeout = Duration::from_secs(parse_or(
            &settings.db_connect_timeout_seconds,
            "DB_CONNECT_TIMEOUT_SECONDS",
            2u64,
        )?);
        let jwt_ttl = Duration::from_secs(parse_or(
            &settings.jwt_ttl_seconds,
            "JWT_TTL_SECONDS",
            3600u64,
        )?);
        if jwt_ttl.is_zero() {
            return Err(ConfigError::new("JWT_TTL_SECONDS", "must be at least 1"));
        }
        let log_format = match non_empty(&settings.log_format).unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("unknown format {other:?} (expected text or json)"),
                ));
            }
        };
        let metrics_addr = match non_empty(&settings.metrics_addr) {
            None => None,
            Some(raw) => Some(raw.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new(
                    "METRICS_ADDR",
                    format!("{raw:?} is not an address:port such as 127.0.0.1:9100"),
                )
            })?),
        };
        let security = SecurityConfig::from_settings(&settings.security)?;
        let mail = MailConfig::from_settings(&settings.mail)?;
        let bench_ceiling_route = match non_empty(&settings.bench_ceiling_route) {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") if bind_ip.is_loopback() => true,
            Some("1" | "true" | "yes" | "on") => {
                return Err(ConfigError::new(
                    "BENCH_CEILING_ROUTE",
                    format!(
                        "is for benchmarks on this machine only; BIND_ADDR {bind_ip} is not a loopback address"
                    ),
                ));
            }
            Some(other) => {
                return Err(ConfigError::new(
                    "BENCH_CEILING_ROUTE",
                    format!("{other:?} is not true or false"),
                ));
            }
        };
        let database = database_config(settings, &data_dir, connect_timeout)?;
        let jwt_secret =
            non_empty(&settings.jwt_secret).map(|s| Secret::new(s.as_bytes().to_vec()));
        match (&database, &jwt_secret) {
            (DatabaseConfig::Postgres(_), None) => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    "is required with PostgreSQL (all instances must share it)",
                ));
            }
            (_, Some(secret)) if secret.expose().len() < MIN_JWT_SECRET_BYTES => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!(
                        "is {} bytes long; at least {MIN_JWT_SECRET_BYTES} are required",
                        secret.expose().len()
                    ),
                ));
            }
            _ => {}
        }
        Ok(Self {
            listen: SocketAddr::new(bind_ip, port),
            data_dir,
            database,
            db_pool_size,
            jwt_secret,
            jwt_ttl,
            log_format,
            metrics_addr,
            security,
            mail,
            bench_ceiling_route,
        })
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_or<T: FromStr>(
    value: &Option<String>,
    setting: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match non_empty(value) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| ConfigError::new(setting, format!("{raw:?} is not a valid value"))),
    }
}

fn database_config(
    settings: &Settings,
    data_dir: &std::path::Path,
    connect_timeout: Duration,
) -> Result<DatabaseConfig, ConfigError> {
    if let Some(url) = non_empty(&settings.database_url) {
        return database_from_url(url, connect_timeout);
    }
    if let Some(hosts) = non_empty(&settings.db_host) {
        return database_from_parts(settings, hosts, connect_timeout);
    }
    Ok(DatabaseConfig::Sqlite {
        path: data_dir.join("securevote.db"),
    })
}

fn database_from_url(url: &str, connect_timeout: Duration) -> Result<DatabaseConfig, ConfigError> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(ConfigError::new(
            "DATABASE_URL",
            "is not a URL (expected postgres://... or sqlite://PATH)",
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => {
            // tokio-postgres' own messages name the offending part, never the password.
            let connect = tokio_postgres::Config::from_str(url).map_err(|e| {
                ConfigError::new(
                    "DATABASE_URL",
                    format!("is not a valid PostgreSQL URL: {e}"),
                )
            })?;
            if connect.get_hosts().is_empty() {
                return Err(ConfigError::new("DATABASE_URL", "names no host"));
            }
            if connect.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
                // Say so at start-up rather than fail every connection attempt later (e.g. a URI
                // pasted from `pg_autoctl show uri`).
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "sslmode=require is not supported (the connection to PostgreSQL is plain TCP; \
                     keep the database on a private network and use sslmode=disable or prefer)",
                ));
            }
            Ok(PostgresConfig::database(connect, connect_timeout))
        }
        "sqlite" => {
            let path = rest.trim_start_matches("//");
            if path.is_empty() {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "sqlite:// needs a file path",
                ));
            }
            Ok(DatabaseConfig::Sqlite {
                path: PathBuf::from(path),
            })
        }
        other => Err(ConfigError::new(
            "DATABASE_URL",
            format!("unknown scheme {other:?} (expected postgres, postgresql or sqlite)"),
        )),
    }
}

fn database_from_parts(
    settings: &Settings,
    hosts: &str,
    connect_timeout: Duration,
) -> Result<DatabaseConfig, ConfigError> {
    let default_port = parse_or(&settings.db_port, "DB_PORT", 5432u16)?;
    let mut connect = tokio_postgres::Config::new();
    for entry in hosts.split(',').map(str::trim) {
        let (host, port) = split_host_port(entry, default_port)?;
        connect.host(host).port(port);
    }
    let user = non_empty(&settings.db_user).unwrap_or("postgres");
    connect.user(user);
    connect.dbname(non_empty(&settings.db_name).unwrap_or(user));
    if let Some(password) = settings.db_password.as_deref().filter(|p| !p.is_empty()) {
        connect.password(password);
    }
    Ok(PostgresConfig::database(connect, connect_timeout))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(entry: &str, default_port: u16) -> Result<(&str, u16), ConfigError> {
    let invalid = || ConfigError::new("DB_HOST", format!("{entry:?} is not a valid host[:port]"));
    if entry.is_empty() {
        return Err(ConfigError::new("DB_HOST", "contains an empty host name"));
    }
    let (host, port) = if let Some(bracketed) = entry.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
        (host, after.strip_prefix(':'))
    } else if entry.matches(':').count() == 1 {
        let (host, port) = entry.split_once(':').ok_or_else(invalid)?;
        (host, Some(port))
    } else {
        (entry, None)
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| invalid())?,
        None => default_port,
    };
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::default()
    }

    #[test]
    fn no_database_settings_means_embedded_sqlite_in_data_dir() {
        let config = Config::from_settings(&Settings {
            data_dir: Some("/tmp/sv".into()),
            ..settings()
        })
        .unwrap();
        assert!(
            matches!(config.database, DatabaseConfig::Sqlite { ref path } if path == std::path::Path::new("/tmp/sv/securevote.db"))
        );
        assert_eq!(config.listen.port(), 3000);
        assert!(config.jwt_secret.is_none());
    }

    #[test]
    fn original_env_file_is_accepted_and_hosts_are_listed_in_order() {
        let config = Config::from_settings(&Settings {
            db_host: Some("pg1, pg2:5433".into()),
            db_port: Some("5432".into()),
            db_user: Some("vote".into()),
            db_password: Some("hunter2-very-secret".into()),
            db_name: Some("votes".into()),
            jwt_secret: Some("x".repeat(32)),
            ..settings()
        })
        .unwrap();
        let DatabaseConfig::Postgres(pg) = &config.database else {
            panic!("expected PostgreSQL")
        };
        assert_eq!(pg.hosts_display(), "pg1:5432,pg2:5433");
        assert_eq!(pg.connect.get_dbname(), Some("votes"));
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn database_url_wins_and_supports_several_hosts() {
        let config = Config::from_settings(&Settings {
            database_url: Some("postgres://u:topsecret@a:5432,b:5433/db".into()),
            db_host: Some("ignored".into()),
            jwt_secret: Some("y".repeat(40)),
            ..settings()
        })
        .unwrap();
        let DatabaseConfig::Postgres(pg) = &config.database else {
            panic!("expected PostgreSQL")
        };
        assert_eq!(pg.hosts_display(), "a:5432,b:5433");
        assert!(!format!("{config:?}").contains("topsecret"));
    }

    #[test]
    fn bad_settings_name_the_setting_and_hide_secrets() {
        let cases: Vec<(Settings, &str)> = vec![
            (
                Settings {
                    port: Some("http".into()),
                    ..settings()
                },
                "PORT",
            ),
            (
                Settings {
                    port: Some("70000".into()),
                    ..settings()
                },
                "PORT",
            ),
            (
                Settings {
                    bind_addr: Some("nowhere".into()),
                    ..settings()
                },
                "BIND_ADDR",
            ),
            (
                Settings {
                    log_format: Some("xml".into()),
                    ..settings()
                },
                "LOG_FORMAT",
            ),
            (
                Settings {
                    database_url: Some("mysql://u:pw@h/db".into()),
                    ..settings()
                },
                "DATABASE_URL",
            ),
            (
                Settings {
                    database_url: Some("not a url".into()),
                    ..settings()
                },
                "DATABASE_URL",
            ),
            (
                Settings {
                    database_url: Some("postgres://u:pw@h:notaport/db".into()),
                    jwt_secret: Some("z".repeat(32)),
                    ..settings()
                },
                "DATABASE_URL",
            ),
            (
                Settings {
                    database_url: Some("postgres://u:pw@h/db".into()),
                    ..settings()
                },
                "JWT_SECRET",
            ),
            (
                Settings {
                    database_url: Some("postgres://u:pw@h/db".into()),
                    jwt_secret: Some("short-secret".into()),
                    ..settings()
                },
                "JWT_SECRET",
            ),
            (
                Settings {
                    db_host: Some("h:port".into()),
                    jwt_secret: Some("z".repeat(32)),
                    ..settings()
                },
                "DB_HOST",
            ),
            (
                Settings {
                    jwt_ttl_seconds: Some("0".into()),
                    ..settings()
                },
                "JWT_TTL_SECONDS",
            ),
            (
                Settings {
                    db_pool_size: Some("0".into()),
                    ..settings()
                },
                "DB_POOL_SIZE",
            ),
            (
                Settings {
                    database_url: Some("postgres://u:pw@h/db?sslmode=require".into()),
                    jwt_secret: Some("z".repeat(32)),
                    ..settings()
                },
                "DATABASE_URL",
            ),
            (
                Settings {
                    metrics_addr: Some("9100".into()),
                    ..settings()
                },
                "METRICS_ADDR",
            ),
            (
                Settings {
                    bench_ceiling_route: Some("true".into()),
                    ..settings()
                },
                "BENCH_CEILING_ROUTE",
            ),
            (
                Settings {
                    bench_ceiling_route: Some("sometimes".into()),
                    bind_addr: Some("127.0.0.1".into()),
                    ..settings()
                },
                "BENCH_CEILING_ROUTE",
            ),
        ];
        for (settings, expected) in cases {
            let err = Config::from_settings(&settings).expect_err(expected);
            assert_eq!(err.setting, expected, "{err}");
            let line = err.to_string();
            assert!(
                !line.contains("pw@") && !line.contains("short-secret"),
                "leaked a secret: {line}"
            );
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn ipv6_hosts_are_accepted() {
        assert_eq!(split_host_port("[::1]:5433", 5432).unwrap(), ("::1", 5433));
        assert_eq!(split_host_port("::1", 5432).unwrap(), ("::1", 5432));
    }
}
