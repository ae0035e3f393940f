//! Wiring: configuration in, a bound listener and a running server out.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rand::RngCore;
use tokio::net::TcpListener;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::config::{Config, ConfigError, DatabaseConfig, SecretString};
use crate::http::{self, AppState};
use crate::store::{self, Store};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const GENERATED_SECRET_FILE: &str = "jwt_secret";

/// A built application: its store is open and migrated and its port is bound.
pub struct Application {
    listener: TcpListener,
    router: Router,
    security: Arc<crate::config::SecurityConfig>,
    store: Arc<dyn Store>,
    metrics_listener: Option<TcpListener>,
    /// Sends the outbox's messages while the server runs (when SMTP_URL is set).
    mail_sender: Option<crate::mail::sender::Sender>,
}

impl Application {
    /// Every failure here is a configuration problem reported as one line naming the setting.
    pub async fn build(config: &Config) -> Result<Self, ConfigError> {
        let secret = match config.signing_secret()? {
            Some(secret) => secret.clone(),
            None => load_or_generate_secret(&config.data_dir)?,
        };
        let store = store::open(&config.database, config.db_pool_size)
            .await
            .map_err(|e| store::open_error(&config.database, &e))?;
        if matches!(config.database, DatabaseConfig::Sqlite { .. }) {
            seed_demo_ballot(store.as_ref()).await?;
        }
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            ConfigError::new("PORT", format!("cannot listen on {}: {e}", config.listen))
        })?;
        let metrics_listener = match config.metrics_addr {
            None => None,
            Some(addr) => {
                http::metrics::handle();
                Some(TcpListener::bind(addr).await.map_err(|e| {
                    ConfigError::new("METRICS_ADDR", format!("cannot listen on {addr}: {e}"))
                })?)
            }
        };
        let security = Arc::new(config.security.clone());
        let state = AppState::new(http::SharedState {
            store: Arc::clone(&store),
            hasher: PasswordHasher::new(
                security.argon2_max_concurrent(),
                security.argon2_max_queued(),
            ),
            tokens: Arc::new(TokenKeys::new(&secret, config.jwt_ttl)),
            limiter: Arc::new(http::rate_limit::RateLimiter::new(
                Arc::clone(&store),
                Arc::clone(&security),
                &secret,
            )),
            security,
            reads: Arc::new(http::read_cache::ReadCache::new(Arc::clone(&store))),
            elections: Arc::new(http::election_cache::ElectionCache::new(Arc::clone(&store))),
            registration_open: config.registration == crate::config::Registration::Open,
            bench_ceiling_route: config.bench_ceiling_route,
            pseudonym_key: crate::elections::encrypted::pseudonym_key(
                secrecy::ExposeSecret::expose_secret(&secret).as_bytes(),
            ),
            encrypted: Arc::default(),
            board_writer: Arc::default(),
        });
        if config.bench_ceiling_route {
            tracing::warn!(
                path = http::bench::CEILING_PATH,
                "BENCH_CEILING_ROUTE is on: serving the benchmark's ceiling route; never do this in production"
            );
        }
        let mail_sender = crate::mail::sender::Sender::new(Arc::clone(&store), &config.mail)
            .map_err(|e| ConfigError::new("SMTP_URL", e))?;
        let security = Arc::clone(&state.security);
        Ok(Self {
            listener,
            router: http::router(state),
            security,
            store,
            metrics_listener,
            mail_sender,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where GET /metrics is served, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// The HTTP router, for tests that inspect the routes it serves.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Serves until `shutdown` completes, then stops accepting, gives in-flight requests up to
    /// [`SHUTDOWN_GRACE`] to finish, and closes the database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let addr = self.local_addr()?;
        tracing::info!(%addr, backend = self.store.backend(), "securevote listening");
        if let Some(listener) = self.metrics_listener {
            tracing::info!(addr = %listener.local_addr()?, "metrics listening");
            let metrics = http::metrics::router(Arc::clone(&self.store));
            // Dies with the process; scrapes need no graceful drain.
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, metrics).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
        // Ends with the server; a message being handed over at that moment is sent again by
        // whichever instance finds its claim expired (see crate::store::outbox).
        let mail = self.mail_sender.map(|sender| tokio::spawn(sender.run()));
        // Elections closed by their closing time are sealed by whichever instance looks first.
        let sealer = tokio::spawn(seal_periodically(Arc::clone(&self.store)));
        let limits = crate::serve::ConnectionLimits::from_security(&self.security);
        let shutdown = async move {
            shutdown.await;
            crate::systemd::stopping();
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
        };
        crate::systemd::ready();
        let watchdog = crate::systemd::spawn_watchdog();
        let outcome =
            crate::serve::serve(self.listener, self.router, limits, shutdown, SHUTDOWN_GRACE).await;
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        if let Some(mail) = mail {
            mail.abort();
        }
        sealer.abort();
        self.store.close().await;
        tracing::info!("stopped");
        outcome
    }
}

/// How often an instance looks for closed elections to seal.
const SEAL_EVERY: Duration = Duration::from_secs(30);

/// Seals closed elections (see `ElectionStore::seal_closed`) every [`SEAL_EVERY`].
async fn seal_periodically(store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(SEAL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = store.seal_closed().await {
            tracing::warn!(error = %crate::store::error_chain(&e), "sealing closed elections failed");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// The zero-setup quick start: an empty embedded ballot gets the four demo candidates.
/// PostgreSQL deployments import their own ballot (`securevote candidates import`).
async fn seed_demo_ballot(store: &dyn Store) -> Result<(), ConfigError> {
    let demo = store::parse_candidates(store::DEMO_CANDIDATES_JSON)
        .map_err(|e| ConfigError::new("DATA_DIR", format!("built-in demo ballot: {e}")))?;
    let inserted = store.add_candidates_if_empty(&demo).await.map_err(|e| {
        ConfigError::new(
            "DATA_DIR",
            format!("cannot seed the demo ballot: {}", store::error_chain(&e)),
        )
    })?;
    if inserted > 0 {
        tracing::info!(inserted, "empty ballot: added the four demo candidates");
    }
    Ok(())
}

/// The zero-setup secret: generated once, kept in DATA_DIR readable by the owner only, and
/// reused so tokens survive a restart.
fn load_or_generate_secret(data_dir: &Path) -> Result<SecretString, ConfigError> {
    let path = data_dir.join(GENERATED_SECRET_FILE);
    let problem = |what: &str, e: io::Error| {
        ConfigError::new("DATA_DIR", format!("{what} {}: {e}", path.display()))
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim();
            if secret.len() < crate::config::MIN_JWT_SECRET_BYTES {
                return Err(ConfigError::new(
                    "DATA_DIR",
                    format!(
                        "{} holds a secret shorter than 32 bytes; delete it to generate a new one",
                        path.display()
                    ),
                ));
            }
            Ok(SecretString::from(secret))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::private_files::create_private_dir_all(data_dir)
                .map_err(|e| problem("cannot create", e))?;
            let mut bytes = [0u8; 48];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, &secret).map_err(|e| problem("cannot write", e))?;
            tracing::info!(path = %path.display(), "generated a JWT secret");
            Ok(SecretString::from(secret))
        }
        Err(e) => Err(problem("cannot read", e)),
    }
}

fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    crate::private_files::set_mode(path, 0o600)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
