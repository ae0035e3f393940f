//! Where the votes live: `DATABASE_URL`, else the `DB_*` settings, else SQLite in `DATA_DIR`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio_postgres::config::{Host, SslMode, TargetSessionAttrs};

use super::{ConfigError, Settings};

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

pub(super) fn database_config(settings: &Settings) -> Result<DatabaseConfig, ConfigError> {
    let connect_timeout = Duration::from_secs(settings.db_connect_timeout_seconds);
    if let Some(url) = &settings.database_url {
        return from_url(url.expose_secret(), connect_timeout);
    }
    let Some(hosts) = settings.db_host.as_deref() else {
        return Ok(DatabaseConfig::Sqlite {
            path: settings.data_dir.join("securevote.db"),
        });
    };
    let mut connect = tokio_postgres::Config::new();
    for entry in hosts.split(',').map(str::trim) {
        let (host, port) = split_host_port(entry, settings.db_port)?;
        connect.host(host).port(port);
    }
    connect.user(&settings.db_user);
    connect.dbname(settings.db_name.as_deref().unwrap_or(&settings.db_user));
    if let Some(password) = &settings.db_password {
        connect.password(password.expose_secret());
    }
    Ok(PostgresConfig::database(connect, connect_timeout))
}

fn from_url(url: &str, connect_timeout: Duration) -> Result<DatabaseConfig, ConfigError> {
    let problem = |text: String| ConfigError::new("DATABASE_URL", text);
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(problem(
            "is not a URL (expected postgres://... or sqlite://PATH)".into(),
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => {
            // tokio-postgres' own messages name the offending part, never the password.
            let connect = tokio_postgres::Config::from_str(url)
                .map_err(|e| problem(format!("is not a valid PostgreSQL URL: {e}")))?;
            if connect.get_hosts().is_empty() {
                return Err(problem("names no host".into()));
            }
            if connect.get_ssl_mode() == SslMode::Require {
                // Said at start-up rather than by every failed connection attempt later (e.g. a
                // URI pasted from `pg_autoctl show uri`).
                return Err(problem(
                    "sslmode=require is not supported (the connection to PostgreSQL is plain TCP; \
                     keep the database on a private network and use sslmode=disable or prefer)"
                        .into(),
                ));
            }
            Ok(PostgresConfig::database(connect, connect_timeout))
        }
        "sqlite" => match rest.trim_start_matches("//") {
            "" => Err(problem("sqlite:// needs a file path".into())),
            path => Ok(DatabaseConfig::Sqlite {
                path: PathBuf::from(path),
            }),
        },
        other => Err(problem(format!(
            "unknown scheme {other:?} (expected postgres, postgresql or sqlite)"
        ))),
    }
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

    #[test]
    fn ipv6_hosts_are_accepted() {
        assert_eq!(split_host_port("[::1]:5433", 5432).unwrap(), ("::1", 5433));
        assert_eq!(split_host_port("::1", 5432).unwrap(), ("::1", 5432));
    }
}
