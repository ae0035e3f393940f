//! Settings from the command line, the environment and `.env`, each declared once as a typed
//! clap argument (its variable, default and accepted range), and the few rules that involve
//! several settings, checked in [`Config::from_settings`].
//!
//! Every problem is reported as a [`ConfigError`] naming the variable, so start-up can fail with
//! one clear line. Secrets are [`SecretString`]s: never in an error message or a `Debug` output.

use std::convert::Infallible;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, Args, Command, FromArgMatches};
use secrecy::ExposeSecret;
pub use secrecy::SecretString;

mod choices;
mod database;
mod mail;
mod security;
pub use choices::{LogFormat, Registration};
pub use database::{DatabaseConfig, PostgresConfig, Roots, SslMode, Tls, TlsSettings};
pub use mail::{MailConfig, MailSettings};
pub use security::{MIN_JWT_SECRET_BYTES, SecurityConfig};

/// Every setting, typed. An empty variable counts as unset (see [`ignore_empty_env`]).
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// PostgreSQL URL (`postgres://user:pass@host1:5432,host2:5432/db`; several hosts allowed, the
    /// writable one is used) or `sqlite://PATH`. Wins over the DB_* settings.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true, value_parser = secret)]
    pub database_url: Option<SecretString>,
    /// PostgreSQL host(s), comma separated, each optionally with `:port` (`pg1,pg2:5433`).
    #[arg(long, env = "DB_HOST", global = true)]
    pub db_host: Option<String>,
    /// PostgreSQL port for hosts given without one.
    #[arg(long, env = "DB_PORT", global = true, default_value_t = 5432, value_parser = at_least(1u16))]
    pub db_port: u16,
    /// PostgreSQL user.
    #[arg(long, env = "DB_USER", global = true, default_value = "postgres")]
    pub db_user: String,
    /// PostgreSQL password.
    #[arg(long, env = "DB_PASSWORD", global = true, hide_env_values = true, value_parser = password)]
    pub db_password: Option<SecretString>,
    /// PostgreSQL database name [default: the user name].
    #[arg(long, env = "DB_NAME", global = true)]
    pub db_name: Option<String>,
    /// Maximum PostgreSQL/SQLite connections in the pool.
    #[arg(long, env = "DB_POOL_SIZE", global = true, default_value_t = 16, value_parser = at_least(1usize))]
    pub db_pool_size: usize,
    #[command(flatten)]
    pub db_tls: database::TlsSettings,
    /// PostgreSQL only: acknowledge a ballot only while the primary has a synchronous standby
    /// (`synchronous_standby_names` set); otherwise the ballot waits up to 3 s for one, then is
    /// refused with 503 and retried by the client. For formations with `number_sync_standbys`
    /// of 1 or more, whose newly promoted primary runs for a moment without one (wait_primary).
    #[arg(long, env = "DB_REQUIRE_SYNC_STANDBY", global = true, action = ArgAction::Set,
          default_value_t = false, value_parser = boolean)]
    pub db_require_sync_standby: bool,
    /// Seconds (fractions allowed, 0.1 to 60) to wait for one database host to accept a TCP
    /// connection before the next host of the list is tried. A host that is cut off or gone
    /// costs every new connection this long while it is listed before the primary.
    #[arg(long = "db-connect-timeout-seconds", env = "DB_CONNECT_TIMEOUT_SECONDS", global = true,
          default_value = "1", value_parser = seconds_between(0.1, 60.0))]
    pub db_connect_timeout: Duration,
    /// HMAC secret for login tokens, at least 32 bytes; required by `serve` with PostgreSQL. With
    /// SQLite a random secret is generated and kept in DATA_DIR when unset.
    #[arg(long, env = "JWT_SECRET", global = true, hide_env_values = true, value_parser = secret)]
    pub jwt_secret: Option<SecretString>,
    /// Lifetime of a login token in seconds.
    #[arg(long, env = "JWT_TTL_SECONDS", global = true, default_value_t = 3600, value_parser = at_least(1u64))]
    pub jwt_ttl_seconds: u64,
    /// TCP port of the HTTP API (0: any free port).
    #[arg(long, env = "PORT", global = true, default_value_t = 3000, value_parser = at_least(0u16))]
    pub port: u16,
    /// Address the HTTP API listens on.
    #[arg(long, env = "BIND_ADDR", global = true, default_value_t = Ipv4Addr::UNSPECIFIED.into(),
          value_parser = parsed::<IpAddr>("an IP address"))]
    pub bind_addr: IpAddr,
    /// Directory of the embedded SQLite database and generated secret.
    #[arg(long, env = "DATA_DIR", global = true, default_value = "./data")]
    pub data_dir: PathBuf,
    /// Address of the private Prometheus listener serving GET /metrics (e.g. 127.0.0.1:9100);
    /// unset: no metrics endpoint. Keep it off the public network.
    #[arg(long, env = "METRICS_ADDR", global = true,
          value_parser = parsed::<SocketAddr>("an address:port such as 127.0.0.1:9100"))]
    pub metrics_addr: Option<SocketAddr>,
    /// Log format: `text`, or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// `open`: anyone may register an account; `closed`: POST /api/auth/register answers 403
    /// registration_closed (roll elections need no accounts: voters sign in by their link).
    #[arg(long, env = "REGISTRATION", global = true, value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,
    /// Abuse limits, hard limits, trusted proxies and CORS.
    #[command(flatten)]
    pub security: SecurityConfig,
    /// SMTP, sender and links of invitations.
    #[command(flatten)]
    pub mail: MailSettings,
    /// Benchmarks only (`bench/run`): also serve GET /api/bench/ceiling/{bytes}, a fixed JSON
    /// body of that size, as the HTTP ceiling the real routes are compared with. Refused unless
    /// BIND_ADDR is a loopback address; logged as a warning.
    #[arg(long, env = "BENCH_CEILING_ROUTE", global = true, action = ArgAction::Set,
          default_value_t = false, value_parser = boolean)]
    pub bench_ceiling_route: bool,
}

impl Default for Settings {
    /// Every setting at its default, whatever the environment holds.
    fn default() -> Self {
        defaults()
    }
}

/// Validated configuration of one securevote instance.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub db_pool_size: usize,
    /// Checked by [`Config::signing_secret`], only where tokens are signed.
    pub jwt_secret: Option<SecretString>,
    pub jwt_ttl: Duration,
    pub log_format: LogFormat,
    pub registration: Registration,
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
    pub setting: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }

    /// The one-line form of clap's error about a setting's value, naming its variable (looked up
    /// in `command`). `None` for every other error (usage, `--help`), which clap reports itself.
    pub fn from_clap(error: &clap::Error, command: &Command) -> Option<Self> {
        let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
            return None;
        };
        let mut command = command.clone();
        command.build();
        let arg = command.get_arguments().find(|a| a.to_string() == *arg)?;
        let problem = match (error.kind(), error.get(ContextKind::InvalidValue)) {
            (ErrorKind::ValueValidation, _) => std::error::Error::source(error)?.to_string(),
            (ErrorKind::InvalidValue, Some(ContextValue::String(value))) => {
                let expected: Vec<String> = (arg.get_possible_values().iter())
                    .map(|v| v.get_name().to_owned())
                    .collect();
                format!(
                    "unknown value {value:?} (expected {})",
                    expected.join(" or ")
                )
            }
            _ => return None,
        };
        Some(Self::new(arg.get_env()?.to_string_lossy(), problem))
    }
}

impl Config {
    /// The rules that involve several settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        if settings.bench_ceiling_route && !settings.bind_addr.is_loopback() {
            return Err(ConfigError::new(
                "BENCH_CEILING_ROUTE",
                format!(
                    "is for benchmarks on this machine only; BIND_ADDR {} is not a loopback address",
                    settings.bind_addr
                ),
            ));
        }
        settings.security.validate()?;
        Ok(Self {
            listen: SocketAddr::new(settings.bind_addr, settings.port),
            data_dir: settings.data_dir.clone(),
            database: database::database_config(settings)?,
            db_pool_size: settings.db_pool_size,
            jwt_secret: settings.jwt_secret.clone(),
            jwt_ttl: Duration::from_secs(settings.jwt_ttl_seconds),
            log_format: settings.log_format,
            registration: settings.registration,
            metrics_addr: settings.metrics_addr,
            security: settings.security.clone(),
            mail: MailConfig::from_settings(&settings.mail)?,
            bench_ceiling_route: settings.bench_ceiling_route,
        })
    }

    /// The secret that signs login tokens. Checked here, not in [`Config::from_settings`], so
    /// that the commands that sign nothing (imports, migrations) do not demand one. `None`:
    /// SQLite, where the server generates one in `data_dir`.
    pub fn signing_secret(&self) -> Result<Option<&SecretString>, ConfigError> {
        match (&self.database, &self.jwt_secret) {
            (DatabaseConfig::Postgres(_), None) => Err(ConfigError::new(
                "JWT_SECRET",
                "is required with PostgreSQL (all instances must share it)",
            )),
            (_, Some(secret)) if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES => {
                Err(ConfigError::new(
                    "JWT_SECRET",
                    format!(
                        "is {} bytes long; at least {MIN_JWT_SECRET_BYTES} are required",
                        secret.expose_secret().len()
                    ),
                ))
            }
            (_, secret) => Ok(secret.as_ref()),
        }
    }
}

/// Treats a variable that is set but empty (`PORT=` in a `.env` file) as unset, as the
/// settings' defaults expect.
pub fn ignore_empty_env(command: Command) -> Command {
    command.mut_args(|arg| {
        let value = arg.get_env().and_then(std::env::var_os);
        if value.is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
            arg.env(None)
        } else {
            arg
        }
    })
}

/// `command` with no variable read.
pub fn ignore_env(command: Command) -> Command {
    command.mut_args(|arg| arg.env(None))
}

/// The settings of `T` with no variable read.
fn without_env<T: Args>() -> Command {
    ignore_env(T::augment_args(Command::new("securevote")))
}

/// `T` with every setting at its default.
fn defaults<T: Args + FromArgMatches>() -> T {
    without_env::<T>()
        .try_get_matches_from(["securevote"])
        .and_then(|matches| T::from_arg_matches(&matches))
        .unwrap_or_else(|e| unreachable!("the defaults are valid: {e}"))
}

/// A whole number of at least `minimum`.
fn at_least<T>(minimum: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr<Err: Display> + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |raw| match raw.trim().parse::<T>() {
        Ok(value) if value >= minimum => Ok(value),
        Ok(_) => Err(format!("must be at least {minimum}")),
        Err(e) => Err(format!("{raw:?} is not a valid number ({e})")),
    }
}

/// A number of seconds, fractions allowed, from `minimum` to `maximum`.
fn seconds_between(
    minimum: f64,
    maximum: f64,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |raw| match raw.trim().parse::<f64>() {
        Ok(value) if (minimum..=maximum).contains(&value) => Ok(Duration::from_secs_f64(value)),
        Ok(_) => Err(format!("must be from {minimum} to {maximum} seconds")),
        Err(e) => Err(format!("{raw:?} is not a number of seconds ({e})")),
    }
}

/// A value of `T`, described as `what` when it is not one.
fn parsed<T>(
    what: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + Send + Sync + Clone + 'static,
{
    move |raw| {
        raw.trim()
            .parse()
            .map_err(|_| format!("{raw:?} is not {what}"))
    }
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

fn secret(raw: &str) -> Result<SecretString, Infallible> {
    Ok(raw.trim().into())
}

/// A password is taken as it is, spaces included.
fn password(raw: &str) -> Result<SecretString, Infallible> {
    Ok(raw.into())
}

#[cfg(test)]
mod tests;
