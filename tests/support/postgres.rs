//! Real PostgreSQL clusters for the tests, started by the harness itself: `initdb` into a temp
//! directory, `pg_ctl start` on a free loopback port, run as the `postgres` OS user when the
//! tests run as root (PostgreSQL refuses to run as root). A watchdog stops each cluster when
//! the test process exits, however it exits.
//!
//! There is no fallback: when the server binaries are missing the tests fail and say how to
//! install them.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

pub struct PgCluster {
    pub port: u16,
    pub data_dir: PathBuf,
    root: PathBuf,
    /// Extra `-c name=value` server settings, kept for restarts.
    settings: Vec<String>,
    /// The address the tests connect to: 127.0.0.1, unless attached elsewhere.
    host: String,
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let default = PathBuf::from("/usr/lib/postgresql/15/bin");
    assert!(
        default.join("initdb").exists(),
        "PostgreSQL 15 server binaries not found in {} (set PG_BIN, or run ./scripts/test, which installs postgresql-15)",
        default.display()
    );
    default
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command for a PostgreSQL tool, as the `postgres` user when we are root.
pub fn pg_command(tool: &str) -> Command {
    let path = bin_dir().join(tool);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port nothing listens on, never the same twice in this process: a formation picks its
/// nodes' ports before any of them listens, and the kernel may hand out a just-closed ephemeral
/// port again (two nodes on one port fail `pg_autoctl create` with a duplicate key).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind an ephemeral port")
            .local_addr()
            .expect("local addr")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn make_root() -> PathBuf {
    let root = tempfile::Builder::new()
        .prefix("securevote-pg-")
        .tempdir()
        .expect("temp dir")
        .keep();
    if running_as_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&root);
                c
            },
            "chown the cluster directory to postgres",
        );
    }
    root
}

impl PgCluster {
    /// The cluster shared by every test in this process; each test makes its own database.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start)
    }

    /// A new primary that only the calling test uses (for tests that stop or break it).
    pub fn start() -> PgCluster {
        Self::start_with(&[])
    }

    /// A new primary with extra server settings (`name=value`).
    pub fn start_with(settings: &[&str]) -> PgCluster {
        let root = make_root();
        let data_dir = root.join("data");
        let mut initdb = pg_command("initdb");
        initdb
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data_dir);
        run(initdb, "initdb");
        let cluster = PgCluster {
            port: free_port(),
            data_dir,
            root,
            settings: settings.iter().map(|s| s.to_string()).collect(),
            host: "127.0.0.1".to_owned(),
        };
        cluster.start_server();
        cluster.watch();
        cluster
    }

    /// A handle on a server that something else runs (pg_autoctl, in the fault drills), reached
    /// at `host:port` as `postgres` without a password. Starting, stopping and cleaning up stay
    /// with its owner: no watchdog is attached.
    pub fn attach(host: &str, port: u16, data_dir: PathBuf) -> PgCluster {
        let root = data_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.clone());
        PgCluster {
            port,
            data_dir,
            root,
            settings: Vec::new(),
            host: host.to_owned(),
        }
    }

    /// A streaming-replication standby of this cluster: read-only, in recovery.
    pub fn start_standby(&self) -> PgCluster {
        self.start_standby_with(None, &[])
    }

    /// A standby streaming through the physical replication slot `name` (created here) and
    /// announcing itself as `name`, so the primary can list it in `synchronous_standby_names`.
    pub fn start_synchronous_standby(&self, name: &str) -> PgCluster {
        self.start_standby_with(Some(name), &[])
    }

    fn start_standby_with(&self, slot: Option<&str>, settings: &[&str]) -> PgCluster {
        let root = make_root();
        let data_dir = root.join("data");
        let mut basebackup = pg_command("pg_basebackup");
        basebackup
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-X",
                "stream",
                "-R",
                // An immediate checkpoint: the default spreads it over minutes.
                "-c",
                "fast",
                "-p",
            ])
            .arg(self.port.to_string())
            .arg("-D")
            .arg(&data_dir);
        if let Some(slot) = slot {
            basebackup.args(["-C", "-S", slot]);
        }
        run(basebackup, "pg_basebackup");
        let mut standby_settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        if let Some(slot) = slot {
            standby_settings.push(format!("cluster_name={slot}"));
        }
        let standby = PgCluster {
            port: free_port(),
            data_dir,
            root,
            settings: standby_settings,
            host: "127.0.0.1".to_owned(),
        };
        standby.start_server();
        standby.watch();
        standby
    }

    pub fn start_server(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c shared_buffers=32MB -c wal_recycle=off",
            self.port,
            self.root.display()
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        let mut pg_ctl = pg_command("pg_ctl");
        pg_ctl
            .args(["-w", "-t", "30", "-o", &options, "-l"])
            .arg(self.root.join("server.log"))
            .arg("-D")
            .arg(&self.data_dir)
            .arg("start");
        run(pg_ctl, "pg_ctl start");
    }

    /// Stops the server at once, like a crash.
    pub fn stop_immediately(&self) {
        let mut pg_ctl = pg_command("pg_ctl");
        pg_ctl
            .args(["-w", "-m", "immediate", "-D"])
            .arg(&self.data_dir)
            .arg("stop");
        run(pg_ctl, "pg_ctl stop");
    }

    /// The postmaster's PID, from `postmaster.pid`.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// `kill -9` of the postmaster: a crash with no shutdown at all.
    pub fn kill9(&self) {
        let pid = self.postmaster_pid().expect("the server is running");
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -9 {pid}");
    }

    /// `pg_ctl promote`, waiting until the standby accepts writes.
    pub fn promote(&self) {
        let mut pg_ctl = pg_command("pg_ctl");
        pg_ctl
            .args(["-w", "-t", "30", "-D"])
            .arg(&self.data_dir)
            .arg("promote");
        run(pg_ctl, "pg_ctl promote");
    }

    /// Whether this node answers and accepts writes.
    pub async fn accepts_writes(&self) -> bool {
        let url = self.url("postgres");
        let connect =
            tokio::time::timeout(Duration::from_secs(3), tokio_postgres::connect(&url, NoTls))
                .await;
        let Ok(Ok((client, connection))) = connect else {
            return false;
        };
        tokio::spawn(connection);
        matches!(
            client
                .query_one("SELECT NOT pg_is_in_recovery()", &[])
                .await
                .map(|row| row.get::<_, bool>(0)),
            Ok(true)
        )
    }

    /// Stops the server when this test process is gone, and removes its files.
    // The watchdog must outlive this process, so it is deliberately never waited for.
    #[allow(clippy::zombie_processes)]
    fn watch(&self) {
        let pg_ctl = bin_dir().join("pg_ctl");
        let as_postgres = if running_as_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {as_postgres}{pg_ctl} -m immediate -D {data} stop >/dev/null 2>&1; rm -rf {root}",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = self.data_dir.display(),
            root = self.root.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the cluster watchdog");
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@{}:{}/{database}", self.host, self.port)
    }

    pub async fn connect(&self, database: &str) -> tokio_postgres::Client {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match tokio_postgres::connect(&self.url(database), NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    return client;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!(
                    "cannot connect to the test cluster at {}:{}: {e}",
                    self.host, self.port
                ),
            }
        }
    }

    /// A fresh, empty database for one test.
    pub async fn create_database(&self) -> String {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = self.connect("postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        name
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}
