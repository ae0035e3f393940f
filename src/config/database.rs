//! Where the votes live: `DATABASE_URL`, else the `DB_*` settings, else SQLite in `DATA_DIR`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::ExposeSecret;
use tokio_postgres::config::{Host, TargetSessionAttrs};

use super::{ConfigError, Settings};

/// TLS to PostgreSQL: `DB_SSLMODE` and `DB_SSLROOTCERT`, or `sslmode`/`sslrootcert` in
/// `DATABASE_URL` (the stricter mode of the two is used; the URL's root certificate wins).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsSettings {
    /// TLS to PostgreSQL, as libpq's sslmode: disable, prefer (TLS when offered, unverified),
    /// require (encrypted; verified like verify-ca when a root certificate is given), verify-ca
    /// (the server's certificate chains to DB_SSLROOTCERT), verify-full (and names the host).
    #[arg(long, env = "DB_SSLMODE", global = true, value_enum)]
    pub db_sslmode: Option<SslMode>,
    /// PEM file of the certificate authorities that sign the PostgreSQL servers' certificates,
    /// or `system` for the operating system's roots.
    #[arg(long, env = "DB_SSLROOTCERT", global = true)]
    pub db_sslrootcert: Option<String>,
}

/// libpq's sslmode values, from the weakest to the strictest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<Self> {
        clap::ValueEnum::from_str(value, false).ok()
    }
}

/// How the connection to PostgreSQL is protected: the mode and, for the verifying modes, the
/// certificate authorities the servers' certificates must chain to.
#[derive(Clone, Default)]
pub struct Tls {
    pub mode: SslMode,
    pub roots: Roots,
}

/// Certificate authorities trusted for PostgreSQL servers.
#[derive(Clone, Default)]
pub enum Roots {
    /// None given: `require` then encrypts without verifying, as libpq does.
    #[default]
    None,
    /// The operating system's roots (`sslrootcert=system`).
    System,
    /// From a PEM file.
    Pem(Vec<CertificateDer<'static>>),
}

impl Tls {
    fn new(
        url_mode: Option<SslMode>,
        url_root: Option<String>,
        settings: &TlsSettings,
        setting: &str,
    ) -> Result<Self, ConfigError> {
        let mode = url_mode.max(settings.db_sslmode).unwrap_or_default();
        let (root, root_setting) = match url_root {
            Some(root) => (Some(root), setting),
            None => (settings.db_sslrootcert.clone(), "DB_SSLROOTCERT"),
        };
        let roots = match root.as_deref() {
            None => Roots::None,
            Some("system") => Roots::System,
            Some(path) => Roots::Pem(read_roots(path).map_err(|problem| {
                ConfigError::new(root_setting, format!("root certificate {path}: {problem}"))
            })?),
        };
        if mode >= SslMode::VerifyCa && matches!(roots, Roots::None) {
            return Err(ConfigError::new(
                "DB_SSLROOTCERT",
                format!(
                    "sslmode={} needs the certificate authority of the PostgreSQL servers: set \
                     DB_SSLROOTCERT (or sslrootcert= in DATABASE_URL) to its PEM file, or to system",
                    clap::ValueEnum::to_possible_value(&mode)
                        .map(|v| v.get_name().to_owned())
                        .unwrap_or_default()
                ),
            ));
        }
        Ok(Self { mode, roots })
    }

    /// Whether the server's certificate chain is checked (verify-ca, verify-full, or require
    /// with a root certificate).
    pub fn verifies_chain(&self) -> bool {
        self.mode >= SslMode::VerifyCa
            || (self.mode == SslMode::Require && !matches!(self.roots, Roots::None))
    }
}

fn read_roots(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// Takes libpq's TLS parameters out of a URL's query, which tokio-postgres does not know:
/// returns the URL without them, and their values.
fn split_tls_params(url: &str) -> Result<(String, Option<SslMode>, Option<String>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None, None));
    };
    let (mut mode, mut root, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                let decoded = percent_decode(value);
                mode = Some(SslMode::parse(&decoded).ok_or_else(|| {
                    format!(
                        "sslmode={decoded:?} is not one of disable, prefer, require, verify-ca, \
                         verify-full"
                    )
                })?);
            }
            "sslrootcert" => root = Some(percent_decode(value)),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => {
                return Err(format!(
                    "{key}= is not supported (client certificates are not used; the server \
                     authenticates securevote by password)"
                ));
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, mode, root))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    pub tls: Tls,
    /// `DB_REQUIRE_SYNC_STANDBY`: ballots wait for the primary to have a synchronous standby.
    pub require_sync_standby: bool,
}

impl PostgresConfig {
    fn database(
        mut connect: tokio_postgres::Config,
        connect_timeout: Duration,
        tls: Tls,
    ) -> DatabaseConfig {
        // Only the primary accepts votes; a standby (or a demoted primary) must never be used.
        connect.target_session_attrs(TargetSessionAttrs::ReadWrite);
        connect.connect_timeout(connect_timeout);
        if connect.get_application_name().is_none() {
            connect.application_name("securevote");
        }
        // tokio-postgres decides whether TLS is attempted; the connector decides what is
        // verified (store::postgres's tls module).
        connect.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        DatabaseConfig::Postgres(Box::new(Self {
            connect,
            tls,
            require_sync_standby: false,
        }))
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
            .field("sslmode", &self.tls.mode)
            .field("require_sync_standby", &self.require_sync_standby)
            .finish_non_exhaustive()
    }
}

pub(super) fn database_config(settings: &Settings) -> Result<DatabaseConfig, ConfigError> {
    match postgres_or_sqlite(settings)? {
        DatabaseConfig::Postgres(mut config) => {
            config.require_sync_standby = settings.db_require_sync_standby;
            Ok(DatabaseConfig::Postgres(config))
        }
        DatabaseConfig::Sqlite { .. } if settings.db_require_sync_standby => Err(ConfigError::new(
            "DB_REQUIRE_SYNC_STANDBY",
            "needs PostgreSQL (DATABASE_URL or DB_HOST): SQLite has no standby",
        )),
        sqlite => Ok(sqlite),
    }
}

fn postgres_or_sqlite(settings: &Settings) -> Result<DatabaseConfig, ConfigError> {
    let connect_timeout = settings.db_connect_timeout;
    if let Some(url) = &settings.database_url {
        return from_url(url.expose_secret(), connect_timeout, &settings.db_tls);
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
    let tls = Tls::new(None, None, &settings.db_tls, "DB_SSLROOTCERT")?;
    Ok(PostgresConfig::database(connect, connect_timeout, tls))
}

fn from_url(
    url: &str,
    connect_timeout: Duration,
    tls: &TlsSettings,
) -> Result<DatabaseConfig, ConfigError> {
    let problem = |text: String| ConfigError::new("DATABASE_URL", text);
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(problem(
            "is not a URL (expected postgres://... or sqlite://PATH)".into(),
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => {
            let (url, mode, root) = split_tls_params(url).map_err(problem)?;
            // tokio-postgres' own messages name the offending part, never the password.
            let connect = tokio_postgres::Config::from_str(&url)
                .map_err(|e| problem(format!("is not a valid PostgreSQL URL: {e}")))?;
            if connect.get_hosts().is_empty() {
                return Err(problem("names no host".into()));
            }
            let tls = Tls::new(mode, root, tls, "DATABASE_URL")?;
            Ok(PostgresConfig::database(connect, connect_timeout, tls))
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

    fn url(url: &str, settings: &TlsSettings) -> Result<Box<PostgresConfig>, ConfigError> {
        match from_url(url, Duration::from_secs(2), settings)? {
            DatabaseConfig::Postgres(pg) => Ok(pg),
            DatabaseConfig::Sqlite { .. } => panic!("not PostgreSQL"),
        }
    }

    #[test]
    fn the_uri_pg_autoctl_prints_is_accepted_as_is() {
        let pg = url(
            "postgres://autoctl_node@127.0.0.1:5501,127.0.0.1:5502/securevote?target_session_attrs=read-write&sslmode=require",
            &TlsSettings::default(),
        )
        .unwrap();
        assert_eq!(pg.tls.mode, SslMode::Require);
        assert!(!pg.tls.verifies_chain());
        assert_eq!(pg.connect.get_hosts().len(), 2);
        assert_eq!(
            pg.connect.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn the_stricter_mode_wins_and_verifying_modes_need_a_root_certificate() {
        let strict = TlsSettings {
            db_sslmode: Some(SslMode::VerifyFull),
            db_sslrootcert: Some("system".into()),
        };
        let pg = url("postgres://u@h/db?sslmode=disable", &strict).unwrap();
        assert_eq!(pg.tls.mode, SslMode::VerifyFull);
        let loose = TlsSettings {
            db_sslmode: Some(SslMode::Disable),
            db_sslrootcert: None,
        };
        let error = url("postgres://u@h/db?sslmode=verify-ca", &loose).unwrap_err();
        assert_eq!(error.setting, "DB_SSLROOTCERT");
        assert!(error.problem.contains("verify-ca"), "{error}");
        let error = url("postgres://u@h/db?sslmode=verify-everything", &loose).unwrap_err();
        assert_eq!(error.setting, "DATABASE_URL");
        assert!(error.problem.contains("verify-everything"), "{error}");
        let error = url(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fnowhere%2Fca.pem",
            &loose,
        )
        .unwrap_err();
        assert_eq!(error.setting, "DATABASE_URL");
        assert!(error.problem.contains("/nowhere/ca.pem"), "{error}");
        let error = url("postgres://u@h/db?sslcert=client.pem", &loose).unwrap_err();
        assert!(error.problem.contains("sslcert"), "{error}");
        assert_eq!(
            url("postgres://u@h/db", &TlsSettings::default())
                .unwrap()
                .tls
                .mode,
            SslMode::Prefer
        );
    }

    #[test]
    fn ipv6_hosts_are_accepted() {
        assert_eq!(split_host_port("[::1]:5433", 5432).unwrap(), ("::1", 5433));
        assert_eq!(split_host_port("::1", 5432).unwrap(), ("::1", 5432));
    }
}
