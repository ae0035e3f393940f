//! deploy/local-cluster's auto mode end to end, with the real tools: the cluster tool (the
//! `cluster` crate, built here with cargo) runs `up --auto` (pg_auto_failover monitor, three data
//! nodes with number_sync_standbys = 1, two backends of this crate's debug binary, NGINX), then
//! `status` (three nodes, the application's connections over TLS), `failover` (kill -9 of the
//! primary node, votes through NGINX until one is acknowledged, rejoin), `down` and `destroy`.
//!
//! Needs root (PostgreSQL runs as the `postgres` user, the auto-mode sockets are in
//! /var/run/postgresql) and the cluster's fixed loopback ports (8080, 8443, 3001, 3002, 9101,
//! 9102, 54320-54323), which nothing else may hold while it runs. It fails, never skips, when
//! something is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The ports deploy/local-cluster uses.
const PORTS: [u16; 10] = [
    8080, 8443, 3001, 3002, 9101, 9102, 54320, 54321, 54322, 54323,
];

/// The figure the ≤ 5 s target is measured with; this bound only catches a broken failover.
const FIRST_ACK_SANITY_BOUND: f64 = 20.0;

/// Prints to stderr directly: libtest captures the print macros, and the figures should show
/// for a passing run too.
macro_rules! announce {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// The target directory the test binary was built in (`<target>/<profile>/securevote`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_securevote"))
        .parent()
        .and_then(Path::parent)
        .expect("the target directory of the securevote binary")
        .to_path_buf()
}

/// `cargo build -p cluster` (a no-op when it is up to date) into the test's own target
/// directory (cargo holds no lock on it while tests run): the cluster tool's path.
fn build_cluster_tool() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = target_dir();
    let started = Instant::now();
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "cluster"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .status()
        .expect("run cargo build -p cluster");
    assert!(status.success(), "cargo build -p cluster failed");
    let tool = target.join("debug/cluster");
    assert!(tool.is_file(), "{} was not built", tool.display());
    announce!(
        "local_cluster: cluster tool {} ({:.1} s to build)",
        tool.display(),
        started.elapsed().as_secs_f64()
    );
    tool
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The fixed ports some process listens on (ss -ltn).
fn ports_in_use() -> Vec<u16> {
    let out = Command::new("ss")
        .args(["-H", "-ltn"])
        .output()
        .expect("run ss -ltn (iproute2)");
    assert!(out.status.success(), "ss -ltn failed");
    let listing = String::from_utf8_lossy(&out.stdout);
    PORTS
        .into_iter()
        .filter(|port| {
            listing.lines().any(|line| {
                line.split_whitespace()
                    .nth(3)
                    .is_some_and(|local| local.ends_with(&format!(":{port}")))
            })
        })
        .collect()
}

struct Tool {
    bin: PathBuf,
    state_dir: PathBuf,
    logs: PathBuf,
}

impl Tool {
    /// `cluster ARGS` with the test's state directory, at most `limit`: whether it exited 0,
    /// and its output (stdout then stderr).
    fn run(&self, args: &[&str], limit: Duration) -> (bool, String) {
        let name = args.join("-");
        let out_file = self.logs.join(format!("{name}.out"));
        let err_file = self.logs.join(format!("{name}.err"));
        let started = Instant::now();
        let mut child = Command::new(&self.bin)
            .args(args)
            .env("STATE_DIR", &self.state_dir)
            .env("SECUREVOTE_BIN", env!("CARGO_BIN_EXE_securevote"))
            .env("CLUSTER_COMMAND", "local-cluster")
            .env_remove("MODE")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out_file).expect("stdout file"))
            .stderr(fs::File::create(&err_file).expect("stderr file"))
            .spawn()
            .expect("start the cluster tool");
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the cluster tool") {
                break Some(status);
            }
            if started.elapsed() >= limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let output = format!(
            "{}{}",
            fs::read_to_string(&out_file).unwrap_or_default(),
            fs::read_to_string(&err_file).unwrap_or_default()
        );
        announce!(
            "---- local-cluster {} ({:.1} s, {}) ----\n{output}",
            args.join(" "),
            started.elapsed().as_secs_f64(),
            match status {
                Some(s) => s.to_string(),
                None => format!("killed after {} s", limit.as_secs()),
            }
        );
        (status.is_some_and(|s| s.success()), output)
    }
}

/// `down` and `destroy` when the test ends, also on a panic.
struct Cleanup<'a>(&'a Tool);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if self.0.state_dir.exists() {
            self.0.run(&["down"], Duration::from_secs(120));
            self.0.run(&["destroy"], Duration::from_secs(120));
        }
    }
}

/// The `pgN  127.0.0.1:PORT  reported / goal ...` line of `status` for a node.
fn node_line<'a>(status: &'a str, node: &str, port: u16) -> Option<&'a str> {
    status.lines().find(|l| {
        l.trim_start()
            .starts_with(&format!("{node}  127.0.0.1:{port}  "))
    })
}

/// The figure of the `first acknowledged vote N.NN s after the kill` line.
fn first_ack_seconds(output: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        let rest = line.split("first acknowledged vote ").nth(1)?;
        let (figure, _) = rest.split_once(" s after the kill")?;
        figure.trim().parse().ok()
    })
}

#[test]
fn auto_mode_runs_three_nodes_over_tls_and_acknowledges_votes_after_a_failover() {
    let started = Instant::now();
    assert!(
        is_root(),
        "run as root: PostgreSQL runs as the postgres user, auto mode's sockets are in /var/run/postgresql"
    );
    let busy = ports_in_use();
    assert!(
        busy.is_empty(),
        "ports of the local cluster already in use: {busy:?} (another local cluster? run `deploy/local-cluster down`)"
    );
    let bin = build_cluster_tool();

    let root = tempfile::Builder::new()
        .prefix("securevote-local-cluster-")
        .tempdir()
        .expect("temp dir");
    // The postgres user reaches its data under STATE_DIR/pg (the tool makes that one 0700).
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let logs = root.path().join("tool-output");
    fs::create_dir(&logs).expect("mkdir");
    let tool = Tool {
        bin,
        state_dir: root.path().join("state"),
        logs,
    };
    let cleanup = Cleanup(&tool);

    let (up, output) = tool.run(&["up", "--auto"], Duration::from_secs(300));
    assert!(up, "up --auto failed");
    assert!(output.contains("number_sync_standbys = 1"), "{output}");

    let (ok, status) = tool.run(&["status"], Duration::from_secs(60));
    assert!(ok, "status failed");
    let mut primaries = 0;
    for (node, port) in [("pg1", 54321), ("pg2", 54322), ("pg3", 54323)] {
        let line = node_line(&status, node, port)
            .unwrap_or_else(|| panic!("no line for {node} in the status:\n{status}"));
        if line.contains("primary / primary") {
            primaries += 1;
        } else {
            assert!(
                line.contains("secondary / secondary") && line.contains("streaming"),
                "{node} is not a streaming secondary: {line}"
            );
        }
    }
    assert_eq!(primaries, 1, "not exactly one primary:\n{status}");
    assert!(
        status.contains("number_sync_standbys = 1"),
        "number_sync_standbys is not 1:\n{status}"
    );
    let tls = status
        .lines()
        .find(|l| l.trim_start().starts_with("securevote: "))
        .unwrap_or_else(|| panic!("no line on the application's connections:\n{status}"));
    assert!(
        tls.contains("connections, all TLS"),
        "the backends' connections are not all TLS: {tls}"
    );

    let (ok, failover) = tool.run(&["failover"], Duration::from_secs(240));
    assert!(ok, "failover failed");
    let first_ack = first_ack_seconds(&failover)
        .unwrap_or_else(|| panic!("no `first acknowledged vote N s after the kill` line"));
    assert!(
        first_ack <= FIRST_ACK_SANITY_BOUND,
        "the first vote after the kill was acknowledged only after {first_ack} s"
    );
    assert!(
        failover.contains("is secondary again"),
        "the killed node did not rejoin"
    );
    announce!("local_cluster: first acknowledged vote {first_ack:.2} s after the kill");

    let (ok, down) = tool.run(&["down"], Duration::from_secs(120));
    assert!(ok, "down failed");
    assert!(down.contains("nothing left running"), "{down}");
    let (ok, _) = tool.run(&["destroy"], Duration::from_secs(120));
    assert!(ok, "destroy failed");
    assert!(!tool.state_dir.exists(), "destroy left the state directory");
    drop(cleanup);
    assert!(
        ports_in_use().is_empty(),
        "ports still in use after down: {:?}",
        ports_in_use()
    );
    announce!(
        "local_cluster: the whole run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_first_acknowledgement_is_parsed() {
    assert_eq!(
        first_ack_seconds("    ok  first acknowledged vote 3.42 s after the kill (vote 1 of 9)\n"),
        Some(3.42)
    );
    assert_eq!(first_ack_seconds("no vote acknowledged\n"), None);
}
