//! Fault drills on the production topology (PostgreSQL primary + synchronous standby, two
//! backends, NGINX), all on loopback. Each drives reads and votes through NGINX while a fault
//! happens, then checks that every acknowledged vote is stored, nothing unattempted is stored,
//! nobody has two votes and exactly one PostgreSQL node accepts writes; each prints one summary
//! line. Drills run one at a time (they are heavy for a 2-core machine). The drills that need
//! pg_auto_failover (automatic failover, network partition) are in `auto_failover`.

/// Prints a drill's figures so that they show in CI logs for passing drills too: libtest
/// captures the print macros, not direct writes to stderr.
macro_rules! announce {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

#[path = "../support/nginx.rs"]
mod nginx;
#[path = "../support/postgres.rs"]
mod postgres;
#[path = "../support/smtp.rs"]
mod smtp;

mod auto_failover;
mod drill;
mod topology;

use std::process::Command;
use std::time::{Duration, Instant};

use drill::{DrillConfig, assert_no_failed_reads, assert_nothing_lost, summary, verify};
use topology::{Topology, wait_for_health};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn load(seconds: u64) -> DrillConfig {
    DrillConfig {
        duration: Duration::from_secs(seconds),
        vote_workers: 8,
        read_workers: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backend_killed_under_load_loses_nothing_and_rejoins() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut cluster = Topology::start(60_000).await;
    let client = reqwest::Client::new();
    let base = cluster.nginx.url();
    let (voters, candidates) = (cluster.voters.clone(), cluster.candidates.clone());

    let report = {
        let backends = &mut cluster.backends;
        drill::run(&base, &voters, &candidates, load(12), async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            backends[0].kill9();
            tokio::time::sleep(Duration::from_secs(4)).await;
            // The process supervisor (systemd's Restart=on-failure) brings it back.
            backends[0].start();
            wait_for_health(&client, &backends[0].url(), Duration::from_secs(20)).await;
        })
        .await
    };

    let writable = cluster.writable_nodes().await;
    let verification = verify(&report, writable[0]).await;
    announce!("{}", summary("backend-kill", &report, &verification));
    assert_nothing_lost(&report, &verification, writable.len());
    assert_no_failed_reads(&report);
    let served = cluster.backends[0].requests_served(&client).await;
    assert!(
        served > 0,
        "the restarted backend rejoined NGINX's rotation (it served {served} requests)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn primary_killed_and_standby_promoted_by_hand_loses_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let cluster = Topology::start(60_000).await;
    let base = cluster.nginx.url();
    let mut promoted_at = None;

    let report = drill::run(
        &base,
        &cluster.voters,
        &cluster.candidates,
        load(14),
        async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.primary.kill9();
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.standby.promote();
            promoted_at = Some(Instant::now());
        },
    )
    .await;

    let writable = cluster.writable_nodes().await;
    assert_eq!(writable.len(), 1);
    let verification = verify(&report, writable[0]).await;
    announce!(
        "{}",
        summary("primary-kill-manual-promote", &report, &verification)
    );
    let promoted_at = promoted_at.expect("promotion happened");
    let resumed = report
        .first_ack_after(promoted_at)
        .expect("votes resumed after the promotion");
    let resumed_after = resumed.duration_since(promoted_at);
    announce!(
        "fault drill primary-kill-manual-promote: votes resumed {:.2}s after the promotion",
        resumed_after.as_secs_f64()
    );
    assert_nothing_lost(&report, &verification, writable.len());
    assert_no_failed_reads(&report);
    assert!(
        resumed_after <= Duration::from_secs(2),
        "votes resumed {resumed_after:?} after the promotion"
    );
    for backend in &cluster.backends {
        assert!(
            backend
                .log_text()
                .contains("cannot connect to a writable PostgreSQL host"),
            "reconnection attempts are logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standby_lost_and_back_holds_votes_until_it_returns() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let cluster = Topology::start(60_000).await;
    let base = cluster.nginx.url();
    let mut outage = None;

    let report = drill::run(
        &base,
        &cluster.voters,
        &cluster.candidates,
        load(14),
        async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.standby.stop_immediately();
            let stopped = Instant::now();
            tokio::time::sleep(Duration::from_secs(4)).await;
            cluster.standby.start_server();
            outage = Some((stopped, Instant::now()));
        },
    )
    .await;

    let writable = cluster.writable_nodes().await;
    let verification = verify(&report, writable[0]).await;
    announce!(
        "{}",
        summary("standby-lost-and-back", &report, &verification)
    );
    assert_nothing_lost(&report, &verification, writable.len());
    // Policy: with its only synchronous standby gone, the primary acknowledges no vote; votes wait
    // and complete once the standby is back. Allow for votes whose commit was already on the
    // standby when it stopped (answered just after the stop).
    let (stopped, restarted) = outage.expect("outage happened");
    let acknowledged_during_outage = report
        .ack_times()
        .into_iter()
        .filter(|t| *t > stopped + Duration::from_millis(500) && *t < restarted)
        .count();
    announce!(
        "fault drill standby-lost-and-back: votes acknowledged while the standby was down: {acknowledged_during_outage}"
    );
    assert_eq!(
        acknowledged_during_outage, 0,
        "votes were acknowledged without the synchronous standby"
    );
    assert!(
        report.first_ack_after(restarted).is_some(),
        "votes resumed once the standby was back"
    );
}

/// The original design's own drill: `ab -n 1000 -c 10` on /api/options through NGINX, with both
/// backends up and then with one down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apache_bench_through_nginx_has_no_failed_requests_even_with_a_backend_down() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut cluster = Topology::start(10).await;
    let ab = topology::which("ab")
        .unwrap_or_else(|| panic!("ab not found (install apache2-utils; ./scripts/test does)"));
    let url = format!("{}/api/options", cluster.nginx.url());

    for phase in ["both backends up", "one backend down"] {
        if phase == "one backend down" {
            cluster.backends[1].kill9();
        }
        let output = Command::new(&ab)
            .args(["-n", "1000", "-c", "10", "-q", &url])
            .output()
            .expect("run ab");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "ab failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let field = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(name.split_whitespace().count()))
                .unwrap_or("?")
                .to_owned()
        };
        let (complete, failed, rps) = (
            field("Complete requests:"),
            field("Failed requests:"),
            field("Requests per second:"),
        );
        let non_2xx = text
            .lines()
            .find(|l| l.starts_with("Non-2xx responses:"))
            .map(str::to_owned);
        announce!(
            "fault drill ab ({phase}): complete={complete} failed={failed} non_2xx={} requests_per_second={rps}",
            non_2xx.as_deref().unwrap_or("0")
        );
        assert_eq!(complete, "1000", "{text}");
        assert_eq!(failed, "0", "{text}");
        assert!(non_2xx.is_none(), "{text}");
    }
}
