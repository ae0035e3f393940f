//! The drills that need pg_auto_failover: a monitor and two data nodes, each made with
//! `pg_autoctl create ...` and supervised by `pg_autoctl run` (a background child process run as
//! the `postgres` user), with the settings of `deploy/local-cluster up --auto` — read from the
//! same files under deploy/postgres/, so these drills check what deploy/README.md claims: the
//! monitor's `pgautofailover.*` timeouts and the keepers' `timeout.*` settings
//! (pg_auto_failover.conf), the `local.conf` (local-cluster-auto.conf: the shared_buffers fix and
//! the replication settings), the pg_hba rules (pg_hba.local-cluster-auto), scram for the pg_auto_failover roles with
//! their passwords in a password file, self-signed TLS between the nodes and sockets in
//! `/var/run/postgresql`. The backends get the formation's host list
//! (`pg_autoctl show uri --formation default`) and speak plain TCP to PostgreSQL.
//!
//! * automatic failover: kill -9 of the primary node (its keeper's process group and its
//!   PostgreSQL) under load; the monitor promotes the standby, votes resume with no human step,
//!   and the killed node's restarted keeper rejoins it as the standby;
//! * network partition: the primary alone in a network namespace of its own, its link taken down
//!   under load; its keeper demotes it, the monitor promotes the other node, and no vote that was
//!   acknowledged is missing afterwards (no split-brain acknowledgement).
//! * an election closing during the failover (`election_close`): the primary is killed 1.5 s
//!   before `closes_at`; no ballot is stored at or after it, every ballot sent after it is
//!   refused with 409 `election_not_open`, and every acknowledged one is stored and counted.
//! * invitations being sent during the failover (`invitations_failover`): both backends send a
//!   roll election's invitations to a real SMTP server (aiosmtpd) when the primary is killed;
//!   every voter gets one, plus at most the one message per instance that was being handed over
//!   (sent again when its claim expires), and the outbox ends with every message sent.
//!
//! They need root (network namespaces, pg_autoctl as `postgres`, `/var/run/postgresql`). After a
//! failing drill the formation's files (keeper and PostgreSQL logs) are kept and their directory
//! is printed; `DRILL_KEEP_TMP=1` keeps them after a passing one too.
//!
//! Each data node runs deploy/postgres/keeper-wake next to its keeper, as the production layout
//! does (deploy/README.md §6); `DRILL_NO_KEEPER_WAKE=1` runs the drills without it, to compare.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::drill::{
    self, DrillConfig, Report, assert_no_failed_reads, assert_nothing_lost, summary, verify,
};

// The election that closes during a failover; a child module, so it drives the same formation.
#[path = "election_close.rs"]
mod election_close;
// Invitations being sent during a failover; a child module too.
#[path = "invitations_failover.rs"]
mod invitations_failover;
// The long randomised fault run under mixed load; a child module too.
#[path = "long_run.rs"]
mod long_run;
// Reading and rendering the files under deploy/postgres/: the code of the cluster tool (which
// deploy/local-cluster runs), so the drills apply the settings exactly as the local cluster does.
#[path = "../../cluster/src/settings.rs"]
mod settings;
use crate::postgres::{PgCluster, free_port};
use crate::topology::{Backend, DATABASE, Nginx, start_nginx, wait_for_health, which};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PG_AUTOCTL: &str = "/usr/bin/pg_autoctl";
/// The formation's data nodes: node1 starts as the primary.
const DATA_NODES: [&str; 3] = ["node1", "node2", "node3"];
/// `number_sync_standbys` of the formation (deploy/local-cluster up --auto sets the same).
const NUMBER_SYNC_STANDBYS: &str = "1";
/// pg_autoctl starts PostgreSQL without a socket directory option: Debian's default directory.
const SOCKET_DIR: &str = "/var/run/postgresql";
const AUTOCTL_NODE_PASSWORD: &str = "drill-autoctl-node-password";
const REPLICATION_PASSWORD: &str = "drill-replication-password";
/// Acknowledgements this soon after the fault were answered by the old primary before it went
/// away (already on their way back); the window is measured to the first one after it.
const IN_FLIGHT_GRACE: Duration = Duration::from_millis(250);

fn load(seconds: u64) -> DrillConfig {
    DrillConfig {
        duration: Duration::from_secs(seconds),
        vote_workers: 8,
        read_workers: 4,
    }
}

// ------------------------------------------------------------------------------------------
// The drills
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_failover_after_primary_node_killed_loses_nothing_and_needs_no_human_step() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = AutoTopology::start(Layout::Loopback, 40_000).await;
    let base = cluster.nginx.url();
    let (voters, candidates) = (cluster.voters.clone(), cluster.candidates.clone());
    let mut timeline = Timeline::default();
    let mut fault_epoch = 0.0;

    let report = {
        let formation = &mut cluster.formation;
        drill::run(&base, &voters, &candidates, load(22), async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let killed = formation.nodes[0].kill9();
            let fault = Instant::now();
            fault_epoch = unix_seconds();
            announce!(
                "fault drill auto-failover-kill: kill -9 of node1's keeper process group \
                 and postgres ({killed})"
            );
            timeline.fault = Some(fault);
            formation
                .watch_failover(&mut timeline, 0, None, Duration::from_secs(40))
                .await;
            // The process supervisor (systemd) starts the keeper again once the host is back.
            let restarted = Instant::now();
            formation.nodes[0].start_keeper();
            let rejoined = formation.wait_for_all_states(Duration::from_secs(60)).await;
            timeline.rejoined = Some(rejoined.duration_since(restarted));
        })
        .await
    };

    let formation = &cluster.formation;
    let writable = formation.writable_nodes().await;
    let took_over = timeline.new_primary(formation);
    let new_primary = took_over.cluster();
    let verification = verify(&report, &new_primary).await;
    announce!("{}", summary("auto-failover-kill", &report, &verification));
    timeline.print("auto-failover-kill", "kill", &report);
    for event in formation.events_since(fault_epoch).await {
        announce!("fault drill auto-failover-kill: monitor event {event}");
    }
    announce!(
        "fault drill auto-failover-kill: nodes accepting writes: {writable:?}; monitor: {}",
        formation.states_line().await
    );
    assert_nothing_lost(&report, &verification, writable.len());
    assert_no_failed_reads(&report);
    assert_eq!(writable, [took_over.name], "a standby is the one primary");
    let resumed = timeline
        .resumed(&report)
        .expect("votes resumed after the kill, with no human step");
    assert!(
        resumed <= Duration::from_secs(20),
        "votes resumed {resumed:?} after the kill"
    );
    took_over.assert_woken();
    // The rejoined old primary (pg_rewind) holds exactly the acknowledged votes too: nothing it
    // had alone survived the rewind.
    let old_primary = formation.nodes[0].cluster();
    wait_for_replay(&new_primary, &old_primary).await;
    let on_old_primary = verify(&report, &old_primary).await;
    assert_eq!(
        (
            on_old_primary.lost,
            on_old_primary.unattempted,
            on_old_primary.stored
        ),
        (0, 0, verification.stored),
        "the rejoined node holds what the primary holds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn primary_cut_off_from_the_network_acknowledges_nothing_that_is_lost() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    let cluster = AutoTopology::start(Layout::PrimaryInNamespace, 40_000).await;
    let base = cluster.nginx.url();
    let formation = &cluster.formation;
    let netns = formation
        .netns
        .as_ref()
        .expect("node1 runs in its own network namespace");
    assert_eq!(
        formation.nodes[0].state_inside_namespace(netns),
        "primary",
        "node1 is the primary at the start (seen from its namespace)"
    );
    let mut timeline = Timeline::default();
    let mut fault_epoch = 0.0;

    let report = drill::run(&base, &cluster.voters, &cluster.candidates, load(24), async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        netns.cut();
        timeline.fault = Some(Instant::now());
        fault_epoch = unix_seconds();
        announce!(
            "fault drill auto-failover-partition: link {} of namespace {} (node1, the primary) is down",
            netns.ns_if, netns.name
        );
        formation.watch_failover(&mut timeline, 0, Some(netns), Duration::from_secs(45)).await;
    })
    .await;

    let writable = formation.writable_nodes().await;
    let took_over = timeline.new_primary(formation);
    let new_primary = took_over.cluster();
    let verification = verify(&report, &new_primary).await;
    announce!(
        "{}",
        summary("auto-failover-partition", &report, &verification)
    );
    timeline.print("auto-failover-partition", "cut", &report);
    for event in formation.events_since(fault_epoch).await {
        announce!("fault drill auto-failover-partition: monitor event {event}");
    }
    let isolated = formation.nodes[0].state_inside_namespace(netns);
    announce!(
        "fault drill auto-failover-partition: nodes accepting writes seen from the host: {writable:?}; node1 seen from its namespace: {isolated}; monitor: {}",
        formation.states_line().await
    );
    assert_nothing_lost(&report, &verification, writable.len());
    assert_no_failed_reads(&report);
    assert_eq!(
        writable,
        [took_over.name],
        "a node on the monitor's side is the one primary"
    );
    assert!(
        timeline.isolated_demoted.is_some(),
        "the isolated primary never stopped accepting writes"
    );
    assert_ne!(
        isolated, "primary",
        "the isolated node must not accept writes"
    );
    for standby in &formation.nodes[1..] {
        standby.assert_no_slow_connect_to(&formation.nodes[0]);
    }
    // No split brain in what is acknowledged: the isolated node may still open read-write
    // sessions for a moment after another node takes writes (the overlap printed above), but
    // none of its commits completes: its synchronous_standby_names names the two other nodes,
    // and neither streams from it any more. assert_nothing_lost checked that every
    // acknowledged vote is on the new primary.
    let resumed = timeline
        .resumed(&report)
        .expect("votes resumed after the cut, with no human step");
    assert!(
        resumed <= Duration::from_secs(25),
        "votes resumed {resumed:?} after the cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_node_lost_after_a_failover_makes_votes_wait_and_none_is_acknowledged_on_one_copy()
{
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    let mut cluster = AutoTopology::start(Layout::Loopback, 40_000).await;
    let base = cluster.nginx.url();
    let (voters, candidates) = (cluster.voters.clone(), cluster.candidates.clone());
    let mut timeline = Timeline::default();
    // How long the primary runs alone before the lost standby's keeper is started again.
    const ALONE: Duration = Duration::from_secs(8);
    let mut second = None;

    let report = {
        let formation = &mut cluster.formation;
        drill::run(&base, &voters, &candidates, load(36), async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let killed = formation.nodes[0].kill9();
            timeline.fault = Some(Instant::now());
            announce!("fault drill second-node-lost: kill -9 of node1 ({killed})");
            formation
                .watch_failover(&mut timeline, 0, None, Duration::from_secs(40))
                .await;
            let primary = timeline.new_primary.expect("a node took over");
            assert!(
                timeline.monitor_primary_synchronous.is_some(),
                "{} never became primary with a synchronous standby",
                DATA_NODES[primary]
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
            // The other standby, the only other copy, dies too.
            let standby = (1..DATA_NODES.len())
                .find(|i| *i != primary)
                .expect("a third node");
            let killed = formation.nodes[standby].kill9();
            let lost = Instant::now();
            announce!(
                "fault drill second-node-lost: kill -9 of {} ({killed}), {} alone for {ALONE:?}",
                DATA_NODES[standby],
                DATA_NODES[primary]
            );
            tokio::time::sleep(ALONE).await;
            let names = formation.nodes[primary].synchronous_standby_names().await;
            let states = formation.states_line().await;
            let back = Instant::now();
            formation.nodes[standby].start_keeper();
            formation
                .wait_for_states(
                    &[
                        (DATA_NODES[primary], "primary"),
                        (DATA_NODES[standby], "secondary"),
                    ],
                    Duration::from_secs(60),
                )
                .await;
            let recovered = Instant::now();
            second = Some((lost, back, recovered, names, states));
            formation.nodes[0].start_keeper();
            formation.wait_for_all_states(Duration::from_secs(90)).await;
        })
        .await
    };

    let formation = &cluster.formation;
    let took_over = timeline.new_primary(formation);
    let verification = verify(&report, &took_over.cluster()).await;
    announce!("{}", summary("second-node-lost", &report, &verification));
    timeline.print("second-node-lost", "first kill", &report);
    let (lost, back, recovered, names, states) = second.expect("the second node was lost");
    let acks = report.ack_times();
    let alone = acks
        .iter()
        .filter(|t| **t >= lost + IN_FLIGHT_GRACE && **t < back)
        .count();
    let resumed = report
        .first_ack_after(back)
        .map_or("never".to_owned(), |t| {
            format!("{:.2}s", t.duration_since(back).as_secs_f64())
        });
    announce!(
        "fault drill second-node-lost: votes acknowledged while {} ran alone ({:.1}s): {alone}; \
         its synchronous_standby_names then: '{names}'; monitor then: {states}; first vote \
         acknowledged {resumed} after the lost node's keeper restarted (both again {:.2}s after)",
        took_over.name,
        back.duration_since(lost).as_secs_f64(),
        recovered.duration_since(back).as_secs_f64()
    );
    assert_nothing_lost(
        &report,
        &verification,
        formation.writable_nodes().await.len(),
    );
    assert_no_failed_reads(&report);
    assert_eq!(
        alone, 0,
        "votes were acknowledged while the primary was the only copy"
    );
    assert!(
        !names.trim().is_empty(),
        "the lone primary stopped waiting for a synchronous standby"
    );
    assert!(
        report.first_ack_after(back).is_some(),
        "votes resumed once the lost node was back"
    );
}

/// Now, in seconds since the Unix epoch (the monitor's event times are compared with it).
fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

// ------------------------------------------------------------------------------------------
// Measurements
// ------------------------------------------------------------------------------------------

/// The first acknowledged vote after each automatic failover of this run, for the spread.
static RESUMED: std::sync::Mutex<Vec<(String, f64)>> = std::sync::Mutex::new(Vec::new());

/// What happened when, after the fault.
#[derive(Default)]
struct Timeline {
    fault: Option<Instant>,
    /// The standby left recovery (promoted, still `default_transaction_read_only`).
    promoted: Option<Instant>,
    /// The standby takes writes (a new session is read-write).
    writable: Option<Instant>,
    /// Which node took over (index into `Formation::nodes`).
    new_primary: Option<usize>,
    /// Its `synchronous_standby_names` when it first took writes.
    sync_names_when_writable: Option<String>,
    /// The monitor first shows it as wait_primary or primary (and which).
    monitor_primary: Option<(Instant, String)>,
    /// The monitor shows it as primary: a synchronous standby follows it again.
    monitor_primary_synchronous: Option<Instant>,
    /// The isolated old primary no longer accepts writes (partition drill only).
    isolated_demoted: Option<(Instant, String)>,
    /// From the restart of the killed node's keeper to its being the secondary again.
    rejoined: Option<Duration>,
}

impl Timeline {
    fn after(&self, instant: Option<Instant>) -> String {
        match (self.fault, instant) {
            (Some(fault), Some(at)) => format!("{:.2}s", at.duration_since(fault).as_secs_f64()),
            _ => "never".to_owned(),
        }
    }

    /// The node that took over.
    fn new_primary<'f>(&self, formation: &'f Formation) -> &'f Instance {
        &formation.nodes[self.new_primary.expect("a node took over")]
    }

    /// From the fault to the first vote acknowledged after it.
    fn resumed(&self, report: &Report) -> Option<Duration> {
        let fault = self.fault?;
        Some(
            report
                .first_ack_after(fault + IN_FLIGHT_GRACE)?
                .duration_since(fault),
        )
    }

    fn print(&self, name: &str, fault: &str, report: &Report) {
        let resumed = self
            .resumed(report)
            .map_or("never".to_owned(), |d| format!("{:.2}s", d.as_secs_f64()));
        let stray = match self.fault {
            Some(at) => report
                .ack_times()
                .iter()
                .filter(|t| **t >= at && **t < at + IN_FLIGHT_GRACE)
                .count(),
            None => 0,
        };
        announce!("fault drill {name}: votes resumed {resumed} after the {fault}");
        if let Some(took) = self.resumed(report) {
            let mut runs = RESUMED.lock().unwrap_or_else(|e| e.into_inner());
            runs.push((name.to_owned(), took.as_secs_f64()));
            let (low, high) = runs.iter().fold((f64::MAX, 0f64), |(lo, hi), (_, s)| {
                (lo.min(*s), hi.max(*s))
            });
            announce!(
                "fault drill automatic failovers so far: first vote acknowledged {low:.2} – {high:.2} s after the fault over {} runs ({})",
                runs.len(),
                runs.iter()
                    .map(|(n, s)| format!("{n} {s:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let new_primary = self
            .new_primary
            .map_or("no node".to_owned(), |i| DATA_NODES[i].to_owned());
        let (first_state, first_state_at) = match &self.monitor_primary {
            Some((at, state)) => (state.as_str(), Some(*at)),
            None => ("primary", None),
        };
        let mut line = format!(
            "fault drill {name}: after the {fault}: {new_primary} promoted {}, takes writes {} \
             (synchronous_standby_names '{}'), monitor shows it {first_state} {}, primary with a \
             synchronous standby {}",
            self.after(self.promoted),
            self.after(self.writable),
            self.sync_names_when_writable.as_deref().unwrap_or("?"),
            self.after(first_state_at),
            self.after(self.monitor_primary_synchronous)
        );
        if let Some((at, state)) = &self.isolated_demoted {
            line.push_str(&format!(
                ", isolated old primary {state} (seen from its namespace) {}",
                self.after(Some(*at))
            ));
            // Both out of recovery for a while: harmless as long as the isolated one cannot
            // commit (synchronous replication) — which drill::verify checks.
            let overlap = |since: Option<Instant>| {
                since.map_or(0.0, |since| {
                    at.saturating_duration_since(since).as_secs_f64()
                })
            };
            line.push_str(&format!(
                " (two nodes out of recovery for {:.2}s, both read-write for {:.2}s)",
                overlap(self.promoted),
                overlap(self.writable)
            ));
        }
        if let Some(rejoined) = self.rejoined {
            line.push_str(&format!(
                ", killed node secondary again {:.2}s after its keeper restarted",
                rejoined.as_secs_f64()
            ));
        }
        line.push_str(&format!(
            "; votes answered within {IN_FLIGHT_GRACE:?} of the {fault} (in flight before it): \
             {stray}"
        ));
        announce!("{line}");
    }
}

/// `pg_is_in_recovery()` and `transaction_read_only` of a node, over TCP from the host.
async fn node_role(host: &str, port: u16) -> &'static str {
    let url = format!("postgres://postgres@{host}:{port}/postgres?connect_timeout=2");
    let probe = async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.ok()?;
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'",
                &[],
            )
            .await
            .ok()?;
        Some((row.get::<_, bool>(0), row.get::<_, bool>(1)))
    };
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Some((true, _))) => "standby",
        Ok(Some((false, true))) => "read-only primary",
        Ok(Some((false, false))) => "primary",
        _ => "down",
    }
}

/// Waits until the standby has replayed everything the primary has written.
async fn wait_for_replay(primary: &PgCluster, standby: &PgCluster) {
    let lsn: String = primary
        .connect("postgres")
        .await
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .expect("primary LSN")
        .get(0);
    let standby = standby.connect("postgres").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let caught_up: bool = standby
            .query_one(
                "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
                &[&lsn],
            )
            .await
            .expect("standby replay LSN")
            .get(0);
        if caught_up {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the rejoined node did not replay up to {lsn} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------------------------------------
// The settings of deploy/local-cluster (auto mode): plain files under deploy/postgres/
// ------------------------------------------------------------------------------------------

/// The address deploy/local-cluster renders into `@HOST@` of its pg_hba rules.
const LOCAL_CLUSTER_HOST: &str = "127.0.0.1";
struct DeploySettings {
    /// `[monitor]` of deploy/postgres/pg_auto_failover.conf: GUCs of the monitor (`ALTER SYSTEM SET`).
    monitor: Vec<(String, String)>,
    /// `[keeper]` of deploy/postgres/pg_auto_failover.conf: `pg_autoctl config set` on each data node.
    keeper: Vec<(String, String)>,
    /// `[monitor-connection]`: libpq parameters of the monitor URI the data nodes' keepers use.
    monitor_connection: Vec<(String, String)>,
    /// deploy/postgres/local-cluster-auto.conf (the `local.conf` of every node), `@HOST@` still in it.
    local_conf: String,
    /// deploy/postgres/pg_hba.local-cluster-auto: the rules that replace initdb's.
    hba_rules: String,
}

fn deploy_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

impl DeploySettings {
    fn read() -> Self {
        let timing = deploy_file("deploy/postgres/pg_auto_failover.conf");
        let settings = Self {
            monitor: settings::conf_section(&timing, "monitor")
                .expect("deploy/postgres/pg_auto_failover.conf"),
            keeper: settings::conf_section(&timing, "keeper")
                .expect("deploy/postgres/pg_auto_failover.conf"),
            monitor_connection: settings::conf_section(&timing, "monitor-connection")
                .expect("deploy/postgres/pg_auto_failover.conf"),
            local_conf: deploy_file("deploy/postgres/local-cluster-auto.conf"),
            hba_rules: deploy_file("deploy/postgres/pg_hba.local-cluster-auto"),
        };
        for (list, key) in [
            (
                &settings.monitor,
                "pgautofailover.node_considered_unhealthy_timeout",
            ),
            (&settings.monitor, "pgautofailover.primary_demote_timeout"),
            (&settings.keeper, "timeout.network_partition_timeout"),
            (&settings.monitor_connection, "tcp_user_timeout"),
        ] {
            assert!(
                list.iter().any(|(k, _)| k == key),
                "{key} not found in deploy/postgres/pg_auto_failover.conf"
            );
        }
        assert!(
            settings.local_conf.contains("shared_buffers"),
            "deploy/postgres/local-cluster-auto.conf: {}",
            settings.local_conf
        );
        assert!(
            settings::has_pg_auto_failover_marker(&settings.hba_rules),
            "no `# {}` line in deploy/postgres/pg_hba.local-cluster-auto",
            settings::PG_AUTO_FAILOVER_RULES
        );
        settings
    }

    fn describe(&self) -> String {
        self.monitor
            .iter()
            .chain(&self.keeper)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

// ------------------------------------------------------------------------------------------
// Processes and commands as the postgres user
// ------------------------------------------------------------------------------------------

fn tool(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| panic!("{name} not found"))
}

/// Runs `command`, stdout and stderr appended to `log`; panics with the log's end on failure.
fn run_logged(command: &mut Command, log: &Path, what: &str) {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open log");
    let status = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log fd"))
        .stderr(file)
        .status()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        status.success(),
        "{what} failed ({status}); end of {}:\n{}",
        log.display(),
        tail(log)
    );
}

/// Runs `command`; its stdout, or a panic with its output.
fn run_output(command: &mut Command, what: &str) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `child` exits before `deadline` (polled every 50 ms).
fn exited_by(child: &mut Child, deadline: Instant) -> bool {
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    !matches!(child.try_wait(), Ok(None))
}

/// The N of pg_autoctl's "Failed to connect to ... after 1 attempts in N ms, pg_autoctl stops
/// retrying now".
fn failed_connect_ms(line: &str) -> Option<u64> {
    let (_, after) = line.split_once(" attempts in ")?;
    after.split_once(" ms")?.0.trim().parse().ok()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn chown_to_postgres(path: &Path) {
    run_output(
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path),
        "chown to postgres",
    );
}

/// Writes a file owned by postgres, mode 0600.
fn write_as_postgres(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    run_output(Command::new("chmod").arg("0600").arg(path), "chmod");
    chown_to_postgres(path);
}

fn signal(signal: &str, targets: &[String]) {
    if !targets.is_empty() {
        let _ = Command::new("kill")
            .arg(signal)
            .arg("--")
            .args(targets)
            .stderr(Stdio::null())
            .status();
    }
}

fn alive(pid: u32) -> bool {
    // A zombie (killed, not yet reaped by its parent) is not alive.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Direct children of `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                })
                == Some(pid)
        })
        .collect()
}

fn postmaster_pid(pgdata: &Path) -> Option<u32> {
    std::fs::read_to_string(pgdata.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

// ------------------------------------------------------------------------------------------
// The network namespace of the partition drill
// ------------------------------------------------------------------------------------------

/// A network namespace with a veth pair to the host: `host_addr` on the host's end, `ns_addr`
/// in the namespace (a /30 of 10.231.0.0/16 nothing else on this machine uses). Deleted on drop.
pub struct Netns {
    pub name: String,
    pub host_if: String,
    pub ns_if: String,
    pub host_addr: String,
    pub ns_addr: String,
    pub subnet: String,
}

impl Netns {
    fn create() -> Self {
        let ip = tool("ip");
        let pid = std::process::id();
        let used = run_output(
            Command::new(&ip).args(["-4", "addr", "show"]),
            "ip addr show",
        );
        let octet = (0..224u32)
            .map(|i| 16 + (pid + i) % 224)
            .find(|octet| !used.contains(&format!("10.231.{octet}.")))
            .expect("a free 10.231.x.0/30");
        let netns = Self {
            name: format!("svdrill-{pid}"),
            host_if: format!("svh{pid}"),
            ns_if: format!("svn{pid}"),
            host_addr: format!("10.231.{octet}.1"),
            ns_addr: format!("10.231.{octet}.2"),
            subnet: format!("10.231.{octet}.0/30"),
        };
        let (host_cidr, ns_cidr) = (
            format!("{}/30", netns.host_addr),
            format!("{}/30", netns.ns_addr),
        );
        let steps: [Vec<&str>; 8] = [
            vec!["netns", "add", &netns.name],
            vec![
                "link",
                "add",
                &netns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &netns.ns_if,
                "netns",
                &netns.name,
            ],
            vec!["addr", "add", &host_cidr, "dev", &netns.host_if],
            vec!["link", "set", &netns.host_if, "up"],
            vec![
                "-n",
                &netns.name,
                "addr",
                "add",
                &ns_cidr,
                "dev",
                &netns.ns_if,
            ],
            vec!["-n", &netns.name, "link", "set", &netns.ns_if, "up"],
            vec!["-n", &netns.name, "link", "set", "lo", "up"],
            vec!["-n", &netns.name, "link", "show", &netns.ns_if],
        ];
        for step in steps {
            run_output(
                Command::new(&ip).args(&step),
                &format!("ip {}", step.join(" ")),
            );
        }
        netns
    }

    /// Takes the namespace's end of the link down. (Not the host's end: that would remove the
    /// host's route to the namespace, and the host would then send the namespace's traffic to
    /// its default gateway. With the namespace's end down the host keeps its route, marked
    /// linkdown, and the packets are dropped; the namespace has no route at all.)
    fn cut(&self) {
        run_output(
            Command::new(tool("ip")).args(["-n", &self.name, "link", "set", &self.ns_if, "down"]),
            "take the namespace's link down",
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let ip = tool("ip");
        // Deleting the namespace deletes its veth end, and with it the host's.
        let _ = Command::new(&ip)
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new(&ip)
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
    }
}

// ------------------------------------------------------------------------------------------
// The formation: monitor + two data nodes
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// Everything on 127.0.0.1.
    Loopback,
    /// node1 in a network namespace of its own; the monitor and node2 on the host's end of the
    /// link (and on 127.0.0.1).
    PrimaryInNamespace,
}

/// One PostgreSQL instance with its keeper (`pg_autoctl run`).
pub struct Instance {
    pub name: &'static str,
    /// The address the other nodes and the monitor use.
    pub host: String,
    /// `listen_addresses`.
    listen: String,
    /// Where the harness (on the host) reaches it.
    pub harness_host: String,
    pub port: u16,
    pub pgdata: PathBuf,
    netns: Option<String>,
    root: PathBuf,
    log: PathBuf,
    keeper: Option<Child>,
    /// deploy/postgres/keeper-wake next to a data node's keeper, in its process group.
    waker: Option<Child>,
}

impl Instance {
    fn new(
        name: &'static str,
        root: &Path,
        host: &str,
        listen: &str,
        harness_host: &str,
        netns: Option<&Netns>,
    ) -> Self {
        Self {
            name,
            host: host.to_owned(),
            listen: listen.to_owned(),
            harness_host: harness_host.to_owned(),
            port: free_port(),
            pgdata: root.join(name),
            netns: netns.map(|n| n.name.clone()),
            root: root.to_owned(),
            log: root.join(format!("{name}.log")),
            keeper: None,
            waker: None,
        }
    }

    /// `program` as the postgres user (in this instance's network namespace, if any), with the
    /// environment deploy/local-cluster gives it.
    fn as_postgres(&self, program: &str) -> Command {
        self.as_postgres_within(None, program)
    }

    /// The same, killed after `limit_seconds` when given (coreutils `timeout`).
    fn as_postgres_within(&self, limit_seconds: Option<u32>, program: &str) -> Command {
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let Some(limit) = limit_seconds {
            argv.extend([tool("timeout").into(), limit.to_string().into()]);
        }
        if let Some(ns) = &self.netns {
            argv.extend([tool("ip").into(), "netns".into(), "exec".into(), ns.into()]);
        }
        argv.push(tool("setpriv").into());
        argv.extend(
            [
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
                program,
            ]
            .map(Into::into),
        );
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env_clear()
            .env("HOME", &self.root)
            .env("USER", "postgres")
            .env("LOGNAME", "postgres")
            .env("PGPASSFILE", self.root.join("pgpass"))
            .env("XDG_RUNTIME_DIR", self.root.join("run"))
            .env("PGHOST", SOCKET_DIR)
            .env("PATH", format!("{PG_BIN}:/usr/bin:/bin"))
            .current_dir(&self.root);
        command
    }

    fn autoctl(&self, args: &[&str], what: &str) {
        run_logged(
            self.as_postgres(PG_AUTOCTL).args(args),
            &self.log,
            &format!("{what} ({})", self.name),
        );
    }

    fn config_set(&self, key: &str, value: &str) {
        let pgdata = self.pgdata.to_str().unwrap();
        self.autoctl(
            &["config", "set", "--pgdata", pgdata, key, value],
            &format!("pg_autoctl config set {key}"),
        );
    }

    /// The cluster tool's `auto_local_conf` (cluster/src/cluster.rs): deploy/postgres/local-cluster-auto.conf, read after pg_auto_failover's own
    /// file (which sizes shared_buffers to 25 % of the machine's RAM, for each instance). On the
    /// data nodes without `listen_addresses`, which pg_autoctl sets per node (`--listen`): here
    /// the nodes listen on different addresses, and pg_basebackup (and pg_rewind) copy node1's
    /// local.conf to node2.
    fn write_local_conf(&self, settings: &DeploySettings) {
        let data_node = self.name != "monitor";
        let conf: String = settings
            .local_conf
            .lines()
            .filter(|line| !(data_node && line.trim_start().starts_with("listen_addresses")))
            .map(|line| format!("{line}\n"))
            .collect();
        let conf = settings::render(&conf, &[("HOST", &self.listen)])
            .expect("deploy/postgres/local-cluster-auto.conf");
        write_as_postgres(&self.pgdata.join("local.conf"), &conf);
        let conf = self.pgdata.join("postgresql.conf");
        let text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        if !text.contains("\ninclude_if_exists = 'local.conf'") {
            std::fs::write(&conf, format!("{text}include_if_exists = 'local.conf'\n"))
                .expect("postgresql.conf");
        }
    }

    /// The cluster tool's `auto_harden_hba` with deploy/postgres/pg_hba.local-cluster-auto:
    /// initdb's trust rules replaced by peer for the postgres OS user over the socket,
    /// pg_auto_failover's own scram rules kept. Instead of the application role's scram rule, the
    /// drill's harness and backends then connect as postgres without a password, from the given
    /// networks only.
    fn harden_hba(&self, settings: &DeploySettings, harness_networks: &[&str]) {
        let path = self.pgdata.join("pg_hba.conf");
        let original = std::fs::read_to_string(&path).expect("pg_hba.conf");
        let hardened = settings::hardened_hba(&original, &settings.hba_rules, LOCAL_CLUSTER_HOST)
            .expect("deploy/postgres/pg_hba.local-cluster-auto");
        // First, so that they match before pg_auto_failover's `hostssl ... scram` rules (the
        // backends connect with TLS).
        let harness: String = harness_networks
            .iter()
            .map(|network| {
                format!("host    all   postgres   {network}   trust   # fault drill harness\n")
            })
            .collect();
        // pg_rewind (an old primary rejoining) from the namespace's subnet too: the file's
        // rule names the loopback address only, where the local cluster's nodes all live.
        let rewind: String = harness_networks
            .iter()
            .filter(|network| !network.starts_with(LOCAL_CLUSTER_HOST))
            .map(|network| {
                format!(
                    "hostssl postgres pgautofailover_replicator {network} scram-sha-256 # fault drill: pg_rewind\n"
                )
            })
            .collect();
        write_as_postgres(&path, &format!("{harness}{hardened}{rewind}"));
    }

    /// `pg_autoctl run` in the background, in a process group of its own (so that a kill of the
    /// group takes its sub-processes too); the group id is recorded for the watchdog.
    fn start_keeper(&mut self) {
        assert!(self.keeper.is_none(), "{}'s keeper already runs", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = self
            .as_postgres(PG_AUTOCTL)
            .args(["run", "--pgdata"])
            .arg(&self.pgdata)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("pg_autoctl run ({}): {e}", self.name));
        std::fs::write(
            self.root.join("pgid").join(self.name),
            child.id().to_string(),
        )
        .expect("record the keeper's process group");
        let group = child.id();
        self.keeper = Some(child);
        if self.name != "monitor" && std::env::var_os("DRILL_NO_KEEPER_WAKE").is_none() {
            self.start_waker(group);
        }
    }

    /// deploy/postgres/keeper-wake for this data node, as the production layout runs it: the
    /// same user, namespace and environment as the keeper, in the keeper's process group (a
    /// crash of the node takes it too); it exits by itself when the keeper exits.
    fn start_waker(&mut self, group: u32) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/postgres/keeper-wake");
        let child = self
            .as_postgres("/usr/bin/python3")
            .arg(script)
            .args(["--pg-autoctl", PG_AUTOCTL, "--pgdata"])
            .arg(&self.pgdata)
            .process_group(group as i32)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("keeper-wake ({}): {e}", self.name));
        self.waker = Some(child);
    }

    /// The node's keeper-wake found its keeper and the monitor, and woke the keeper when the
    /// monitor gave it work (unless the drill runs without it, `DRILL_NO_KEEPER_WAKE=1`).
    fn assert_woken(&self) {
        if std::env::var_os("DRILL_NO_KEEPER_WAKE").is_some() {
            return;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(
            log.contains("keeper-wake: woke the keeper"),
            "{}'s keeper-wake never woke its keeper:\n{}",
            self.name,
            tail(&self.log)
        );
    }

    /// The keeper never waited a second or more on a connection to `primary` that failed: a
    /// standby's keeper reconnects to its primary when it reloads (on SIGHUP), with pg_autoctl's
    /// 2 s connect timeout, so keeper-wake must not wake it while that primary is cut off.
    fn assert_no_slow_connect_to(&self, primary: &Instance) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let address = format!("@{}:{}/", primary.host, primary.port);
        let slow: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(&address) && line.contains("stops retrying now"))
            .filter(|line| failed_connect_ms(line).is_some_and(|ms| ms >= 1000))
            .collect();
        assert!(
            slow.is_empty(),
            "{}'s keeper waited on a connection to {} ({}):\n{}",
            self.name,
            primary.name,
            address,
            slow.join("\n")
        );
    }

    /// Waits for the waker, which exits within a second of its keeper (up to `deadline`).
    fn reap_waker(&mut self, deadline: Instant) {
        if let Some(mut waker) = self.waker.take() {
            if !exited_by(&mut waker, deadline) {
                let _ = waker.kill();
            }
            let _ = waker.wait();
        }
    }

    /// The crash of the node: kill -9 of the keeper's process group, of the postmaster and of
    /// its children (it runs in that group too, but a host crash spares nothing).
    fn kill9(&mut self) -> String {
        let mut keeper = self.keeper.take().expect("the keeper runs");
        let pgid = keeper.id();
        let postmaster = postmaster_pid(&self.pgdata).filter(|pid| alive(*pid));
        let mut targets = vec![format!("-{pgid}")];
        if let Some(pid) = postmaster {
            targets.push(pid.to_string());
            targets.extend(children_of(pid).into_iter().map(|c| c.to_string()));
        }
        signal("-KILL", &targets);
        let _ = keeper.wait();
        self.reap_waker(Instant::now() + Duration::from_secs(1));
        let _ = std::fs::remove_file(self.root.join("pgid").join(self.name));
        let deadline = Instant::now() + Duration::from_secs(5);
        while postmaster.is_some_and(alive) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !postmaster.is_some_and(alive),
            "the postmaster survived kill -9"
        );
        format!(
            "process group {pgid}, postmaster {}",
            postmaster.map_or("none".to_owned(), |p| p.to_string())
        )
    }

    /// SIGTERM to the keeper: it stops PostgreSQL (fast) and exits.
    fn terminate_keeper(&self) {
        if let Some(keeper) = &self.keeper {
            signal("-TERM", &[keeper.id().to_string()]);
        }
    }

    /// Waits for a terminated keeper (up to `deadline`), then kills whatever is left.
    fn reap(&mut self, deadline: Instant) {
        if let Some(mut keeper) = self.keeper.take() {
            if !exited_by(&mut keeper, deadline) {
                signal("-KILL", &[format!("-{}", keeper.id())]);
                let _ = keeper.wait();
            }
            self.reap_waker(Instant::now() + Duration::from_secs(3));
            let _ = std::fs::remove_file(self.root.join("pgid").join(self.name));
        }
        if let Some(pid) = postmaster_pid(&self.pgdata).filter(|pid| alive(*pid)) {
            let mut targets = vec![pid.to_string()];
            targets.extend(children_of(pid).into_iter().map(|c| c.to_string()));
            signal("-KILL", &targets);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // A killed postmaster leaves its socket and lock file in the shared socket directory.
        let socket = format!("{SOCKET_DIR}/.s.PGSQL.{}", self.port);
        let lock = format!("{socket}.lock");
        let owner = std::fs::read_to_string(&lock)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
        if owner.is_some_and(|pid| !alive(pid)) {
            let _ = std::fs::remove_file(&socket);
            let _ = std::fs::remove_file(&lock);
        }
    }

    /// `synchronous_standby_names` of the node ("?" when it does not answer).
    async fn synchronous_standby_names(&self) -> String {
        let url = format!(
            "postgres://postgres@{}:{}/postgres?connect_timeout=2",
            self.harness_host, self.port
        );
        let probe = async {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await.ok()?;
            tokio::spawn(connection);
            let row = client
                .query_one("SELECT current_setting('synchronous_standby_names')", &[])
                .await
                .ok()?;
            Some(row.get::<_, String>(0))
        };
        match tokio::time::timeout(Duration::from_secs(3), probe).await {
            Ok(Some(names)) => names,
            _ => "?".to_owned(),
        }
    }

    /// A handle for the harness (drill::verify, prepare_ballot).
    pub fn cluster(&self) -> PgCluster {
        PgCluster::attach(&self.harness_host, self.port, self.pgdata.clone())
    }

    /// The node's role seen from inside its own network namespace (psql over TCP there):
    /// "primary", "standby" or "not accepting connections".
    fn state_inside_namespace(&self, netns: &Netns) -> String {
        let output = self
            .as_postgres_within(Some(5), &format!("{PG_BIN}/psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-w",
                "-h",
                &netns.ns_addr,
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args([
                "-c",
                "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END",
            ])
            .env("PGCONNECT_TIMEOUT", "2")
            .stdin(Stdio::null())
            .output()
            .expect("psql in the namespace");
        if output.status.success() {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        } else {
            "not accepting connections".to_owned()
        }
    }
}

pub struct Formation {
    pub monitor: Instance,
    pub nodes: Vec<Instance>,
    pub netns: Option<Netns>,
    monitor_uri: String,
    root: PathBuf,
}

impl Formation {
    async fn start(layout: Layout) -> Self {
        assert!(
            Path::new(PG_AUTOCTL).exists(),
            "{PG_AUTOCTL} not found (install postgresql-15-auto-failover and pg-auto-failover-cli; ./scripts/test does)"
        );
        let uid = run_output(Command::new("id").arg("-u"), "id -u");
        assert_eq!(
            uid.trim(),
            "0",
            "the pg_auto_failover drills need root (network namespaces, pg_autoctl as postgres, {SOCKET_DIR})"
        );
        let settings = DeploySettings::read();
        let root = tempfile::Builder::new()
            .prefix("securevote-autofailover-")
            .tempdir()
            .expect("temp dir")
            .keep();
        for dir in ["run", "pgid"] {
            std::fs::create_dir_all(root.join(dir)).expect("formation dirs");
        }
        let netns = (layout == Layout::PrimaryInNamespace).then(Netns::create);
        let (monitor, nodes) = match &netns {
            None => {
                let host = "127.0.0.1";
                (
                    Instance::new("monitor", &root, host, host, host, None),
                    DATA_NODES
                        .iter()
                        .map(|name| Instance::new(name, &root, host, host, host, None))
                        .collect(),
                )
            }
            Some(ns) => {
                let host_side = format!("{},127.0.0.1", ns.host_addr);
                (
                    Instance::new(
                        "monitor",
                        &root,
                        &ns.host_addr,
                        &host_side,
                        "127.0.0.1",
                        None,
                    ),
                    std::iter::once(Instance::new(
                        "node1",
                        &root,
                        &ns.ns_addr,
                        &ns.ns_addr,
                        &ns.ns_addr,
                        Some(ns),
                    ))
                    .chain(DATA_NODES[1..].iter().map(|name| {
                        Instance::new(name, &root, &ns.host_addr, &host_side, "127.0.0.1", None)
                    }))
                    .collect(),
                )
            }
        };
        let monitor_uri = format!(
            "postgres://autoctl_node@{}:{}/pg_auto_failover?sslmode=require",
            monitor.host, monitor.port
        );
        let mut formation = Self {
            monitor,
            nodes,
            netns,
            monitor_uri,
            root,
        };
        // Only after `formation` exists: a panic from here on stops what has been started.
        formation.watch();
        // The pg_auto_failover roles' passwords, for every host (deploy/local-cluster's pgpass).
        write_as_postgres(
            &formation.root.join("pgpass"),
            &format!(
                "*:*:*:pgautofailover_replicator:{REPLICATION_PASSWORD}\n*:*:pg_auto_failover:autoctl_node:{AUTOCTL_NODE_PASSWORD}\n"
            ),
        );
        chown_to_postgres(&formation.root);
        let started = Instant::now();
        formation.create_monitor(&settings).await;
        formation.create_node(0, &settings);
        // node1 must be the single primary before node2 joins (node2 is made with pg_basebackup).
        formation
            .wait_for_states(&[("node1", "single")], Duration::from_secs(60))
            .await;
        let node1 = formation.nodes[0].cluster();
        // pg_autoctl creates the replication role without a password.
        node1
            .connect("postgres")
            .await
            .batch_execute(&format!(
                "ALTER ROLE pgautofailover_replicator PASSWORD '{REPLICATION_PASSWORD}'"
            ))
            .await
            .expect("replication password");
        // One standby at a time: each is made with pg_basebackup from node1.
        for index in 1..DATA_NODES.len() {
            formation.create_node(index, &settings);
            let mut wanted = vec![("node1", "primary")];
            wanted.extend(
                DATA_NODES[1..=index]
                    .iter()
                    .map(|name| (*name, "secondary")),
            );
            formation
                .wait_for_states(&wanted, Duration::from_secs(90))
                .await;
        }
        // A vote is acknowledged once it is on two nodes, with any one node lost.
        formation.nodes[0].autoctl(
            &[
                "set",
                "formation",
                "number-sync-standbys",
                NUMBER_SYNC_STANDBYS,
                "--pgdata",
                formation.nodes[0].pgdata.to_str().unwrap(),
            ],
            "pg_autoctl set formation number-sync-standbys",
        );
        formation.wait_for_all_states(Duration::from_secs(60)).await;
        for node in &formation.nodes {
            node.cluster()
                .connect("postgres")
                .await
                .batch_execute("SELECT pg_reload_conf()")
                .await
                .expect("reload");
        }
        announce!(
            "fault drill pg_auto_failover formation ({}) up in {:.1}s: {}; settings from deploy/postgres: {}",
            if layout == Layout::Loopback {
                "loopback"
            } else {
                "node1 in its own network namespace"
            },
            started.elapsed().as_secs_f64(),
            formation.states_line().await,
            settings.describe()
        );
        formation
    }

    fn harness_networks(&self) -> Vec<&str> {
        let mut networks = vec!["127.0.0.1/32"];
        if let Some(ns) = &self.netns {
            networks.push(&ns.subnet);
        }
        networks
    }

    async fn create_monitor(&mut self, settings: &DeploySettings) {
        let networks: Vec<String> = self
            .harness_networks()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let monitor = &mut self.monitor;
        let (pgdata, port) = (
            monitor.pgdata.to_str().unwrap().to_owned(),
            monitor.port.to_string(),
        );
        let pgctl = format!("{PG_BIN}/pg_ctl");
        monitor.autoctl(
            &[
                "create",
                "monitor",
                "--pgdata",
                &pgdata,
                "--pgport",
                &port,
                "--hostname",
                &monitor.host,
                "--auth",
                "scram-sha-256",
                "--ssl-self-signed",
                "--pgctl",
                &pgctl,
            ],
            "pg_autoctl create monitor",
        );
        monitor.config_set("postgresql.listen_addresses", &monitor.listen.clone());
        monitor.write_local_conf(settings);
        monitor.harden_hba(
            settings,
            &networks.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        monitor.start_keeper();
        let sql = self.monitor_sql().await;
        sql.batch_execute(&format!(
            "ALTER USER autoctl_node PASSWORD '{AUTOCTL_NODE_PASSWORD}'"
        ))
        .await
        .expect("autoctl_node password");
        for (key, value) in &settings.monitor {
            sql.batch_execute(&format!("ALTER SYSTEM SET {key} = {value}"))
                .await
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        sql.batch_execute("SELECT pg_reload_conf()")
            .await
            .expect("reload the monitor");
    }

    fn create_node(&mut self, index: usize, settings: &DeploySettings) {
        let networks: Vec<String> = self
            .harness_networks()
            .into_iter()
            .map(str::to_owned)
            .collect();
        // deploy/postgres/pg_auto_failover.conf, [monitor-connection]: a call to the monitor
        // fails within seconds of a network cut instead of hanging.
        let keeper_monitor_uri =
            settings::with_query(&self.monitor_uri, &settings.monitor_connection);
        let node = &mut self.nodes[index];
        let (pgdata, port) = (
            node.pgdata.to_str().unwrap().to_owned(),
            node.port.to_string(),
        );
        let pgctl = format!("{PG_BIN}/pg_ctl");
        let (listen, host, name) = (node.listen.clone(), node.host.clone(), node.name);
        node.autoctl(
            &[
                "create",
                "postgres",
                "--pgdata",
                &pgdata,
                "--pgport",
                &port,
                "--listen",
                &listen,
                "--hostname",
                &host,
                "--name",
                name,
                "--auth",
                "scram-sha-256",
                "--ssl-self-signed",
                "--monitor",
                &keeper_monitor_uri,
                "--dbname",
                DATABASE,
                "--pgctl",
                &pgctl,
            ],
            "pg_autoctl create postgres",
        );
        node.config_set("replication.password", REPLICATION_PASSWORD);
        for (key, value) in &settings.keeper {
            node.config_set(key, value);
        }
        node.write_local_conf(settings);
        node.harden_hba(
            settings,
            &networks.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        node.start_keeper();
    }

    async fn monitor_sql(&self) -> tokio_postgres::Client {
        PgCluster::attach(
            &self.monitor.harness_host,
            self.monitor.port,
            self.monitor.pgdata.clone(),
        )
        .connect("pg_auto_failover")
        .await
    }

    /// `name reported/goal` per node, as the monitor sees them.
    async fn states(&self) -> Vec<(String, String, String)> {
        let sql = self.monitor_sql().await;
        let rows = sql
            .query(
                "SELECT nodename, reportedstate::text, goalstate::text
                 FROM pgautofailover.node ORDER BY nodeid",
                &[],
            )
            .await
            .expect("pgautofailover.node");
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    async fn states_line(&self) -> String {
        self.states()
            .await
            .iter()
            .map(|(n, r, g)| format!("{n} {r}/{g}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Waits until each named node has reported (and been assigned) the given state; returns
    /// when that was seen.
    async fn wait_for_states(&self, wanted: &[(&str, &str)], limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let states = self.states().await;
            let reached = wanted.iter().all(|(name, state)| {
                states
                    .iter()
                    .any(|(n, r, g)| n == name && r == state && g == state)
            });
            let up = self
                .nodes
                .iter()
                .filter(|n| wanted.iter().any(|(name, _)| *name == n.name));
            let mut answering = true;
            for node in up {
                answering &= node_role(&node.harness_host, node.port).await != "down";
            }
            if reached && answering {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "pg_auto_failover did not reach {wanted:?} within {limit:?} (now: {states:?}); logs in {}",
                self.root.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until one node is the primary and every other one a secondary, each reported
    /// (and assigned) so by the monitor.
    async fn wait_for_all_states(&self, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let states = self.states().await;
            let settled = |state: &str| {
                states
                    .iter()
                    .filter(|(_, r, g)| r == state && g == state)
                    .count()
            };
            if settled("primary") == 1 && settled("secondary") == self.nodes.len() - 1 {
                let primary = states.iter().find(|(_, r, _)| r == "primary").unwrap();
                if let Some(node) = self.nodes.iter().find(|n| n.name == primary.0)
                    && node_role(&node.harness_host, node.port).await == "primary"
                {
                    return Instant::now();
                }
            }
            assert!(
                Instant::now() < deadline,
                "pg_auto_failover did not settle (one primary, the others secondary) within {limit:?} (now: {states:?}); logs in {}",
                self.root.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls, after the fault of `nodes[failed]`, until another node takes writes and the
    /// monitor shows it as the primary with a synchronous standby again (and, with a partition,
    /// until the isolated node1 no longer accepts writes, seen from its namespace), recording
    /// when each happened and which node it is.
    async fn watch_failover(
        &self,
        timeline: &mut Timeline,
        failed: usize,
        isolated: Option<&Netns>,
        limit: Duration,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            for (index, node) in self.nodes.iter().enumerate() {
                if index == failed || timeline.new_primary.is_some_and(|p| p != index) {
                    continue;
                }
                let role = node_role(&node.harness_host, node.port).await;
                if role != "standby" && role != "down" && timeline.promoted.is_none() {
                    timeline.promoted = Some(Instant::now());
                    timeline.new_primary = Some(index);
                }
                if role == "primary" && timeline.writable.is_none() {
                    timeline.writable = Some(Instant::now());
                    timeline.new_primary = Some(index);
                    timeline.sync_names_when_writable =
                        Some(node.synchronous_standby_names().await);
                }
            }
            let states = self.states().await;
            for (name, reported, _) in &states {
                let Some(index) = self.nodes.iter().position(|n| n.name == name) else {
                    continue;
                };
                if index == failed {
                    continue;
                }
                if timeline.monitor_primary.is_none()
                    && (reported == "wait_primary" || reported == "primary")
                {
                    timeline.monitor_primary = Some((Instant::now(), reported.clone()));
                }
                if timeline.monitor_primary_synchronous.is_none() && reported == "primary" {
                    timeline.monitor_primary_synchronous = Some(Instant::now());
                }
            }
            if let Some(netns) = isolated
                && timeline.isolated_demoted.is_none()
            {
                let node1 = &self.nodes[0];
                let state = tokio::task::block_in_place(|| node1.state_inside_namespace(netns));
                if state != "primary" {
                    timeline.isolated_demoted = Some((Instant::now(), state));
                }
            }
            let done = timeline.writable.is_some()
                && timeline.monitor_primary_synchronous.is_some()
                && (isolated.is_none() || timeline.isolated_demoted.is_some());
            if done || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The monitor's events since `since` (seconds since the Unix epoch), each as
    /// `+S.SSs node reported/goal: description`, relative to `since`.
    async fn events_since(&self, since: f64) -> Vec<String> {
        let sql = self.monitor_sql().await;
        let rows = sql
            .query(
                "SELECT extract(epoch FROM eventtime)::float8 - $1, nodename,
                        reportedstate::text, goalstate::text, description
                 FROM pgautofailover.event
                 WHERE extract(epoch FROM eventtime)::float8 >= $1 ORDER BY eventid",
                &[&since],
            )
            .await
            .expect("pgautofailover.event");
        rows.iter()
            .map(|r| {
                let description: String = r.get(4);
                format!(
                    "+{:.2}s {} {}/{}: {}",
                    r.get::<_, f64>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, String>(3),
                    description.chars().take(110).collect::<String>()
                )
            })
            .collect()
    }

    /// Names of the nodes that answer and are not in recovery, seen from the host.
    async fn writable_nodes(&self) -> Vec<&'static str> {
        let mut writable = Vec::new();
        for node in &self.nodes {
            if matches!(
                node_role(&node.harness_host, node.port).await,
                "primary" | "read-only primary"
            ) {
                writable.push(node.name);
            }
        }
        writable
    }

    /// Stops everything when the test process is gone, however it went (a panic is handled by
    /// Drop; this covers a kill of the test binary): the backends and NGINX first (with the
    /// namespace gone, the host would route the backends' attempts to reach node1 to its default
    /// gateway), the keepers' process groups, the postmasters and their children (in sessions of
    /// their own, so listed before anything dies), their sockets, the namespace, the files.
    // The watchdog must outlive this process, so it is deliberately never waited for.
    #[allow(clippy::zombie_processes)]
    fn watch(&self) {
        let root = self.root.display();
        let kill = tool("kill");
        let kill = kill.display();
        let instances: Vec<&Instance> = std::iter::once(&self.monitor).chain(&self.nodes).collect();
        let mut script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             [ -f {root}/backend-pids ] && {kill} -9 $(cat {root}/backend-pids) 2>/dev/null; \
             [ -f {root}/nginx-pid ] && {kill} -TERM $(cat {root}/nginx-pid) 2>/dev/null; \
             pids=''; ",
            pid = std::process::id(),
        );
        for instance in &instances {
            script.push_str(&format!(
                "f={}/postmaster.pid; [ -f $f ] && pm=$(head -n1 $f) && pids=\"$pids $pm $(ps -o pid= --ppid $pm)\"; ",
                instance.pgdata.display()
            ));
        }
        script.push_str(&format!(
            "for f in {root}/pgid/*; do [ -f \"$f\" ] && {kill} -9 -- -\"$(cat \"$f\")\" 2>/dev/null; done; \
             [ -n \"$pids\" ] && {kill} -9 $pids 2>/dev/null; "
        ));
        for instance in &instances {
            let socket = format!("{SOCKET_DIR}/.s.PGSQL.{}", instance.port);
            script.push_str(&format!(
                "f={}/postmaster.pid; [ -f $f ] && [ \"$(head -n1 {socket}.lock 2>/dev/null)\" = \"$(head -n1 $f)\" ] && rm -f {socket} {socket}.lock; ",
                instance.pgdata.display()
            ));
        }
        if let Some(netns) = &self.netns {
            script.push_str(&format!("ip netns del {} 2>/dev/null; ", netns.name));
        }
        script.push_str(&format!("[ -e {root}/keep ] || rm -rf {root}"));
        Command::new("sh")
            .args(["-c", &script])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the formation watchdog");
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        for instance in std::iter::once(&self.monitor).chain(&self.nodes) {
            instance.terminate_keeper();
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for instance in std::iter::once(&mut self.monitor).chain(&mut self.nodes) {
            instance.reap(deadline);
        }
        if std::thread::panicking() || std::env::var_os("DRILL_KEEP_TMP").is_some() {
            let _ = std::fs::write(self.root.join("keep"), "");
            eprintln!(
                "pg_auto_failover formation files kept in {}",
                self.root.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
        // `netns` is dropped after this: the namespace goes once nothing runs in it.
    }
}

/// The formation, two backends on its host list and NGINX. Fields drop in order: the backends
/// stop before the formation (and its namespace) goes.
pub struct AutoTopology {
    /// Held for their Drop (the processes stop), as is `work` (their files).
    #[allow(dead_code)]
    backends: Vec<Backend>,
    pub nginx: Nginx,
    pub voters: Vec<drill::Voter>,
    pub candidates: Vec<Uuid>,
    pub formation: Formation,
    #[allow(dead_code)]
    work: TempDir,
}

impl AutoTopology {
    async fn start(layout: Layout, voters: usize) -> Self {
        Self::start_with(layout, voters, &[]).await
    }

    /// As `start`, with `env` set on both backends.
    async fn start_with(layout: Layout, voters: usize, env: &[(&str, &str)]) -> Self {
        let work = tempfile::Builder::new()
            .prefix("securevote-fault-")
            .tempdir()
            .expect("work dir");
        let formation = Formation::start(layout).await;
        let uri = run_output(
            formation.monitor.as_postgres(PG_AUTOCTL).args([
                "show",
                "uri",
                "--formation",
                "default",
                "--monitor",
                &formation.monitor_uri,
            ]),
            "pg_autoctl show uri --formation default",
        );
        // The backends get the formation's URI as it is (TLS: sslmode=require, the nodes'
        // self-signed certificates), with the harness's password-less postgres role as the user.
        let uri = uri.trim();
        assert!(
            uri.starts_with("postgres://") && uri.contains("target_session_attrs=read-write"),
            "formation URI: {uri}"
        );
        assert!(uri.contains("sslmode=require"), "formation URI: {uri}");
        let database_url = uri.replacen("postgres://", "postgres://postgres@", 1);
        announce!(
            "fault drill pg_auto_failover formation URI: {uri} -> backends' DATABASE_URL {database_url}"
        );
        let (voters, candidates) =
            drill::prepare_ballot(&formation.nodes[0].cluster(), voters).await;
        let mut backends: Vec<Backend> = (0..2)
            .map(|i| Backend::new(database_url.clone(), work.path(), i))
            .collect();
        for backend in &mut backends {
            // No ballot is acknowledged while the primary has no synchronous standby (a newly
            // promoted node in wait_primary): deploy/local-cluster's backends set the same.
            backend.set_env("DB_REQUIRE_SYNC_STANDBY", "true");
            for (key, value) in env {
                backend.set_env(key, value);
            }
            backend.start();
        }
        // For the watchdog: a backend outliving the namespace would send node1's traffic away.
        let pids: Vec<String> = backends
            .iter()
            .filter_map(Backend::pid)
            .map(|p| p.to_string())
            .collect();
        std::fs::write(formation.root.join("backend-pids"), pids.join(" ")).expect("record pids");
        let client = reqwest::Client::new();
        for backend in &backends {
            wait_for_health(&client, &backend.url(), Duration::from_secs(30)).await;
        }
        // Every connection of the backends to the primary is TLS.
        let (total, tls): (i64, i64) = {
            let row = formation.nodes[0]
                .cluster()
                .connect("postgres")
                .await
                .query_one(
                    "SELECT count(*), count(*) FILTER (WHERE s.ssl)
                     FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                     WHERE a.application_name = 'securevote'",
                    &[],
                )
                .await
                .expect("pg_stat_ssl");
            (row.get(0), row.get(1))
        };
        announce!("fault drill backends' connections to the primary: {total}, with TLS: {tls}");
        assert!(
            total > 0 && tls == total,
            "backends' connections: {total}, TLS: {tls}"
        );
        let nginx = start_nginx(&backends, work.path());
        if let Some(pid) = nginx.pid() {
            std::fs::write(formation.root.join("nginx-pid"), pid.to_string()).expect("record pid");
        }
        wait_for_health(&client, &nginx.url(), Duration::from_secs(30)).await;
        Self {
            backends,
            nginx,
            voters,
            candidates,
            formation,
            work,
        }
    }
}
