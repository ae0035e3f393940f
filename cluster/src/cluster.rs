//! The local cluster's commands: state directory, PostgreSQL in manual mode (primary +
//! synchronous standby) and in auto mode (pg_auto_failover: monitor, three data nodes), the two
//! backends, NGINX.

use crate::settings;
use crate::sys::{
    self, Deadline, R, live_pid, ok, output, output_with_input, pid_alive, run_logged,
    run_logged_fresh, say, secs, spawn_logged, stop_pid, wait_http_200, wait_until, warn,
};
use crate::votes;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// Fixed loopback ports (documented in deploy/README.md).
const MONITOR_PORT: u16 = 54320;
const PG1_PORT: u16 = 54321;
const PG2_PORT: u16 = 54322;
const PG3_PORT: u16 = 54323;
const BACKEND_PORTS: [u16; 2] = [3001, 3002];
const METRICS_PORTS: [u16; 2] = [9101, 9102];
const HTTP_PORT: u16 = 8080;
const HTTPS_PORT: u16 = 8443;
const HOST: &str = "127.0.0.1";
/// The data nodes of manual mode (primary + synchronous standby).
const MANUAL_NODES: [&str; 2] = ["pg1", "pg2"];
/// The data nodes of auto mode (primary + two standbys, number_sync_standbys = 1).
const AUTO_NODES: [&str; 3] = ["pg1", "pg2", "pg3"];
/// The formation's number_sync_standbys in auto mode: a write is acknowledged once it is on
/// the primary and on one of the two standbys.
const NUMBER_SYNC_STANDBYS: u32 = 1;
const PG_AUTOCTL: &str = "/usr/bin/pg_autoctl";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Manual,
    Auto,
}

impl Mode {
    fn parse(text: &str) -> Option<Mode> {
        match text.trim() {
            "manual" => Some(Mode::Manual),
            "auto" => Some(Mode::Auto),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Mode::Manual => "manual",
            Mode::Auto => "auto",
        }
    }
}

pub struct Cluster {
    repo: PathBuf,
    script_dir: PathBuf,
    state_dir: PathBuf,
    pg_bin: PathBuf,
    cargo_target: PathBuf,
    securevote_bin: PathBuf,
    pg_root: PathBuf,
    pg_run: PathBuf,
    /// Unix socket directory: pg_autoctl starts PostgreSQL without a socket directory option,
    /// so in auto mode the sockets are in Debian's default directory.
    pg_sock: PathBuf,
    pg_log: PathBuf,
    run_dir: PathBuf,
    log_dir: PathBuf,
    secrets: PathBuf,
    nginx_dir: PathBuf,
    /// The PostgreSQL, pg_auto_failover and pg_hba settings: plain files, also read by the fault
    /// drills (tests/fault/auto_failover.rs) and bench/run. deploy/README.md lists them.
    pg_conf_dir: PathBuf,
    root: bool,
    pg_os_user: String,
    /// The mode `up` asked for (None for the other commands: the saved one).
    up_mode: Option<Mode>,
    /// The data nodes of the mode: MANUAL_NODES or AUTO_NODES.
    nodes: &'static [&'static str],
    /// How the user calls this tool, for the hints printed.
    prog: String,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(&path))
            .unwrap_or(path)
    }
}

fn read(path: &Path) -> R<String> {
    fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// The other node of manual mode's pair.
fn other_node(node: &str) -> &'static str {
    if node == "pg1" { "pg2" } else { "pg1" }
}

fn node_port(node: &str) -> u16 {
    match node {
        "pg1" => PG1_PORT,
        "pg2" => PG2_PORT,
        "pg3" => PG3_PORT,
        _ => MONITOR_PORT,
    }
}

/// `name reported_state goal_state` lines of the monitor: `count` nodes, one of them primary and
/// every other one secondary, each in its goal state.
fn states_settled(states: &str, count: usize) -> bool {
    let lines: Vec<&str> = states.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.len() == count
        && lines
            .iter()
            .filter(|l| l.ends_with(" primary primary"))
            .count()
            == 1
        && lines
            .iter()
            .filter(|l| l.ends_with(" secondary secondary"))
            .count()
            == count - 1
}

/// The reported state of `node` when it is wait_primary or primary.
fn promoted_state<'a>(states: &'a str, node: &str) -> Option<&'a str> {
    states.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(node))
            .then(|| words.next())
            .flatten()
            .filter(|state| matches!(*state, "wait_primary" | "primary"))
    })
}

/// The formation URI `pg_autoctl show uri` printed, unchanged except for the user and password
/// put in front of its hosts (replacing a user it may name).
fn uri_with_credentials(uri: &str, user: &str, password: &str) -> R<String> {
    let uri = uri.trim();
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("not a postgres:// URI: {uri}"))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let hosts = authority.rsplit('@').next().unwrap_or_default();
    Ok(format!("{scheme}://{user}:{password}@{hosts}{tail}"))
}

/// The data node a `pgautofailover_standby_<nodeid>` application name stands for, from the
/// monitor's `nodeid nodename` lines.
fn standby_node<'a>(application_name: &str, ids: &'a str) -> Option<&'a str> {
    let id = application_name.strip_prefix("pgautofailover_standby_")?;
    ids.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(id)).then(|| words.next()).flatten()
    })
}

/// First `limit` characters of `text`, `...` when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() > limit {
        format!("{}...", text.chars().take(limit).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn row(a: &str, b: &str, c: &str, d: &str, e: &str) {
    println!("  {a:<16} {b:<34} {c:<8} {d:<9} {e}");
}

fn updown(pid: Option<u32>) -> &'static str {
    if pid.is_some() { "up" } else { "down" }
}

fn pid_text(pid: Option<u32>) -> String {
    pid.map_or("-".into(), |p| p.to_string())
}

impl Cluster {
    pub fn from_env(up_mode: Option<Option<Mode>>) -> R<Cluster> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .canonicalize()
            .map_err(|e| format!("the repository: {e}"))?;
        let script_dir = repo.join("deploy");
        let state_dir =
            absolute(env_path("STATE_DIR").unwrap_or(repo.join("target/local-cluster")));
        let pg_bin = env_path("PG_BIN").unwrap_or("/usr/lib/postgresql/15/bin".into());
        let cargo_target = absolute(env_path("CARGO_TARGET_DIR").unwrap_or(repo.join("target")));
        let securevote_bin =
            absolute(env_path("SECUREVOTE_BIN").unwrap_or(cargo_target.join("release/securevote")));
        let root = unsafe { libc::geteuid() } == 0;
        let pg_os_user = if root {
            "postgres".to_owned()
        } else {
            output(Command::new("id").arg("-un"))?.trim().to_owned()
        };
        let pg_root = state_dir.join("pg");
        let pg_run = pg_root.join("run");
        let mut cluster = Cluster {
            pg_log: pg_root.join("log"),
            run_dir: state_dir.join("run"),
            log_dir: state_dir.join("logs"),
            secrets: state_dir.join("secrets"),
            nginx_dir: state_dir.join("nginx"),
            pg_conf_dir: script_dir.join("postgres"),
            pg_sock: pg_run.clone(),
            pg_root,
            pg_run,
            repo,
            script_dir,
            state_dir,
            pg_bin,
            cargo_target,
            securevote_bin,
            root,
            pg_os_user,
            up_mode: None,
            nodes: &MANUAL_NODES,
            prog: std::env::var("CLUSTER_COMMAND").unwrap_or("deploy/local-cluster".into()),
        };
        let mode = match up_mode {
            Some(asked) => {
                let env_mode = match std::env::var("MODE") {
                    Ok(m) if !m.is_empty() => {
                        Some(Mode::parse(&m).ok_or("MODE must be manual or auto")?)
                    }
                    _ => None,
                };
                let mode = asked
                    .or(env_mode)
                    .or(cluster.saved_mode())
                    .unwrap_or(Mode::Manual);
                cluster.up_mode = Some(mode);
                mode
            }
            None => cluster.saved_mode().unwrap_or(Mode::Manual),
        };
        if mode == Mode::Auto {
            cluster.pg_sock = "/var/run/postgresql".into();
            cluster.nodes = &AUTO_NODES;
        }
        Ok(cluster)
    }

    fn saved_mode(&self) -> Option<Mode> {
        fs::read_to_string(self.state_dir.join("mode"))
            .ok()
            .and_then(|m| Mode::parse(&m))
    }

    fn node_dir(&self, node: &str) -> PathBuf {
        self.pg_root.join(node)
    }

    // --------------------------------------------------------------------------------------
    // Running things as the PostgreSQL user
    // --------------------------------------------------------------------------------------

    /// PROGRAM as the PostgreSQL OS user, in the PostgreSQL root, with our password file.
    /// setpriv (not runuser/su) so that PROGRAM keeps the child's pid.
    fn as_pg(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let dir = if self.pg_root.is_dir() {
            self.pg_root.clone()
        } else {
            "/".into()
        };
        let mut command;
        if self.root {
            command = Command::new("setpriv");
            command
                .args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ])
                .arg(program)
                .env("HOME", &self.pg_root)
                .env("USER", "postgres")
                .env("LOGNAME", "postgres")
                .env("PATH", format!("{}:/usr/bin:/bin", self.pg_bin.display()));
        } else {
            command = Command::new(program);
            let path = std::env::var("PATH").unwrap_or_default();
            command.env("PATH", format!("{}:{path}", self.pg_bin.display()));
        }
        command
            .current_dir(dir)
            .env("PGPASSFILE", self.pg_root.join("pgpass"))
            .env("XDG_RUNTIME_DIR", &self.pg_run)
            .env("PGHOST", &self.pg_sock);
        command
    }

    fn pg_tool(&self, tool: &str) -> Command {
        self.as_pg(self.pg_bin.join(tool))
    }

    /// Superuser psql over the unix socket.
    fn psql(&self, port: u16) -> Command {
        let mut command = self.pg_tool("psql");
        command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.pg_sock)
            .args(["-p", &port.to_string(), "-U", "postgres", "-d", "postgres"]);
        command
    }

    /// One value (or rows, |-separated) from a query; an error when the node is down.
    fn sql(&self, port: u16, query: &str) -> R<String> {
        output(self.psql(port).args(["-c", query])).map(|out| out.trim_end_matches('\n').to_owned())
    }

    /// SQL from stdin (secrets stay out of argument lists and files).
    fn sql_script(&self, port: u16, db: &str, script: &str) -> R<()> {
        output_with_input(self.psql(port).args(["-d", db, "-f", "-"]), script).map(|_| ())
    }

    /// CONTENT into FILE, owned by the PostgreSQL user, mode 0600.
    fn write_as_pg(&self, file: &Path, content: &str) -> R<()> {
        output_with_input(
            self.as_pg("sh")
                .args(["-c", "umask 077 && cat >\"$1\"", "sh"])
                .arg(file),
            content,
        )
        .map(|_| ())
        .map_err(|e| format!("write {}: {e}", file.display()))
    }

    fn append_as_pg(&self, file: &Path, content: &str) -> R<()> {
        output_with_input(
            self.as_pg("sh")
                .args(["-c", "cat >>\"$1\"", "sh"])
                .arg(file),
            content,
        )
        .map(|_| ())
        .map_err(|e| format!("append to {}: {e}", file.display()))
    }

    fn render(&self, file: &str, values: &[(&str, &str)]) -> R<String> {
        let path = self.pg_conf_dir.join(file);
        settings::render(&read(&path)?, values).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn pg_running(&self, node: &str) -> bool {
        self.pg_tool("pg_ctl")
            .arg("-D")
            .arg(self.node_dir(node))
            .arg("status")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn postmaster_pid(&self, node: &str) -> Option<u32> {
        live_pid(&self.node_dir(node).join("postmaster.pid"), "postgres")
    }

    /// primary | standby | down
    fn node_role(&self, node: &str) -> &'static str {
        match self.sql(node_port(node), "SELECT pg_is_in_recovery()") {
            Err(_) => "down",
            Ok(r) if r == "t" => "standby",
            Ok(_) => "primary",
        }
    }

    fn current_primary(&self) -> Option<&'static str> {
        self.nodes
            .iter()
            .copied()
            .find(|n| self.node_role(n) == "primary")
    }

    // --------------------------------------------------------------------------------------
    // Prerequisites and state directory
    // --------------------------------------------------------------------------------------

    fn ensure_packages(&self, packages: &[&str]) -> R<()> {
        let missing: Vec<&str> = packages
            .iter()
            .copied()
            .filter(|p| {
                !output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                    .is_ok_and(|s| s.contains("install ok installed"))
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let list = missing.join(" ");
        if !self.root {
            return Err(format!(
                "missing Debian packages: {list} (run: sudo apt-get install {list})"
            ));
        }
        say(&format!("installing Debian packages: {list}"));
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let _ = Command::new("apt-get").arg("update").status();
            if !install() {
                return Err(format!("apt-get install {list} failed"));
            }
        }
        Ok(())
    }

    fn ensure_binary(&self) -> R<()> {
        let bin = &self.securevote_bin;
        if is_executable(bin) {
            return Ok(());
        }
        if *bin != self.cargo_target.join("release/securevote") {
            return Err(format!(
                "SECUREVOTE_BIN={} is not an executable file",
                bin.display()
            ));
        }
        say("building the backend: cargo build --release (first build takes a few minutes)");
        let built = Command::new("cargo")
            .args(["build", "--release"])
            .current_dir(&self.repo)
            .status()
            .map_err(|e| {
                format!(
                    "{} is missing and cargo cannot run ({e}; https://rustup.rs)",
                    bin.display()
                )
            })?;
        if !built.success() || !is_executable(bin) {
            return Err(format!("cargo build did not produce {}", bin.display()));
        }
        Ok(())
    }

    /// The generated secret NAME (created on first use, 0600).
    fn secret(&self, name: &str) -> R<String> {
        let file = self.secrets.join(name);
        match fs::read_to_string(&file) {
            Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            _ => {
                let value = sys::random_hex()?;
                write_private(&file, &format!("{value}\n"))?;
                Ok(value)
            }
        }
    }

    fn chown_pg(&self, paths: &[&Path]) -> R<()> {
        if self.root {
            output(Command::new("chown").arg("postgres:postgres").args(paths))?;
        }
        Ok(())
    }

    fn prepare_state_dir(&self) -> R<()> {
        for dir in [
            &self.state_dir,
            &self.run_dir,
            &self.log_dir,
            &self.nginx_dir.join("tmp"),
            &self.nginx_dir.join("tls"),
            &self.secrets,
            &self.pg_root,
            &self.pg_run,
            &self.pg_log,
        ] {
            fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        set_mode(&self.secrets, 0o700)?;
        self.chown_pg(&[&self.pg_root, &self.pg_run, &self.pg_log])?;
        if self.root
            && !self
                .as_pg("test")
                .arg("-x")
                .arg(&self.pg_root)
                .status()
                .is_ok_and(|s| s.success())
        {
            return Err(format!(
                "user postgres cannot access {} (check the permissions of its parent directories)",
                self.pg_root.display()
            ));
        }
        set_mode(&self.pg_root, 0o700)?;
        // Password file of the postgres user (replication, pg_rewind, pg_auto_failover).
        let replicator = self.secret("replicator_password")?;
        let pgpass = format!(
            "{HOST}:*:replication:replicator:{replicator}\n\
             {HOST}:*:postgres:rewind:{}\n\
             {HOST}:*:*:pgautofailover_replicator:{replicator}\n\
             {HOST}:*:pg_auto_failover:autoctl_node:{}\n",
            self.secret("rewind_password")?,
            self.secret("autoctl_password")?
        );
        let new = self.pg_root.join("pgpass.new");
        let _ = fs::remove_file(&new);
        write_private(&new, &pgpass)?;
        self.chown_pg(&[&new])?;
        fs::rename(&new, self.pg_root.join("pgpass")).map_err(|e| format!("pgpass: {e}"))
    }

    // --------------------------------------------------------------------------------------
    // Manual mode: PostgreSQL primary + synchronous standby
    // --------------------------------------------------------------------------------------

    /// Per-node settings (node.conf) and the standby role. Everything else in the data
    /// directory is identical on both nodes (pg_basebackup/pg_rewind copy it), which is why the
    /// port, the name and the upstream live in this one file that is rewritten after every copy.
    fn configure_node(&self, node: &str, upstream: Option<&str>) -> R<()> {
        let dir = self.node_dir(node);
        let mut conf = format!(
            "# written by deploy/local-cluster: settings of THIS node only\n\
             port = {}\ncluster_name = '{node}'\n",
            node_port(node)
        );
        if let Some(up) = upstream {
            conf += &format!(
                "primary_conninfo = 'host={HOST} port={} user=replicator passfile={} \
                 application_name={node} connect_timeout=2'\nprimary_slot_name = '{node}'\n",
                node_port(up),
                self.pg_root.join("pgpass").display()
            );
        }
        self.write_as_pg(&dir.join("node.conf"), &conf)?;
        // Standby settings must come from node.conf only (pg_rewind copies the source's
        // postgresql.auto.conf, which may carry another node's primary_conninfo).
        let auto_conf = dir.join("postgresql.auto.conf");
        let kept: String = read(&auto_conf)?
            .lines()
            .filter(|l| !l.starts_with("primary_conninfo") && !l.starts_with("primary_slot_name"))
            .map(|l| format!("{l}\n"))
            .collect();
        self.write_as_pg(&auto_conf, &kept)?;
        let signal = dir.join("standby.signal");
        if upstream.is_some() {
            self.write_as_pg(&signal, "")
        } else {
            match fs::remove_file(&signal) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(format!("{}: {e}", signal.display()))
                }
                _ => Ok(()),
            }
        }
    }

    fn start_node(&self, node: &str) -> R<()> {
        if self.pg_running(node) {
            ok(&format!(
                "{node} already running (pid {})",
                pid_text(self.postmaster_pid(node))
            ));
            return Ok(());
        }
        if self.run_dir.join(format!("{node}.failed")).exists() {
            warn(&format!(
                "{node} is a crashed former primary: not starting it (it would be a second primary). Run: {} rejoin",
                self.prog
            ));
            return Ok(());
        }
        let log = self.pg_log.join(format!("{node}.log"));
        let started = self
            .pg_tool("pg_ctl")
            .arg("-D")
            .arg(self.node_dir(node))
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "120", "-s", "start"])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !started {
            return Err(format!("{node} did not start, see {}", log.display()));
        }
        ok(&format!(
            "{node} started on {HOST}:{} (pid {})",
            node_port(node),
            pid_text(self.postmaster_pid(node))
        ));
        Ok(())
    }

    fn stop_node(&self, node: &str, mode: &str) -> R<()> {
        if !self.pg_running(node) {
            return Ok(());
        }
        let stopped = self
            .pg_tool("pg_ctl")
            .arg("-D")
            .arg(self.node_dir(node))
            .args(["-m", mode, "-w", "-t", "60", "-s", "stop"])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            return Err(format!("pg_ctl stop of {node} failed"));
        }
        ok(&format!("stopped PostgreSQL {node} ({mode})"));
        Ok(())
    }

    /// Until STANDBY is the synchronous standby of PRIMARY.
    fn wait_sync(&self, primary: &str, standby: &str, limit: u64) -> R<()> {
        let query = format!(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby}'"
        );
        let mut state = String::new();
        if wait_until(
            Duration::from_secs(limit),
            Duration::from_millis(300),
            || {
                state = self.sql(node_port(primary), &query).unwrap_or_default();
                state == "sync"
            },
        ) {
            ok(&format!(
                "{standby} streams from {primary}, sync_state = sync"
            ));
            return Ok(());
        }
        Err(format!(
            "{standby} did not become a synchronous standby of {primary} within {limit}s (sync_state='{}'), see {}",
            if state.is_empty() { "none" } else { &state },
            self.pg_log.join(format!("{standby}.log")).display()
        ))
    }

    fn ensure_slot(&self, primary: &str, slot: &str) -> R<()> {
        self.sql(
            node_port(primary),
            &format!(
                "SELECT pg_create_physical_replication_slot('{slot}') WHERE NOT EXISTS \
                 (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}')"
            ),
        )
        .map(|_| ())
    }

    fn basebackup(&self, node: &str, from: &str) -> R<()> {
        let log = self.log_dir.join(format!("basebackup-{node}.log"));
        let mut command = self.pg_tool("pg_basebackup");
        command
            .arg("-D")
            .arg(self.node_dir(node))
            .args(["-h", HOST, "-p", &node_port(from).to_string()])
            .args([
                "-U",
                "replicator",
                "-w",
                "-S",
                node,
                "-X",
                "stream",
                "-c",
                "fast",
            ]);
        if !run_logged_fresh(&mut command, &log)? {
            return Err(format!("pg_basebackup failed, see {}", log.display()));
        }
        Ok(())
    }

    fn init_manual_cluster(&self) -> R<()> {
        let pg1 = self.node_dir("pg1");
        say(&format!(
            "creating PostgreSQL primary pg1 (initdb) in {}",
            pg1.display()
        ));
        let log = self.log_dir.join("initdb-pg1.log");
        let mut initdb = self.pg_tool("initdb");
        initdb
            .arg("-D")
            .arg(&pg1)
            .args([
                "-U",
                "postgres",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ])
            .args(["--encoding=UTF8", "--locale=C.UTF-8", "--data-checksums"]);
        if !run_logged_fresh(&mut initdb, &log)? {
            return Err(format!("initdb failed, see {}", log.display()));
        }
        // The production settings, unchanged, plus what is specific to this machine.
        self.write_as_pg(
            &pg1.join("securevote.conf"),
            &read(&self.pg_conf_dir.join("securevote.conf"))?,
        )?;
        let socket_dir = self.pg_run.display().to_string();
        self.write_as_pg(
            &pg1.join("local.conf"),
            &format!(
                "# written by deploy/local-cluster from deploy/postgres/local-cluster.conf\n{}",
                self.render(
                    "local-cluster.conf",
                    &[("HOST", HOST), ("SOCKET_DIR", &socket_dir)]
                )?
            ),
        )?;
        self.append_as_pg(
            &pg1.join("postgresql.conf"),
            "\n# --- securevote (appended by deploy/local-cluster) ---\n\
             include = 'securevote.conf'         # deploy/postgres/securevote.conf\n\
             include_if_exists = 'local.conf'    # local cluster paths\n\
             include_if_exists = 'node.conf'     # port, name, upstream of this node\n",
        )?;
        self.write_as_pg(
            &pg1.join("pg_hba.conf"),
            &format!(
                "# written by deploy/local-cluster from deploy/postgres/pg_hba.local-cluster\n{}",
                self.render("pg_hba.local-cluster", &[("HOST", HOST)])?
            ),
        )?;
        self.write_as_pg(
            &pg1.join("pg_ident.conf"),
            &format!(
                "# written by deploy/local-cluster from deploy/postgres/pg_ident.local-cluster\n{}",
                self.render(
                    "pg_ident.local-cluster",
                    &[("PG_OS_USER", &self.pg_os_user)]
                )?
            ),
        )?;
        self.configure_node("pg1", None)?;
        self.start_node("pg1")?;

        say("roles, database and replication slot (deploy/postgres/setup-primary.sql)");
        let script = format!(
            "\\set securevote_password '{}'\n\\set replicator_password '{}'\n\\set rewind_password '{}'\n{}",
            self.secret("db_password")?,
            self.secret("replicator_password")?,
            self.secret("rewind_password")?,
            read(&self.pg_conf_dir.join("setup-primary.sql"))?
        );
        self.sql_script(PG1_PORT, "postgres", &script)?;
        ok("roles securevote, replicator, rewind; database securevote; slot pg2");

        say(&format!(
            "creating synchronous standby pg2 (pg_basebackup -S pg2) in {}",
            self.node_dir("pg2").display()
        ));
        self.basebackup("pg2", "pg1")?;
        self.configure_node("pg2", Some("pg1"))?;
        self.start_node("pg2")?;
        self.wait_sync("pg1", "pg2", 60)?;
        self.sql(PG1_PORT, PROBE_TABLE)?;
        Ok(())
    }

    fn start_manual_cluster(&self) -> R<()> {
        for node in MANUAL_NODES {
            if !self.node_dir(node).join("PG_VERSION").is_file() {
                return Err(format!(
                    "{} is not a PostgreSQL data directory; run '{} destroy' and 'up' again",
                    self.node_dir(node).display(),
                    self.prog
                ));
            }
        }
        for node in MANUAL_NODES {
            self.start_node(node)?;
        }
        let primary = self.current_primary().ok_or_else(|| {
            format!(
                "no PostgreSQL node is primary, see {}/",
                self.pg_log.display()
            )
        })?;
        let standby = other_node(primary);
        if self.node_role(standby) == "standby" {
            self.wait_sync(primary, standby, 60)
        } else {
            warn(&format!(
                "no standby is running: writes (votes) WAIT until one is back (run '{} rejoin')",
                self.prog
            ));
            Ok(())
        }
    }

    // --------------------------------------------------------------------------------------
    // Backends
    // --------------------------------------------------------------------------------------

    /// Manual mode: both nodes, plain TCP. Auto mode: the formation URI as `pg_autoctl show
    /// uri --formation default` printed it (every node, `target_session_attrs=read-write`,
    /// `sslmode=require`), with the application's user and password added.
    fn database_url(&self) -> R<String> {
        let password = self.secret("db_password")?;
        if self.saved_mode() == Some(Mode::Auto) {
            let file = self.state_dir.join("database-uri");
            return uri_with_credentials(&read(&file)?, "securevote", &password);
        }
        Ok(format!(
            "postgres://securevote:{password}@{HOST}:{PG1_PORT},{HOST}:{PG2_PORT}/securevote"
        ))
    }

    fn backend_dir(&self, i: usize) -> PathBuf {
        self.state_dir.join(format!("backend{i}"))
    }

    /// backend I's settings (the format of /etc/securevote/securevote.env), as name/value pairs.
    fn write_backend_env(&self, i: usize) -> R<Vec<(String, String)>> {
        let dir = self.backend_dir(i);
        fs::create_dir_all(dir.join("data")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut vars = vec![
            ("DATABASE_URL", self.database_url()?),
            ("JWT_SECRET", self.secret("jwt_secret")?),
            ("PORT", BACKEND_PORTS[i - 1].to_string()),
            ("BIND_ADDR", HOST.to_owned()),
            ("DATA_DIR", dir.join("data").display().to_string()),
            ("LOG_FORMAT", "text".to_owned()),
            ("METRICS_ADDR", format!("{HOST}:{}", METRICS_PORTS[i - 1])),
            ("TRUSTED_PROXIES", format!("{HOST}/32")),
        ];
        // A newly promoted node runs for a moment without a synchronous standby (wait_primary):
        // no ballot is acknowledged until one follows it again.
        if self.saved_mode() == Some(Mode::Auto) {
            vars.push(("DB_REQUIRE_SYNC_STANDBY", "true".to_owned()));
        }
        let mut text = String::from(
            "# written by deploy/local-cluster (same format as /etc/securevote/securevote.env)\n",
        );
        for (k, v) in &vars {
            text += &format!("{k}={v}\n");
        }
        let file = dir.join("securevote.env");
        let _ = fs::remove_file(&file);
        write_private(&file, &text)?;
        Ok(vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// The binary with backend I's settings, in its directory.
    fn securevote(&self, i: usize, program: &Path) -> R<Command> {
        let vars = self.write_backend_env(i)?;
        let mut command = Command::new(program);
        command.current_dir(self.backend_dir(i)).envs(vars);
        Ok(command)
    }

    fn backend_pid(&self, i: usize) -> Option<u32> {
        live_pid(&self.run_dir.join(format!("backend{i}.pid")), "securevote")
    }

    fn start_backend(&self, i: usize) -> R<()> {
        if let Some(pid) = self.backend_pid(i) {
            ok(&format!("backend{i} already running (pid {pid})"));
            return Ok(());
        }
        let log = self.log_dir.join(format!("backend{i}.log"));
        // setsid: its own session, out of reach of the terminal's signals.
        let mut command = self.securevote(i, Path::new("setsid"))?;
        command.arg(&self.securevote_bin).arg("serve");
        let child = spawn_logged(&mut command, &log)?;
        write_file(
            &self.run_dir.join(format!("backend{i}.pid")),
            &format!("{}\n", child.id()),
        )?;
        let port = BACKEND_PORTS[i - 1];
        if !wait_http_200(
            &format!("http://{HOST}:{port}/health"),
            Duration::from_secs(60),
        ) {
            let tail = read(&log).unwrap_or_default();
            let lines: Vec<&str> = tail.lines().collect();
            eprintln!("{}", lines[lines.len().saturating_sub(20)..].join("\n"));
            return Err(format!(
                "backend{i} did not answer 200 on /health within 60s, see {}",
                log.display()
            ));
        }
        ok(&format!(
            "backend{i} on {HOST}:{port} (pid {})",
            pid_text(self.backend_pid(i))
        ));
        Ok(())
    }

    fn stop_backend(&self, i: usize) {
        if let Some(pid) = self.backend_pid(i) {
            stop_pid(
                pid,
                "securevote",
                &format!("backend{i}"),
                libc::SIGTERM,
                "TERM",
            );
        }
        let _ = fs::remove_file(self.run_dir.join(format!("backend{i}.pid")));
    }

    fn migrate(&self) -> R<()> {
        say("database schema: securevote migrate");
        let log = self.log_dir.join("migrate.log");
        let mut command = self.securevote(1, &self.securevote_bin)?;
        command.arg("migrate");
        if !run_logged(&mut command, &log)? {
            return Err(format!("securevote migrate failed, see {}", log.display()));
        }
        ok(&format!("migrated (log: {})", log.display()));
        Ok(())
    }

    fn candidates_file(&self) -> PathBuf {
        self.script_dir.join("candidates.example.json")
    }

    fn seed_candidates(&self) -> R<()> {
        let url = format!("http://{HOST}:{}/api/options", BACKEND_PORTS[0]);
        if matches!(sys::get(&url), Ok((200, body)) if body.contains("\"name\"")) {
            ok("candidates already present");
            return Ok(());
        }
        say("importing candidates from deploy/candidates.example.json");
        let log = self.log_dir.join("migrate.log");
        let mut command = self.securevote(1, &self.securevote_bin)?;
        command
            .args(["candidates", "import"])
            .arg(self.candidates_file());
        if !run_logged(&mut command, &log)? {
            return Err(format!("candidate import failed, see {}", log.display()));
        }
        let count = sys::names(&read(&self.candidates_file())?)?.len();
        ok(&format!("{count} candidates imported"));
        Ok(())
    }

    /// Until each backend, directly on its own port, answers GET /api/options with 200 and every
    /// candidate of deploy/candidates.example.json. Each instance keeps the list in its read cache
    /// for up to a second, so right after the import one of them may still serve the empty
    /// ballot: `up` must not report ready before both serve the imported one.
    fn wait_ballot(&self, limit: u64) -> R<()> {
        let file = self.candidates_file();
        let expected = sys::names(&read(&file)?).map_err(|e| format!("{}: {e}", file.display()))?;
        if expected.is_empty() {
            return Err(format!("no candidates in {}", file.display()));
        }
        for i in 1..=2 {
            let url = format!("http://{HOST}:{}/api/options", BACKEND_PORTS[i - 1]);
            sys::wait_ballot(&expected, Duration::from_secs(limit), &url).map_err(|e| {
                format!(
                    "backend{i} does not serve the imported ballot ({e}), see {}",
                    self.log_dir.join(format!("backend{i}.log")).display()
                )
            })?;
            ok(&format!(
                "backend{i} serves the ballot: {} candidates on {url}",
                expected.len()
            ));
        }
        Ok(())
    }

    // --------------------------------------------------------------------------------------
    // NGINX
    // --------------------------------------------------------------------------------------

    fn nginx_pid(&self) -> Option<u32> {
        live_pid(&self.nginx_dir.join("nginx.pid"), "nginx")
    }

    fn nginx(&self) -> Command {
        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(format!("{}/", self.nginx_dir.display()))
            .arg("-c")
            .arg(self.nginx_dir.join("nginx.conf"));
        command
    }

    fn configure_nginx(&self) -> R<()> {
        let tls = self.nginx_dir.join("tls");
        let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
        if !self.repo.join("web").is_dir() {
            warn(&format!(
                "{}/web does not exist yet: the web UI will answer 404",
                self.repo.display()
            ));
        }
        let nonempty = |p: &Path| fs::metadata(p).is_ok_and(|m| m.len() > 0);
        if !nonempty(&cert) || !nonempty(&key) {
            let log = self.log_dir.join("openssl.log");
            let made = Command::new("sh")
                .args([
                    "-c",
                    "umask 077 && exec openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                     -nodes -days 30 -subj /CN=localhost -addext \"subjectAltName=DNS:localhost,IP:$1\" \
                     -keyout \"$2\" -out \"$3\" 2>\"$4\"",
                    "sh",
                    HOST,
                ])
                .args([&key, &cert, &log])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !made {
                return Err(format!(
                    "openssl could not create the self-signed certificate, see {}",
                    log.display()
                ));
            }
            set_mode(&cert, 0o644)?;
            ok(&format!(
                "self-signed TLS certificate {} (30 days)",
                cert.display()
            ));
        }
        let snippets = self.nginx_dir.join("snippets");
        if fs::symlink_metadata(&snippets).is_ok() {
            fs::remove_file(&snippets).map_err(|e| format!("{}: {e}", snippets.display()))?;
        }
        std::os::unix::fs::symlink(self.script_dir.join("nginx/snippets"), &snippets)
            .map_err(|e| format!("{}: {e}", snippets.display()))?;
        let env_or = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or(default.into())
        };
        let conf = output(
            Command::new(self.script_dir.join("nginx/render-conf"))
                .env(
                    "BACKENDS",
                    format!("{HOST}:{} {HOST}:{}", BACKEND_PORTS[0], BACKEND_PORTS[1]),
                )
                .env("HTTP_LISTEN", format!("{HOST}:{HTTP_PORT}"))
                .env("HTTPS_LISTEN", format!("{HOST}:{HTTPS_PORT}"))
                .env("HTTP_MODE", "app")
                .env("SERVER_NAME", "localhost")
                .env("WEB_ROOT", self.repo.join("web"))
                .env("TLS_CERT", &cert)
                .env("TLS_KEY", &key)
                .env("ACCESS_LOG", self.log_dir.join("nginx-access.log"))
                .env("REQ_RATE", env_or("REQ_RATE", "100000r/s"))
                .env("REQ_BURST", env_or("REQ_BURST", "100000"))
                .env("CONN_PER_ADDR", env_or("CONN_PER_ADDR", "10000")),
        )
        .map_err(|e| format!("deploy/nginx/render-conf: {e}"))?;
        let new = self.nginx_dir.join("securevote.conf.new");
        write_file(&new, &conf)?;
        fs::rename(&new, self.nginx_dir.join("securevote.conf")).map_err(|e| e.to_string())?;
        let n = self.nginx_dir.display();
        let l = self.log_dir.display();
        write_file(
            &self.nginx_dir.join("nginx.conf"),
            &format!(
                "# written by deploy/local-cluster: a private NGINX instance, everything under {n}
# (no 'user' directive: started as root, the workers run as 'nobody')
worker_processes 2;
pid {n}/nginx.pid;
error_log {l}/nginx-error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65s;
    server_tokens off;

    client_body_temp_path {n}/tmp/body;
    proxy_temp_path       {n}/tmp/proxy;
    fastcgi_temp_path     {n}/tmp/fastcgi;
    uwsgi_temp_path       {n}/tmp/uwsgi;
    scgi_temp_path        {n}/tmp/scgi;

    include {n}/securevote.conf;
}}
"
            ),
        )?;
        if let Err(e) = output(self.nginx().args(["-t", "-q"])) {
            let _ = fs::write(self.log_dir.join("nginx-t.log"), &e);
            eprintln!("{e}");
            return Err(format!(
                "nginx -t failed for {}",
                self.nginx_dir.join("nginx.conf").display()
            ));
        }
        ok(&format!(
            "nginx -t: configuration {} is valid",
            self.nginx_dir.join("nginx.conf").display()
        ));
        Ok(())
    }

    fn start_nginx(&self) -> R<()> {
        self.configure_nginx()?;
        let error_log = self.log_dir.join("nginx-error.log");
        if let Some(pid) = self.nginx_pid() {
            run_logged(self.nginx().args(["-s", "reload"]), &error_log)?;
            ok(&format!(
                "nginx already running (pid {pid}), configuration reloaded"
            ));
            return Ok(());
        }
        if !run_logged(&mut self.nginx(), &error_log)? {
            return Err(format!("nginx did not start, see {}", error_log.display()));
        }
        let mut pid = None;
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            pid = self.nginx_pid();
            pid.is_some()
        });
        let pid = pid.ok_or_else(|| {
            format!(
                "nginx did not write {}",
                self.nginx_dir.join("nginx.pid").display()
            )
        })?;
        ok(&format!(
            "nginx on http://{HOST}:{HTTP_PORT} and https://{HOST}:{HTTPS_PORT} (pid {pid})"
        ));
        Ok(())
    }

    fn stop_nginx(&self) {
        if let Some(pid) = self.nginx_pid() {
            stop_pid(pid, "nginx", "nginx", libc::SIGQUIT, "QUIT");
        }
    }

    // --------------------------------------------------------------------------------------
    // Status output
    // --------------------------------------------------------------------------------------

    fn print_table(&self) {
        println!();
        row("COMPONENT", "ADDRESS", "PID", "STATE", "LOG");
        let log = |name: &str| {
            self.pg_log
                .join(format!("{name}.log"))
                .display()
                .to_string()
        };
        if self.saved_mode() == Some(Mode::Auto) {
            let pid = self.autoctl_pid("monitor");
            row(
                "monitor",
                &format!("{HOST}:{MONITOR_PORT}"),
                &pid_text(pid),
                updown(pid),
                &log("monitor"),
            );
            for node in self.nodes.iter().copied() {
                let pid = self.autoctl_pid(node);
                row(
                    &format!("keeper {node}"),
                    "pg_autoctl run",
                    &pid_text(pid),
                    updown(pid),
                    &log(node),
                );
            }
        }
        for node in self.nodes.iter().copied() {
            let pid = self.postmaster_pid(node);
            let role = if self.run_dir.join(format!("{node}.failed")).exists() {
                "failed"
            } else {
                self.node_role(node)
            };
            row(
                &format!("postgres {node}"),
                &format!("{HOST}:{}", node_port(node)),
                &pid_text(pid),
                role,
                &log(node),
            );
        }
        for i in 1..=2 {
            let pid = self.backend_pid(i);
            row(
                &format!("backend{i}"),
                &format!(
                    "{HOST}:{} metrics :{}",
                    BACKEND_PORTS[i - 1],
                    METRICS_PORTS[i - 1]
                ),
                &pid_text(pid),
                updown(pid),
                &self
                    .log_dir
                    .join(format!("backend{i}.log"))
                    .display()
                    .to_string(),
            );
        }
        let pid = self.nginx_pid();
        row(
            "nginx",
            &format!("http://{HOST}:{HTTP_PORT} https://:{HTTPS_PORT}"),
            &pid_text(pid),
            updown(pid),
            &format!("{}/nginx-{{access,error}}.log", self.log_dir.display()),
        );
        println!();
    }

    fn print_replication(&self) {
        let Some(primary) = self.current_primary() else {
            println!("  no PostgreSQL node is primary");
            return;
        };
        let port = node_port(primary);
        println!("  primary: {primary} ({HOST}:{port})");
        println!(
            "  synchronous_standby_names = '{}'",
            self.sql(port, "SHOW synchronous_standby_names")
                .unwrap_or_default()
        );
        println!(
            "  pg_stat_replication on {primary} (application_name | state | sync_state | replay_lag):"
        );
        let standbys = self
            .sql(
                port,
                "SELECT application_name, state, sync_state, coalesce(replay_lag::text, '-') \
                 FROM pg_stat_replication ORDER BY 1",
            )
            .unwrap_or_default();
        if standbys.trim().is_empty() {
            println!("    (no standby connected: writes wait)");
        } else {
            print!("{}", indent(&standbys, "    "));
        }
        println!("  replication slots on {primary} (slot | active | wal_status):");
        print!(
            "{}",
            indent(
                &self
                    .sql(
                        port,
                        "SELECT slot_name, active, wal_status FROM pg_replication_slots ORDER BY 1"
                    )
                    .unwrap_or_default(),
                "    "
            )
        );
    }

    /// Auto mode: each data node with its pg_auto_failover state (reported / goal, from the
    /// monitor) and, for the standbys, their replication state on the primary.
    fn print_auto_nodes(&self) {
        say(&format!(
            "pg_auto_failover data nodes (monitor {HOST}:{MONITOR_PORT}: reported / goal state; primary's pg_stat_replication: state, sync_state)"
        ));
        let states = self.auto_states().unwrap_or_default();
        let ids = output(self.psql(MONITOR_PORT).args([
            "-d",
            "pg_auto_failover",
            "-F",
            " ",
            "-c",
            "SELECT nodeid, nodename FROM pgautofailover.node",
        ]))
        .unwrap_or_default();
        let primary = self.current_primary();
        let replication = primary
            .and_then(|p| {
                self.sql(
                    node_port(p),
                    "SELECT application_name, state, sync_state FROM pg_stat_replication",
                )
                .ok()
            })
            .unwrap_or_default();
        for node in self.nodes.iter().copied() {
            let state = states
                .lines()
                .find_map(|l| {
                    let mut words = l.split_whitespace();
                    if words.next() != Some(node) {
                        return None;
                    }
                    Some(format!("{} / {}", words.next()?, words.next()?))
                })
                .unwrap_or_else(|| "not registered".into());
            let streaming = if Some(node) == primary {
                "primary".to_owned()
            } else {
                replication
                    .lines()
                    .find_map(|l| {
                        let mut fields = l.split('|');
                        let name = fields.next()?;
                        (standby_node(name, &ids) == Some(node)).then(|| {
                            let state = fields.next().unwrap_or_default();
                            let sync = fields.next().unwrap_or_default();
                            format!("{state}, {sync}")
                        })
                    })
                    .unwrap_or_else(|| "not streaming".into())
            };
            println!(
                "  {node}  {HOST}:{}  {state:<24} {streaming}",
                node_port(node)
            );
        }
        println!(
            "  number_sync_standbys = {} (a vote is acknowledged once it is on the primary and a standby)",
            self.auto_number_sync_standbys()
        );
    }

    /// Auto mode: whether the backends' connections to the primary use TLS (pg_stat_ssl).
    fn print_app_tls(&self) {
        let Some(primary) = self.current_primary() else {
            return;
        };
        say(&format!(
            "the application's connections to the primary {primary} (pg_stat_ssl)"
        ));
        let counts = self
            .sql(
                node_port(primary),
                "SELECT count(*), count(*) FILTER (WHERE ssl), \
                 coalesce(string_agg(DISTINCT version, ','), '-') \
                 FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE usename = 'securevote'",
            )
            .unwrap_or_default();
        let mut fields = counts.split('|');
        let total: u64 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        let tls: u64 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        let versions = fields.next().unwrap_or("-");
        if total == 0 {
            println!("  securevote: no connection");
        } else if tls == total {
            println!("  securevote: {total} connections, all TLS ({versions})");
        } else {
            println!(
                "  securevote: {total} connections, {} WITHOUT TLS",
                total - tls
            );
        }
    }

    // --------------------------------------------------------------------------------------
    // Auto mode: pg_auto_failover (monitor + one keeper per node)
    // --------------------------------------------------------------------------------------

    /// The monitor's URI for `pg_autoctl show` commands.
    fn monitor_uri(&self) -> String {
        format!("postgres://autoctl_node@{HOST}:{MONITOR_PORT}/pg_auto_failover?sslmode=require")
    }

    /// The monitor's URI a data node's keeper (and its keeper-wake) connects with: plus the
    /// `[monitor-connection]` libpq parameters of deploy/postgres/pg_auto_failover.conf.
    fn keeper_monitor_uri(&self) -> R<String> {
        let params = self.auto_settings("monitor-connection")?;
        Ok(settings::with_query(&self.monitor_uri(), &params))
    }

    fn autoctl(&self) -> Command {
        self.as_pg(PG_AUTOCTL)
    }

    fn autoctl_pid(&self, name: &str) -> Option<u32> {
        live_pid(
            &self.run_dir.join(format!("autoctl-{name}.pid")),
            "pg_autoctl",
        )
    }

    /// Failover timing: deploy/postgres/pg_auto_failover.conf; deploy/README.md ("pg_auto_failover
    /// timeouts") explains each value. Monitor: GUCs of the pgautofailover extension; keepers:
    /// pg_autoctl config set.
    fn auto_settings(&self, section: &str) -> R<Vec<(String, String)>> {
        let file = self.pg_conf_dir.join("pg_auto_failover.conf");
        let settings = settings::conf_section(&read(&file)?, section)?;
        if settings.is_empty() {
            return Err(format!("no [{section}] settings in {}", file.display()));
        }
        Ok(settings)
    }

    /// deploy/postgres/local-cluster-auto.conf, settings for this shared machine read after
    /// pg_auto_failover's own file (which sizes shared_buffers to 25% of the RAM of the machine,
    /// for each instance).
    fn auto_local_conf(&self, dir: &Path) -> R<()> {
        self.write_as_pg(
            &dir.join("local.conf"),
            &format!(
                "# written by deploy/local-cluster (auto mode) from deploy/postgres/local-cluster-auto.conf;\n\
                 # read after postgresql-auto-failover.conf\n{}",
                self.render("local-cluster-auto.conf", &[("HOST", HOST)])?
            ),
        )?;
        let conf = dir.join("postgresql.conf");
        if !read(&conf)?
            .lines()
            .any(|l| l.starts_with("include_if_exists = 'local.conf'"))
        {
            self.append_as_pg(&conf, "include_if_exists = 'local.conf'\n")?;
        }
        Ok(())
    }

    /// initdb (run by pg_autoctl) trusts every local and loopback connection; every rule line
    /// of its pg_hba.conf is replaced by those of deploy/postgres/pg_hba.local-cluster-auto (which
    /// explains them), pg_auto_failover's own non-trust rules kept where its marker line is.
    fn auto_harden_hba(&self, dir: &Path) -> R<()> {
        let rules_file = self.pg_conf_dir.join("pg_hba.local-cluster-auto");
        let rules = read(&rules_file)?;
        if !settings::has_pg_auto_failover_marker(&rules) {
            return Err(format!(
                "no `# {}` line in {}",
                settings::PG_AUTO_FAILOVER_RULES,
                rules_file.display()
            ));
        }
        let hba = dir.join("pg_hba.conf");
        let hardened = settings::hardened_hba(&read(&hba)?, &rules, HOST)
            .map_err(|e| format!("{}: {e}", rules_file.display()))?;
        let new = dir.join("pg_hba.conf.new");
        self.write_as_pg(&new, &hardened)?;
        output(self.as_pg("mv").arg("-f").arg(&new).arg(&hba)).map(|_| ())
    }

    fn auto_reload(&self, node: &str) {
        let _ = self.sql(node_port(node), "SELECT pg_reload_conf()");
    }

    fn start_autoctl(&self, name: &str) -> R<()> {
        if let Some(pid) = self.autoctl_pid(name) {
            ok(&format!("pg_autoctl {name} already running (pid {pid})"));
            return Ok(());
        }
        let log = self.pg_log.join(format!("{name}.log"));
        // setsid: its own session and process group (a crash drill kills the whole group).
        let mut command = self.as_pg("setsid");
        command
            .args([PG_AUTOCTL, "run", "--pgdata"])
            .arg(self.node_dir(name));
        let child = spawn_logged(&mut command, &log)?;
        let pid = child.id();
        write_file(
            &self.run_dir.join(format!("autoctl-{name}.pid")),
            &format!("{pid}\n"),
        )?;
        std::thread::sleep(Duration::from_millis(500));
        if !pid_alive(pid, "pg_autoctl") {
            return Err(format!(
                "pg_autoctl run for {name} exited, see {}",
                log.display()
            ));
        }
        ok(&format!(
            "pg_autoctl run --pgdata {} (pid {pid})",
            self.node_dir(name).display()
        ));
        if name != "monitor" {
            self.start_waker(name, pid)?;
        }
        Ok(())
    }

    /// deploy/postgres/keeper-wake next to a data node's keeper (deploy/README.md,
    /// "keeper-wake"), in a session of its own like the keeper (a process cannot join a process
    /// group of another session); it exits by itself within a second of its keeper (`keeper`,
    /// the pid it watches), so a crash of the node takes it too.
    fn start_waker(&self, name: &str, keeper: u32) -> R<()> {
        let log = self.pg_log.join(format!("{name}.log"));
        let mut command = self.as_pg("setsid");
        command
            .arg("/usr/bin/python3")
            .arg(self.pg_conf_dir.join("keeper-wake"))
            .args(["--pg-autoctl", PG_AUTOCTL, "--pgdata"])
            .arg(self.node_dir(name));
        let child = spawn_logged(&mut command, &log)?;
        ok(&format!(
            "keeper-wake for {name} (pid {}, watching pg_autoctl pid {keeper})",
            child.id()
        ));
        Ok(())
    }

    fn stop_autoctl(&self, name: &str) -> R<()> {
        if let Some(pid) = self.autoctl_pid(name) {
            // SIGTERM: pg_autoctl stops its PostgreSQL (fast) and exits.
            stop_pid(
                pid,
                "pg_autoctl",
                &format!("pg_autoctl {name} and its PostgreSQL"),
                libc::SIGTERM,
                "TERM",
            );
        }
        let _ = fs::remove_file(self.run_dir.join(format!("autoctl-{name}.pid")));
        self.stop_node(name, "fast")
    }

    fn wait_sql(&self, port: u16, limit: u64, db: &str) -> bool {
        wait_until(
            Duration::from_secs(limit),
            Duration::from_millis(300),
            || output(self.psql(port).args(["-d", db, "-c", "SELECT 1"])).is_ok(),
        )
    }

    /// `name reported_state goal_state` per node, from the monitor.
    fn auto_states(&self) -> R<String> {
        output(self.psql(MONITOR_PORT).args([
            "-d",
            "pg_auto_failover",
            "-F",
            " ",
            "-c",
            "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid",
        ]))
    }

    /// Until the monitor has `count` nodes, one primary and every other one secondary.
    fn wait_auto_states(&self, count: usize, limit: u64) -> R<()> {
        let mut states = String::new();
        let settled = wait_until(
            Duration::from_secs(limit),
            Duration::from_millis(500),
            || {
                states = self.auto_states().unwrap_or_default();
                states_settled(&states, count)
            },
        );
        let joined = states.lines().collect::<Vec<_>>().join(", ");
        if settled {
            ok(&format!("pg_auto_failover: {joined}"));
            return Ok(());
        }
        Err(format!(
            "pg_auto_failover did not reach 1 primary + {} secondary within {limit} s (now: {joined}); see {}/",
            count.saturating_sub(1),
            self.pg_log.display()
        ))
    }

    fn auto_show_state(&self) -> String {
        output(
            self.autoctl()
                .args(["show", "state", "--monitor"])
                .arg(self.monitor_uri()),
        )
        .unwrap_or_default()
    }

    fn autoctl_config_set(&self, dir: &Path, key: &str, value: &str) -> R<()> {
        output(
            self.autoctl()
                .args(["config", "set", "--pgdata"])
                .arg(dir)
                .args([key, value]),
        )
        .map(|_| ())
        .map_err(|e| format!("pg_autoctl config set {key}: {e}"))
    }

    fn auto_create_monitor(&self) -> R<()> {
        let dir = self.node_dir("monitor");
        let log = self.pg_log.join("monitor.log");
        say(&format!(
            "pg_auto_failover monitor on {HOST}:{MONITOR_PORT}"
        ));
        let mut create = self.autoctl();
        create
            .args(["create", "monitor", "--pgdata"])
            .arg(&dir)
            .args(["--pgport", &MONITOR_PORT.to_string(), "--hostname", HOST])
            .args(["--auth", "scram-sha-256", "--ssl-self-signed", "--pgctl"])
            .arg(self.pg_bin.join("pg_ctl"));
        if !run_logged(&mut create, &log)? {
            return Err(format!(
                "pg_autoctl create monitor failed, see {}",
                log.display()
            ));
        }
        self.autoctl_config_set(&dir, "postgresql.listen_addresses", HOST)?;
        self.auto_local_conf(&dir)?;
        self.auto_harden_hba(&dir)?;
        self.start_autoctl("monitor")?;
        if !self.wait_sql(MONITOR_PORT, 60, "pg_auto_failover") {
            return Err(format!(
                "the monitor does not answer, see {}",
                log.display()
            ));
        }
        // Password of the keepers' monitor role (they read it from the password file).
        self.sql_script(
            MONITOR_PORT,
            "pg_auto_failover",
            &format!(
                "ALTER USER autoctl_node PASSWORD '{}';\n",
                self.secret("autoctl_password")?
            ),
        )?;
        let settings = self.auto_settings("monitor")?;
        for (key, value) in &settings {
            self.sql(MONITOR_PORT, &format!("ALTER SYSTEM SET {key} = {value}"))?;
        }
        self.sql(MONITOR_PORT, "SELECT pg_reload_conf()")?;
        ok(&format!("monitor timeouts: {}", joined_settings(&settings)));
        Ok(())
    }

    fn auto_create_node(&self, name: &str) -> R<()> {
        let dir = self.node_dir(name);
        let log = self.pg_log.join(format!("{name}.log"));
        say(&format!(
            "pg_auto_failover node {name} on {HOST}:{}",
            node_port(name)
        ));
        let mut create = self.autoctl();
        create
            .args(["create", "postgres", "--pgdata"])
            .arg(&dir)
            .args(["--pgport", &node_port(name).to_string(), "--listen", HOST])
            .args([
                "--hostname",
                HOST,
                "--name",
                name,
                "--auth",
                "scram-sha-256",
            ])
            .args([
                "--ssl-self-signed",
                "--monitor",
                &self.keeper_monitor_uri()?,
            ])
            .args(["--dbname", "securevote", "--pgctl"])
            .arg(self.pg_bin.join("pg_ctl"));
        if !run_logged(&mut create, &log)? {
            return Err(format!(
                "pg_autoctl create postgres ({name}) failed, see {}",
                log.display()
            ));
        }
        self.autoctl_config_set(
            &dir,
            "replication.password",
            &self.secret("replicator_password")?,
        )?;
        let settings = self.auto_settings("keeper")?;
        for (key, value) in &settings {
            self.autoctl_config_set(&dir, key, value)?;
        }
        ok(&format!("keeper timeouts: {}", joined_settings(&settings)));
        self.auto_local_conf(&dir)?;
        self.auto_harden_hba(&dir)?;
        self.start_autoctl(name)
    }

    fn auto_up(&self) -> R<()> {
        if !self.root {
            return Err(
                "auto mode needs root (pg_autoctl puts the sockets in /var/run/postgresql)".into(),
            );
        }
        if !self.node_dir("monitor").join("PG_VERSION").is_file() {
            self.auto_create_monitor()?;
            self.auto_create_node("pg1")?;
            // pg1 must be the single primary before pg2 joins (pg2 is made with pg_basebackup).
            if !wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
                self.auto_states()
                    .is_ok_and(|s| s.contains("pg1 single single"))
            }) {
                return Err(format!(
                    "pg1 did not reach the single state, see {}",
                    self.pg_log.join("pg1.log").display()
                ));
            }
            // `pg_autoctl create` reaches "single" and stops its PostgreSQL; `pg_autoctl run`
            // starts it again a moment later.
            if !self.wait_sql(PG1_PORT, 60, "postgres") {
                return Err(format!(
                    "pg1 does not accept connections, see {}",
                    self.pg_log.join("pg1.log").display()
                ));
            }
            // pg_autoctl creates the replication role without a password; the standby (and,
            // after a failover, pg_rewind) authenticates with the one in the password file.
            self.sql_script(
                PG1_PORT,
                "postgres",
                &format!(
                    "ALTER ROLE pgautofailover_replicator PASSWORD '{}';\n",
                    self.secret("replicator_password")?
                ),
            )?;
            self.auto_create_node("pg2")?;
            self.wait_auto_states(2, 180)?;
            self.auto_create_node("pg3")?;
            self.wait_auto_states(3, 180)?;
            self.auto_set_number_sync_standbys()?;
            let primary = self.current_primary().ok_or("no primary")?;
            say(&format!("application role and database on {primary}"));
            self.sql_script(
                node_port(primary),
                "postgres",
                &format!(
                    "DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'securevote') THEN
    CREATE ROLE securevote LOGIN;
  END IF;
END $$;
ALTER ROLE securevote PASSWORD '{}';
ALTER DATABASE securevote OWNER TO securevote;
REVOKE ALL ON DATABASE securevote FROM PUBLIC;
GRANT pg_checkpoint TO securevote;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_switch_wal() TO securevote;
{PROBE_TABLE};
",
                    self.secret("db_password")?
                ),
            )?;
            ok("role securevote owns database securevote");
            for node in self.nodes.iter().copied() {
                self.auto_reload(node);
            }
        } else {
            say("starting the existing pg_auto_failover formation");
            self.start_autoctl("monitor")?;
            if !self.wait_sql(MONITOR_PORT, 60, "pg_auto_failover") {
                return Err(format!(
                    "the monitor does not answer, see {}",
                    self.pg_log.join("monitor.log").display()
                ));
            }
            for node in self.nodes.iter().copied() {
                self.start_autoctl(node)?;
            }
            self.wait_auto_states(self.nodes.len(), 180)?;
        }
        // The backends get the formation URI from the monitor, as production would, and use
        // it as printed (TLS: sslmode=require; the primary: target_session_attrs=read-write).
        let uri = output(
            self.autoctl()
                .args(["show", "uri", "--formation", "default", "--monitor"])
                .arg(self.monitor_uri()),
        )?;
        let uri = uri.trim();
        write_file(&self.state_dir.join("database-uri"), &format!("{uri}\n"))?;
        ok(&format!("formation URI: {uri}"));
        Ok(())
    }

    /// number_sync_standbys of the formation, set on the monitor (what `pg_autoctl set formation
    /// number-sync-standbys` calls): a write (a vote) is acknowledged only once it is on the
    /// primary and on NUMBER_SYNC_STANDBYS standbys. The monitor refuses while the primary
    /// applies a previous change, so it is retried for up to 60 s.
    fn auto_set_number_sync_standbys(&self) -> R<()> {
        let query = format!(
            "SELECT pgautofailover.set_formation_number_sync_standbys('default', {NUMBER_SYNC_STANDBYS})"
        );
        let mut last = String::new();
        let set = wait_until(
            Duration::from_secs(60),
            Duration::from_millis(500),
            || match output(
                self.psql(MONITOR_PORT)
                    .args(["-d", "pg_auto_failover", "-c", &query]),
            ) {
                Ok(_) => true,
                Err(e) => {
                    last = e;
                    false
                }
            },
        );
        if !set {
            return Err(format!(
                "number_sync_standbys = {NUMBER_SYNC_STANDBYS} was refused by the monitor: {last}"
            ));
        }
        self.wait_auto_states(self.nodes.len(), 60)?;
        ok(&format!(
            "formation default: number_sync_standbys = {}",
            self.auto_number_sync_standbys()
        ));
        Ok(())
    }

    fn auto_number_sync_standbys(&self) -> String {
        output(self.psql(MONITOR_PORT).args([
            "-d",
            "pg_auto_failover",
            "-c",
            "SELECT number_sync_standbys FROM pgautofailover.formation WHERE formationid = 'default'",
        ]))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
    }

    fn auto_down(&self) -> R<()> {
        // Monitor first (no failover decisions while the nodes stop), then the standbys, then
        // the primary (a primary stopped first would be failed over).
        self.stop_autoctl("monitor")?;
        let primary = self.current_primary();
        for node in self.nodes.iter().copied() {
            if Some(node) != primary {
                self.stop_autoctl(node)?;
            }
        }
        if let Some(primary) = primary {
            self.stop_autoctl(primary)?;
        }
        Ok(())
    }

    /// kill -9 of the whole primary node (keeper + PostgreSQL), timing how long the monitor
    /// needs to make one of the two secondaries the primary, and how long until a vote sent
    /// through NGINX after the crash is acknowledged.
    fn auto_failover(&self, rejoin: bool) -> R<()> {
        let count = self.nodes.len();
        self.wait_auto_states(count, 30)?;
        let primary = self.current_primary().ok_or("no primary is running")?;
        let standbys: Vec<&str> = self
            .nodes
            .iter()
            .copied()
            .filter(|n| *n != primary)
            .collect();
        say(&format!(
            "before: {primary} is primary, {} are secondaries (number_sync_standbys = {})",
            standbys.join(" and "),
            self.auto_number_sync_standbys()
        ));
        self.api_check("before");

        let base = format!("http://{HOST}:{HTTP_PORT}");
        // One more voter for the vote before the crash.
        let voters_count = FAILOVER_VOTERS + 1;
        say(&format!(
            "{voters_count} voters: POST /api/auth/register and /api/auth/login through nginx"
        ));
        let t_prepare = Instant::now();
        let candidate = votes::candidate(&base)?;
        let mut voters = votes::prepare(&base, voters_count)?;
        ok(&format!(
            "{} voters logged in ({} s)",
            voters.len(),
            secs(t_prepare)
        ));
        let probe = voters.remove(0);
        let t_vote = Instant::now();
        match votes::cast(&base, &probe, &candidate, Duration::from_secs(10)) {
            Ok((201, _)) => ok(&format!(
                "a vote before the crash: 201 in {:.2} s",
                t_vote.elapsed().as_secs_f64()
            )),
            Ok((status, body)) => {
                return Err(format!(
                    "a vote before the crash was refused: HTTP {status} {}",
                    truncate(body.trim(), 200)
                ));
            }
            Err(e) => return Err(format!("a vote before the crash got no answer: {e}")),
        }

        let kpid = self.autoctl_pid(primary);
        let ppid = self.postmaster_pid(primary);
        say(&format!(
            "crash of node {primary}: kill -9 of pg_autoctl (pid {}, whole process group) and postgres (pid {})",
            kpid.map_or("none".into(), |p| p.to_string()),
            ppid.map_or("none".into(), |p| p.to_string())
        ));
        let t0 = Instant::now();
        if let Some(kpid) = kpid {
            sys::signal(-(kpid as i32), libc::SIGKILL);
        }
        if let Some(ppid) = ppid {
            sys::signal(ppid as i32, libc::SIGKILL);
        }
        let voting = {
            let base = base.clone();
            let candidate = candidate.clone();
            std::thread::spawn(move || votes::during_failover(base, voters, candidate, t0))
        };
        let _ = fs::remove_file(self.run_dir.join(format!("autoctl-{primary}.pid")));

        say(&format!(
            "waiting for the monitor to fail over (polling every 0.2 s); meanwhile a vote with a fresh voter every {} s through nginx (at most {} waiting), each retried every {} s with its Idempotency-Key",
            votes::CADENCE.as_secs_f64(),
            votes::MAX_PENDING,
            votes::RETRY_DELAY.as_secs_f64()
        ));
        let (mut promoted, mut reported, mut api) = (None::<&str>, false, false);
        let health = format!("{base}/health");
        wait_until(Duration::from_secs(120), Duration::from_millis(200), || {
            if promoted.is_none() {
                promoted = standbys
                    .iter()
                    .copied()
                    .find(|n| self.node_role(n) == "primary");
                if let Some(node) = promoted {
                    ok(&format!(
                        "{node} is promoted (pg_is_in_recovery = false) {} s after the crash",
                        secs(t0)
                    ));
                }
            }
            if !reported {
                let states = self.auto_states().unwrap_or_default();
                if let Some((node, state)) = standbys
                    .iter()
                    .find_map(|n| promoted_state(&states, n).map(|state| (*n, state)))
                {
                    reported = true;
                    ok(&format!(
                        "monitor: {node} reported {state} {} s after the crash",
                        secs(t0)
                    ));
                }
            }
            if promoted.is_some() && !api && sys::http_code(&health) == "200" {
                api = true;
                ok(&format!(
                    "/health through nginx answers 200 {} s after the crash",
                    secs(t0)
                ));
            }
            promoted.is_some() && reported && api
        });
        if !reported {
            warn(&format!(
                "no failover within 120 s, see {}",
                self.pg_log.join("monitor.log").display()
            ));
        }

        let outcomes = voting
            .join()
            .map_err(|_| "the voting thread panicked".to_owned())?;
        let first = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.acknowledged.map(|at| (i, at, o)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let acknowledged = outcomes.iter().filter(|o| o.acknowledged.is_some()).count();
        let refused: Vec<&str> = outcomes
            .iter()
            .filter_map(|o| o.refused.as_deref())
            .collect();
        let slowest = outcomes
            .iter()
            .filter_map(|o| o.acknowledged.map(|at| at - o.started))
            .fold(0.0, f64::max);
        match first {
            Some((i, at, o)) => ok(&format!(
                "first acknowledged vote {at:.2} s after the kill (vote {} of {}, sent {:.2} s after the kill, {} attempts)",
                i + 1,
                outcomes.len(),
                o.started,
                o.tries
            )),
            None => warn(&format!(
                "no vote acknowledged within {} s after the kill",
                votes::BUDGET.as_secs()
            )),
        }
        println!(
            "  votes after the kill: {} sent, {acknowledged} acknowledged, {} refused, {} unacknowledged after {} s; slowest acknowledgement {slowest:.2} s after its first attempt",
            outcomes.len(),
            refused.len(),
            outcomes.len() - acknowledged - refused.len(),
            votes::BUDGET.as_secs()
        );
        if let Some(refusal) = refused.first() {
            println!("  a refusal: {}", truncate(refusal, 200));
        }

        let new_primary = self.current_primary();
        match new_primary {
            Some(node) => ok(&format!(
                "new primary: {node} (the monitor chose it among {})",
                standbys.join(" and ")
            )),
            None => warn("no node is primary"),
        }
        println!("  pg_autoctl show state:");
        print!("{}", indent(&self.auto_show_state(), "    "));
        self.api_check("after");
        self.print_backend_pids();
        if let Some(node) = new_primary {
            println!(
                "  a write on the new primary: {}",
                self.probe_write(node_port(node), "written after auto failover", 5)
            );
        }

        if rejoin {
            say(&format!(
                "restarting the keeper of {primary}: pg_auto_failover rejoins it as a standby (pg_rewind)"
            ));
            let t0 = Instant::now();
            self.start_autoctl(primary)?;
            self.wait_auto_states(count, 180)?;
            ok(&format!(
                "{primary} is secondary again {} s after its keeper restarted",
                secs(t0)
            ));
        } else {
            warn(&format!(
                "{primary} stays down; '{} up' restarts its keeper, which rejoins it as a standby",
                self.prog
            ));
        }
        if first.is_none() {
            return Err(format!(
                "no vote was acknowledged within {} s after the kill",
                votes::BUDGET.as_secs()
            ));
        }
        if new_primary.is_none() || !reported {
            return Err("the formation did not fail over".into());
        }
        Ok(())
    }

    // --------------------------------------------------------------------------------------
    // Checks shared by the commands
    // --------------------------------------------------------------------------------------

    fn api_check(&self, label: &str) {
        let code = sys::http_code(&format!("http://{HOST}:{HTTP_PORT}/health"));
        let body = sys::get(&format!("http://{HOST}:{HTTP_PORT}/api/options"))
            .map(|(_, body)| body)
            .unwrap_or_default();
        println!(
            "  {label}: GET /health -> {code}; GET /api/options -> {}",
            truncate(&body, 160)
        );
    }

    fn print_backend_pids(&self) {
        println!(
            "  backend pids unchanged: backend1={} backend2={}",
            self.backend_pid(1).map_or(String::new(), |p| p.to_string()),
            self.backend_pid(2).map_or(String::new(), |p| p.to_string())
        );
    }

    /// Inserts a row with a deadline: committed | blocked | failed. A blocked insert is not
    /// lost: its session keeps waiting on the server and the row is committed as soon as a
    /// synchronous standby confirms it.
    fn probe_write(&self, port: u16, note: &str, limit: u64) -> String {
        let mut command = self.pg_tool("psql");
        command
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.pg_sock)
            .args(["-p", &port.to_string(), "-U", "postgres", "-d", "postgres"])
            .arg("-c")
            .arg(format!(
                "INSERT INTO local_cluster_probe (note) VALUES ('{note}')"
            ));
        match sys::run_with_deadline(&mut command, Duration::from_secs(limit)) {
            Ok(Deadline::Exited(true, _)) => "committed".into(),
            Ok(Deadline::TimedOut) => format!("blocked (no answer within {limit} s)"),
            Ok(Deadline::Exited(false, out)) => {
                format!("failed: {}", out.trim().replace('\n', " "))
            }
            Err(e) => format!("failed: {e}"),
        }
    }

    /// Every process this tool can start is gone.
    fn check_nothing_left(&self) -> R<()> {
        let mut left = Vec::new();
        for node in AUTO_NODES.into_iter().chain(["monitor"]) {
            if self.postmaster_pid(node).is_some() {
                left.push(format!("postgres {node}"));
            }
            if self.autoctl_pid(node).is_some() {
                left.push(format!("pg_autoctl {node}"));
            }
        }
        for i in 1..=2 {
            if self.backend_pid(i).is_some() {
                left.push(format!("backend{i}"));
            }
        }
        if self.nginx_pid().is_some() {
            left.push("nginx".into());
        }
        if !left.is_empty() {
            warn(&format!("still running: {}", left.join(" ")));
            return Err("not everything stopped".into());
        }
        ok("nothing left running");
        Ok(())
    }

    // --------------------------------------------------------------------------------------
    // Commands
    // --------------------------------------------------------------------------------------

    pub fn up(&self) -> R<()> {
        let mode = self.up_mode.unwrap_or(Mode::Manual);
        if let Some(saved) = self.saved_mode().filter(|&s| s != mode) {
            return Err(format!(
                "{} holds a {}-mode cluster; run '{} destroy' first (or use another STATE_DIR)",
                self.state_dir.display(),
                saved.name(),
                self.prog
            ));
        }

        say("prerequisites");
        let mut packages = vec!["postgresql-15", "nginx-light", "openssl", "curl"];
        if mode == Mode::Auto {
            packages.extend([
                "postgresql-15-auto-failover",
                "pg-auto-failover-cli",
                "python3-psycopg2", // deploy/postgres/keeper-wake
            ]);
        }
        self.ensure_packages(&packages)?;
        self.ensure_binary()?;
        if !Command::new(&self.securevote_bin)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Err(format!("{} --help failed", self.securevote_bin.display()));
        }
        ok(&format!("backend binary {}", self.securevote_bin.display()));

        self.prepare_state_dir()?;
        write_file(&self.state_dir.join("mode"), &format!("{}\n", mode.name()))?;

        match mode {
            Mode::Manual if self.node_dir("pg1").join("PG_VERSION").is_file() => {
                say("starting the existing PostgreSQL pair");
                self.start_manual_cluster()?;
            }
            Mode::Manual => self.init_manual_cluster()?,
            Mode::Auto => self.auto_up()?,
        }

        self.migrate()?;
        say("backends");
        self.start_backend(1)?;
        self.start_backend(2)?;
        self.seed_candidates()?;
        say("waiting until both backends serve the imported ballot");
        self.wait_ballot(30)?;
        say("nginx");
        self.start_nginx()?;

        let health = format!("http://{HOST}:{HTTP_PORT}/health");
        say(&format!("waiting for {health} through nginx"));
        if !wait_http_200(&health, Duration::from_secs(60)) {
            return Err("/health through nginx did not answer 200 within 60s".into());
        }
        ok(&format!(
            "/health: {}",
            sys::get(&health).map(|(_, b)| b).unwrap_or_default()
        ));

        self.print_table();
        let s = sys::style();
        println!(
            "  {}securevote is up:{} http://{HOST}:{HTTP_PORT}/  and  https://{HOST}:{HTTPS_PORT}/ (self-signed)",
            s.bold, s.reset
        );
        println!("  state, secrets and logs: {}", self.state_dir.display());
        println!("  next: {} status | failover | down", self.prog);
        Ok(())
    }

    pub fn status(&self) -> R<()> {
        if !self.state_dir.is_dir() {
            println!("no local cluster in {}", self.state_dir.display());
            return Ok(());
        }
        let mode = self.saved_mode();
        say(&format!(
            "local cluster in {} ({} mode)",
            self.state_dir.display(),
            mode.map_or("unknown", Mode::name)
        ));
        self.print_table();
        say("replication");
        self.print_replication();
        if mode == Some(Mode::Auto) {
            self.print_auto_nodes();
            self.print_app_tls();
            say("pg_auto_failover: pg_autoctl show state");
            print!("{}", indent(&self.auto_show_state(), "  "));
        }
        say("through nginx");
        let code = |scheme: &str, port: u16, path: &str| {
            sys::http_code(&format!("{scheme}://{HOST}:{port}{path}"))
        };
        println!(
            "  GET /health      -> {}",
            code("http", HTTP_PORT, "/health")
        );
        println!(
            "  GET /api/options -> {}",
            code("http", HTTP_PORT, "/api/options")
        );
        println!(
            "  GET (TLS) /health -> {}",
            code("https", HTTPS_PORT, "/health")
        );
        Ok(())
    }

    pub fn down(&self) -> R<()> {
        if !self.state_dir.is_dir() {
            println!(
                "nothing to stop: {} does not exist",
                self.state_dir.display()
            );
            return Ok(());
        }
        say(&format!(
            "stopping the local cluster in {}",
            self.state_dir.display()
        ));
        self.stop_nginx();
        self.stop_backend(1);
        self.stop_backend(2);
        if self.saved_mode() == Some(Mode::Auto) {
            self.auto_down()?;
        } else {
            // Primary first: a standby that stops first would leave the primary waiting.
            if let Some(primary) = self.current_primary() {
                self.stop_node(primary, "fast")?;
            }
            for node in MANUAL_NODES {
                self.stop_node(node, "fast")?;
            }
        }
        self.check_nothing_left()
    }

    pub fn destroy(&self) -> R<()> {
        self.down()?;
        if !self.state_dir.is_dir() {
            return Ok(());
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if self.state_dir == Path::new("/")
            || Some(&self.state_dir) == home.as_ref()
            || self.state_dir == self.repo
            || self.state_dir == self.repo.join("target")
        {
            return Err(format!("refusing to delete {}", self.state_dir.display()));
        }
        fs::remove_dir_all(&self.state_dir)
            .map_err(|e| format!("rm -rf {}: {e}", self.state_dir.display()))?;
        ok(&format!("deleted {}", self.state_dir.display()));
        Ok(())
    }

    pub fn failover(&self, rejoin: bool) -> R<()> {
        match self.saved_mode() {
            Some(Mode::Auto) => return self.auto_failover(rejoin),
            Some(Mode::Manual) => {}
            None => {
                return Err(format!(
                    "no local cluster in {}; run '{} up' first",
                    self.state_dir.display(),
                    self.prog
                ));
            }
        }
        let primary = self.current_primary().ok_or("no primary is running")?;
        let standby = other_node(primary);
        if self.node_role(standby) != "standby" {
            return Err(format!(
                "{standby} is not a running standby: nothing to fail over to"
            ));
        }
        say(&format!(
            "before: {primary} is primary, {standby} is the synchronous standby"
        ));
        self.api_check("before");

        say(&format!(
            "crash of the primary: pg_ctl stop -m immediate on {primary}"
        ));
        let t0 = Instant::now();
        let stopped = self
            .pg_tool("pg_ctl")
            .arg("-D")
            .arg(self.node_dir(primary))
            .args(["-m", "immediate", "-w", "-s", "stop"])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            return Err(format!("pg_ctl stop -m immediate of {primary} failed"));
        }
        write_file(&self.run_dir.join(format!("{primary}.failed")), "")?;
        ok(&format!(
            "{primary} is down (marked failed: 'up' will not start it as a primary again)"
        ));

        say(&format!("promotion: pg_ctl promote on {standby}"));
        let promoted = self
            .pg_tool("pg_ctl")
            .arg("-D")
            .arg(self.node_dir(standby))
            .args(["-w", "-t", "60", "-s", "promote"])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !promoted {
            return Err(format!("pg_ctl promote of {standby} failed"));
        }
        let t1 = secs(t0);
        self.configure_node(standby, None)?;
        self.ensure_slot(standby, primary)?;
        // The promotion is the operator's decision to continue on the one copy left: without
        // this, every vote would wait until the failed node is rebuilt. Votes acknowledged before
        // the crash are all here (synchronous replication); rejoin restores the second copy.
        let port = node_port(standby);
        self.sql(port, "ALTER SYSTEM SET synchronous_standby_names = ''")?;
        self.sql(port, "SELECT pg_reload_conf()")?;
        ok(&format!(
            "{standby} is primary {t1}s after the crash, running alone until {primary} rejoins; slot '{primary}' created"
        ));

        say("backends: no restart, no configuration change; they find the new primary themselves");
        if wait_http_200(
            &format!("http://{HOST}:{HTTP_PORT}/health"),
            Duration::from_secs(60),
        ) {
            ok(&format!(
                "/health through nginx answers 200 {}s after the crash",
                secs(t0)
            ));
        } else {
            warn("/health through nginx did not answer 200 within 60s");
        }
        self.api_check("after");
        self.print_backend_pids();
        println!(
            "  a write on the new primary while it runs alone: {}",
            self.probe_write(port, "written during failover", 3)
        );

        if rejoin {
            self.rejoin()
        } else {
            warn(&format!(
                "{primary} stays down; {standby} runs without a second copy until '{} rejoin'",
                self.prog
            ));
            Ok(())
        }
    }

    pub fn rejoin(&self) -> R<()> {
        if self.saved_mode() != Some(Mode::Manual) {
            return Err("rejoin is for manual mode (pg_auto_failover rejoins by itself)".into());
        }
        let Some(failed) = MANUAL_NODES
            .into_iter()
            .rfind(|n| self.run_dir.join(format!("{n}.failed")).exists())
        else {
            ok("no failed node to rejoin");
            return Ok(());
        };
        let primary = other_node(failed);
        if self.node_role(primary) != "primary" {
            return Err(format!(
                "{primary} is not a running primary; cannot rebuild {failed} from it"
            ));
        }
        if self.pg_running(failed) {
            return Err(format!(
                "{failed} is running although marked failed; stop it first"
            ));
        }

        say(&format!(
            "rejoin: {failed} becomes a standby of {primary} (pg_rewind)"
        ));
        let port = node_port(primary);
        self.ensure_slot(primary, failed)?;
        // The promoted node writes its new timeline into pg_control only at the first checkpoint
        // after promotion; without it pg_rewind may wrongly report "no rewind required".
        self.sql(port, "CHECKPOINT")?;
        let log = self.log_dir.join(format!("rewind-{failed}.log"));
        let mut rewind = self.pg_tool("pg_rewind");
        rewind.arg("-D").arg(self.node_dir(failed)).arg(format!(
            "--source-server=host={HOST} port={port} user=rewind dbname=postgres"
        ));
        if run_logged_fresh(&mut rewind, &log)? {
            let text = read(&log).unwrap_or_default();
            ok(&format!(
                "pg_rewind: {}",
                text.lines().last().unwrap_or_default()
            ));
        } else {
            warn(&format!(
                "pg_rewind failed (see {}); rebuilding {failed} with pg_basebackup",
                log.display()
            ));
            output(self.as_pg("rm").arg("-rf").arg(self.node_dir(failed)))?;
            self.basebackup(failed, primary)?;
        }
        self.configure_node(failed, Some(primary))?;
        let _ = fs::remove_file(self.run_dir.join(format!("{failed}.failed")));
        self.start_node(failed)?;
        // Back to two copies: every write waits for the standby again.
        self.sql(port, "ALTER SYSTEM RESET synchronous_standby_names")?;
        self.sql(port, "SELECT pg_reload_conf()")?;
        self.wait_sync(primary, failed, 60)?;
        println!("  rows written while no standby was connected:");
        print!(
            "{}",
            indent(&self.sql(port, LAST_PROBES).unwrap_or_default(), "    ")
        );
        println!(
            "  a write now: {}",
            self.probe_write(port, "after rejoin", 5)
        );
        Ok(())
    }

    /// Stop the standby, show a write waiting, start it again, show it committed.
    pub fn sync_demo(&self) -> R<()> {
        if self.saved_mode() != Some(Mode::Manual) {
            return Err("sync-demo is for manual mode".into());
        }
        let primary = self.current_primary().ok_or("no primary")?;
        let standby = other_node(primary);
        if self.node_role(standby) != "standby" {
            return Err(format!("{standby} is not a running standby"));
        }
        let port = node_port(primary);
        say(&format!("stopping the standby {standby}"));
        self.stop_node(standby, "fast")?;
        say(&format!(
            "INSERT on the primary {primary}, at most 3 s: timeout 3 psql -c 'INSERT ...'"
        ));
        let t0 = Instant::now();
        let time = output(Command::new("date").arg("+%T")).unwrap_or_default();
        let result = self.probe_write(port, &format!("sync-demo {}", time.trim()), 3);
        println!("  result after {}s: {result}", secs(t0));
        println!("  pg_stat_activity on {primary} (the waiting insert):");
        print!(
            "{}",
            indent(
                &self
                    .sql(
                        port,
                        "SELECT pid, wait_event_type, wait_event, left(query, 60) \
                         FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                    )
                    .unwrap_or_default(),
                "    "
            )
        );
        say(&format!("starting the standby {standby} again"));
        self.start_node(standby)?;
        self.wait_sync(primary, standby, 60)?;
        std::thread::sleep(Duration::from_millis(500));
        let last = "SELECT id, at, note FROM local_cluster_probe ORDER BY id DESC LIMIT 1";
        println!("  the insert that waited is now committed:");
        print!("{}", indent(&self.sql(port, last)?, "    "));
        println!("  same row read on the standby {standby}:");
        print!("{}", indent(&self.sql(node_port(standby), last)?, "    "));
        Ok(())
    }
}

const PROBE_TABLE: &str = "CREATE TABLE IF NOT EXISTS local_cluster_probe \
    (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text)";
/// Voters registered before an auto-mode failover: the few whose votes wait through the outage,
/// then one fresh vote every 0.1 s for the second after the first acknowledgement.
const FAILOVER_VOTERS: usize = 40;
const LAST_PROBES: &str = "SELECT id, at, note FROM local_cluster_probe ORDER BY id DESC LIMIT 3";

fn joined_settings(settings: &[(String, String)]) -> String {
    settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn set_mode(path: &Path, mode: u32) -> R<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn write_file(path: &Path, content: &str) -> R<()> {
    fs::write(path, content).map_err(|e| format!("write {}: {e}", path.display()))
}

/// CONTENT into a new file PATH of mode 0600 (`umask 077`).
fn write_private(path: &Path, content: &str) -> R<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(|e| format!("write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_states_settle_with_one_primary_and_one_secondary() {
        let three = "pg1 primary primary\npg2 secondary secondary\npg3 secondary secondary\n";
        assert!(states_settled(three, 3));
        assert!(!states_settled(three, 2));
        assert!(states_settled(
            "pg1 primary primary\npg2 secondary secondary\n",
            2
        ));
        assert!(!states_settled(
            "pg1 primary primary\npg2 secondary secondary\npg3 catchingup secondary\n",
            3
        ));
        assert!(!states_settled(
            "pg1 primary primary\npg2 primary primary\npg3 secondary secondary\n",
            3
        ));
        assert!(!states_settled("pg1 single single\n", 1));
    }

    #[test]
    fn the_promoted_state_is_the_standbys_own() {
        let states = "pg1 primary demote_timeout\npg2 wait_primary wait_primary\n";
        assert_eq!(promoted_state(states, "pg2"), Some("wait_primary"));
        assert_eq!(promoted_state(states, "pg1"), Some("primary"));
        assert_eq!(promoted_state("pg2 secondary secondary\n", "pg2"), None);
        assert_eq!(promoted_state("pg22 primary primary\n", "pg2"), None);
    }

    #[test]
    fn the_formation_uri_gets_only_the_credentials() {
        assert_eq!(
            uri_with_credentials(
                "postgres://127.0.0.1:54321,127.0.0.1:54322,127.0.0.1:54323/securevote?target_session_attrs=read-write&sslmode=require\n",
                "securevote",
                "pw"
            )
            .unwrap(),
            "postgres://securevote:pw@127.0.0.1:54321,127.0.0.1:54322,127.0.0.1:54323/securevote?target_session_attrs=read-write&sslmode=require"
        );
        assert_eq!(
            uri_with_credentials("postgres://u@h:1,h:2/db?sslmode=require", "a", "b").unwrap(),
            "postgres://a:b@h:1,h:2/db?sslmode=require"
        );
        assert!(uri_with_credentials("h:1/db", "a", "b").is_err());
    }

    #[test]
    fn standbys_are_named_by_their_node_id() {
        let ids = "1 pg1\n2 pg2\n3 pg3\n";
        assert_eq!(standby_node("pgautofailover_standby_3", ids), Some("pg3"));
        assert_eq!(standby_node("pgautofailover_standby_4", ids), None);
        assert_eq!(standby_node("walreceiver", ids), None);
    }

    #[test]
    fn long_bodies_are_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc...");
    }
}
