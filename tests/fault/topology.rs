//! The production topology on loopback, as the fault tests need it: a PostgreSQL primary with a
//! synchronous standby, two `securevote` backends (the real binary) configured with both hosts,
//! and open-source NGINX in front, configured from `deploy/nginx`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use uuid::Uuid;

use crate::postgres::{PgCluster, free_port};

pub const JWT_SECRET: &str = "fault-drill-secret-fault-drill-secret-0123";
pub const DATABASE: &str = "votes";
const STANDBY_NAME: &str = "standby1";

/// One `securevote serve` process.
pub struct Backend {
    pub port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
    database_url: String,
    data_dir: PathBuf,
    /// Settings on top of the drill's own (e.g. SMTP for the invitation drill).
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Backend {
    pub fn new(database_url: String, work: &Path, index: usize) -> Self {
        let data_dir = work.join(format!("backend{index}"));
        std::fs::create_dir_all(&data_dir).expect("backend dir");
        Self {
            port: free_port(),
            metrics_port: free_port(),
            log: work.join(format!("backend{index}.log")),
            database_url,
            data_dir,
            env: Vec::new(),
            child: None,
        }
    }

    /// A setting for every later start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("backend log");
        let child = Command::new(env!("CARGO_BIN_EXE_securevote"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &self.database_url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("PORT", self.port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("METRICS_ADDR", format!("127.0.0.1:{}", self.metrics_port))
            .env("DATA_DIR", &self.data_dir)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start securevote");
        self.child = Some(child);
    }

    /// SIGKILL: no graceful shutdown, in-flight requests die with it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Requests this backend has served, per its own Prometheus counter.
    pub async fn requests_served(&self, client: &reqwest::Client) -> u64 {
        let Ok(response) = client
            .get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .send()
            .await
        else {
            return 0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with("securevote_http_requests_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub use crate::nginx::{Nginx, which};

/// NGINX with the project's configuration in front of the backends. The drills' whole load comes
/// from one address, so the per-address limits are lifted here (tests/nginx.rs tests them).
pub fn start_nginx(backends: &[Backend], work: &Path) -> Nginx {
    let upstreams: Vec<String> = backends
        .iter()
        .map(|b| format!("127.0.0.1:{}", b.port))
        .collect();
    Nginx::start(
        &upstreams,
        work,
        &[
            ("REQ_RATE", "100000r/s".into()),
            ("REQ_BURST", "100000".into()),
            ("CONN_PER_ADDR", "10000".into()),
        ],
    )
}

/// Primary + synchronous standby + two backends + NGINX.
pub struct Topology {
    pub work: TempDir,
    pub primary: PgCluster,
    pub standby: PgCluster,
    pub backends: Vec<Backend>,
    pub nginx: Nginx,
    pub voters: Vec<crate::drill::Voter>,
    pub candidates: Vec<Uuid>,
}

impl Topology {
    pub async fn start(voters: usize) -> Self {
        let work = tempfile::Builder::new()
            .prefix("securevote-fault-")
            .tempdir()
            .expect("work dir");
        let primary =
            PgCluster::start_with(&["max_slot_wal_keep_size=1GB", "wal_sender_timeout=5s"]);
        primary
            .connect("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await
            .expect("create db");
        let standby = primary.start_synchronous_standby(STANDBY_NAME);
        let admin = primary.connect("postgres").await;
        // Set after the standby is cloned, so only the primary waits for a standby; a promoted
        // standby runs without one until the old primary is rebuilt (the documented policy).
        for statement in [
            format!("ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'"),
            "ALTER SYSTEM SET synchronous_commit = 'on'".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            admin
                .batch_execute(&statement)
                .await
                .expect("enable synchronous replication");
        }
        wait_for_sync_standby(&primary).await;

        let url = format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{DATABASE}",
            primary.port, standby.port
        );
        let (voters, candidates) = crate::drill::prepare_ballot(&primary, voters).await;
        let mut backends: Vec<Backend> = (0..2)
            .map(|i| Backend::new(url.clone(), work.path(), i))
            .collect();
        for backend in &mut backends {
            backend.start();
        }
        let client = reqwest::Client::new();
        for backend in &backends {
            wait_for_health(&client, &backend.url(), Duration::from_secs(30)).await;
        }
        let nginx = start_nginx(&backends, work.path());
        wait_for_health(&client, &nginx.url(), Duration::from_secs(30)).await;
        Self {
            work,
            primary,
            standby,
            backends,
            nginx,
            voters,
            candidates,
        }
    }

    /// PostgreSQL nodes that answer and accept writes (must be exactly one).
    pub async fn writable_nodes(&self) -> Vec<&PgCluster> {
        let mut writable = Vec::new();
        for node in [&self.primary, &self.standby] {
            if node.accepts_writes().await {
                writable.push(node);
            }
        }
        writable
    }
}

pub async fn wait_for_sync_standby(primary: &PgCluster) {
    let admin = primary.connect("postgres").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = admin
            .query(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1",
                &[&STANDBY_NAME],
            )
            .await
            .expect("pg_stat_replication");
        if rows.iter().any(|r| r.get::<_, String>(0) == "sync") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_for_health(client: &reqwest::Client, base: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(response) = client.get(format!("{base}/health")).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base}/health did not answer 200 within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
