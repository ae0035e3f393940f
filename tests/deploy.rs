//! The systemd unit (deploy/systemd/securevote.service): its hardening, a start limit that
//! fits its restart delay, the same env file mode everywhere it is documented, and
//! `systemd-analyze verify` (Debian's systemd package); the local cluster's settings
//! files; and deploy/postgres/keeper-wake's unit tests (tests/keeper_wake/).

use std::path::Path;
use std::process::Command;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every value of `key=` in the unit (directives may repeat).
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn seconds(value: &str) -> f64 {
    let value = value.trim();
    if let Some(min) = value.strip_suffix("min") {
        return min.parse::<f64>().unwrap() * 60.0;
    }
    value.trim_end_matches('s').parse().unwrap()
}

#[test]
fn the_unit_is_hardened_and_its_start_limit_fits_the_restart_delay() {
    let unit = read("deploy/systemd/securevote.service");
    assert_eq!(values(&unit, "IPAddressDeny"), ["any"]);
    assert!(!values(&unit, "IPAddressAllow").is_empty());
    assert!(values(&unit, "IPAddressAllow").contains(&"localhost"));
    assert_eq!(values(&unit, "SocketBindDeny"), ["any"]);
    let binds = values(&unit, "SocketBindAllow");
    assert!(binds.contains(&"tcp:3000"), "PORT's default: {binds:?}");
    assert!(
        binds.contains(&"tcp:9100"),
        "METRICS_ADDR's example: {binds:?}"
    );
    assert_eq!(values(&unit, "PrivateMounts"), ["yes"]);
    assert_eq!(values(&unit, "RestrictFileSystems").len(), 1);
    // The start limit must not stop the unit's own restarts: at most interval/RestartSec
    // starts happen within the interval.
    let restart = seconds(values(&unit, "RestartSec")[0]);
    let interval = seconds(values(&unit, "StartLimitIntervalSec")[0]);
    let burst: f64 = values(&unit, "StartLimitBurst")[0].parse().unwrap();
    assert!(
        burst > interval / restart,
        "{burst} starts in {interval} s trip with a restart every {restart} s"
    );
    let unit_section = unit.split("[Service]").next().unwrap();
    assert!(
        unit_section.contains("StartLimitIntervalSec"),
        "the start limit belongs in [Unit]"
    );
}

#[test]
fn the_env_file_mode_is_the_same_in_the_unit_and_the_docs() {
    let mode_in = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| line.contains("securevote.env") && line.contains("install -m"))
            .map(|line| {
                line.split("install -m ")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let mut modes = Vec::new();
    for path in [
        "deploy/systemd/securevote.service",
        "deploy/README.md",
        "README.md",
    ] {
        modes.extend(mode_in(&read(path)).into_iter().map(|m| (path, m)));
    }
    let example = read("deploy/systemd/securevote.env.example");
    assert!(example.lines().next().unwrap().contains("mode 0600"));
    assert!(modes.len() >= 2, "{modes:?}");
    for (path, mode) in &modes {
        assert_eq!(mode, "0600", "{path}");
    }
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    assert!(
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok(),
        "systemd-analyze not found (Debian package systemd; scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    // ExecStart must exist for verify; the binary is not installed here.
    let unit = read("deploy/systemd/securevote.service")
        .lines()
        .map(|line| {
            if line.starts_with("ExecStart=") {
                "ExecStart=/bin/true".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("securevote.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains("Unknown key") && !stderr.contains("Failed to parse"),
        "{stderr}"
    );
}

#[test]
fn the_local_cluster_takes_its_postgres_settings_from_the_files() {
    // deploy/local-cluster is a thin wrapper; the orchestration is the cluster crate.
    let script = read("deploy/local-cluster");
    assert!(
        script.contains("exec \"$CLUSTER_BIN\" \"$@\""),
        "deploy/local-cluster runs the cluster tool"
    );
    let code: String = [
        "cluster/src/main.rs",
        "cluster/src/cluster.rs",
        "cluster/src/sys.rs",
    ]
    .iter()
    .flat_map(|file| {
        read(file)
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    })
    .chain(
        script
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .map(str::to_owned),
    )
    .collect::<Vec<_>>()
    .join("\n");
    for inline in [
        "shared_buffers",
        "pgautofailover.health_check_period",
        "timeout.network_partition_timeout",
        "scram-sha-256   #",
        "wal_sender_timeout",
    ] {
        assert!(
            !code.contains(inline),
            "{inline} is set in the cluster tool instead of deploy/postgres/"
        );
    }
    for file in [
        "local-cluster.conf",
        "local-cluster-auto.conf",
        "pg_auto_failover.conf",
        "pg_hba.local-cluster",
        "pg_hba.local-cluster-auto",
        "pg_ident.local-cluster",
        "securevote.conf",
        "setup-primary.sql",
    ] {
        assert!(
            code.contains(&format!("\"{file}\"")),
            "the cluster tool does not read deploy/postgres/{file}"
        );
    }
    assert!(
        read("bench/run").contains("deploy/postgres/bench.conf"),
        "bench/run reads deploy/postgres/bench.conf"
    );
}

/// deploy/postgres/keeper-wake's decisions (tests/keeper_wake/test_keeper_wake.py): which wakes
/// it holds back, and its start-up retries. Run with Debian's Python and python3-psycopg2, as
/// the helper runs next to each keeper (scripts/test installs both).
#[test]
fn keeper_wake_unit_tests_pass() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keeper_wake/test_keeper_wake.py");
    let output = Command::new("/usr/bin/python3")
        .arg("-B")
        .arg(&script)
        .output()
        .expect("/usr/bin/python3 (Debian's python3; scripts/test installs python3-psycopg2)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}:\n{stderr}", script.display());
    assert!(stderr.contains("Ran "), "{stderr}");
}
