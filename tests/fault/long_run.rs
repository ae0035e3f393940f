//! A long fault run: faults chosen by a seeded random schedule, one at a time, on the
//! pg_auto_failover formation (node1 in a network namespace of its own) with two backends and
//! NGINX, under a mixed load through NGINX for the whole run:
//!
//! * vote workers: distinct voters, each vote with an Idempotency-Key and retried with the same
//!   key (`drill::vote_with_retries`); now and then a voter whose vote was acknowledged tries a
//!   second ballot with a new key, which must be refused;
//! * read workers (GET /api/options, which must always answer) and a results reader
//!   (GET /api/results, a 503 while no database answers is the documented policy);
//! * a login worker (POST /api/auth/login with the run's login accounts and their password);
//! * an admin worker: creates a draft election, renames it, deletes it.
//!
//! The faults: kill -9 of one backend (restarted after a moment, as systemd would); kill -9 of
//! the primary node (its keeper's process group and PostgreSQL; its keeper restarted once another
//! node is primary, so it rejoins); SIGSTOP of the primary's keeper, postmaster and postmaster
//! children for 1 to 3 s (see [`SIGSTOP_MAX`]), then SIGCONT; the primary's network cut (the namespace's end of
//! its link down; when the primary is not the namespaced node, a planned switchover to it
//! first), restored once another node is primary; kill -9 of a standby, restarted after a few
//! seconds. The kinds come in rounds: each round is every kind once, in a random order.
//!
//! After each fault the run waits for full recovery (the monitor shows one primary and every
//! other node secondary, every node answers, both backends and NGINX are healthy), then pauses
//! the votes and checks on the current primary: acknowledged ⊆ stored ⊆ attempted
//! (`drill::verify`), no voter with two ballots (SQL on `participation` and `ballot_box`),
//! exactly one writable node, the results through NGINX and from each backend equal the stored
//! ballots per candidate, and every standby holds what the primary holds once it has replayed.
//!
//! `FAULT_MINUTES` (default 2.5: with the formation's start and the last recovery, the run takes
//! 3 to 4 minutes) is how long new faults are started; `FAULT_SEED` fixes the schedule (the
//! seed is printed; the faults' timing, and so the load's figures, still vary from run to run). Every wait is bounded; the run prints each fault, the time
//! from it to the first vote acknowledged after it, the time to full recovery, and totals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{EncodingKey, Header, encode};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    AutoTopology, Formation, IN_FLIGHT_GRACE, Instance, Layout, Netns, PG_AUTOCTL, alive,
    children_of, node_role, postmaster_pid, run_output, signal, tool, wait_for_replay,
};
use crate::drill::{self, Attempt, Outcome, Report, Voter, verify};
use crate::topology::{DATABASE, JWT_SECRET};

/// Minutes during which new faults are started, unless `FAULT_MINUTES` says otherwise.
const DEFAULT_MINUTES: f64 = 2.5;
/// The longest SIGSTOP of the primary, unless `FAULT_SIGSTOP_MAX_SECONDS` says otherwise (the
/// shortest is 1 s). Up to 3 s the monitor does not start a failover. A longer stop can end
/// while a failover is under way, and then pg_auto_failover 2.0 may never elect a primary: the
/// old primary, back from draining to report_lsn, is assigned fast_forward and tries to fetch
/// WAL from itself, over and over (seen once in a run with stops of 1 to 6 s and the timeouts
/// of deploy/postgres/pg_auto_failover.conf); FAULT_SIGSTOP_MAX_SECONDS=6 looks for it.
const SIGSTOP_MAX: Duration = Duration::from_secs(3);
/// Faults started per minute at most (a fault and its recovery take well over 6 s).
const MAX_FAULTS_PER_MINUTE: f64 = 10.0;
const VOTE_WORKERS: usize = 4;
/// Each vote worker waits this long between votes: at most VOTE_WORKERS × 1 s / VOTE_PACE votes
/// a second, which sizes the voters needed.
const VOTE_PACE: Duration = Duration::from_millis(25);
/// Every this many votes, a vote worker has one of its acknowledged voters try a second ballot.
const SECOND_BALLOT_EVERY: u64 = 25;
const READ_WORKERS: usize = 2;
const READ_PACE: Duration = Duration::from_millis(50);
const RESULTS_PACE: Duration = Duration::from_millis(250);
/// One login worker: at most 150 logins a minute, under the default LOGIN_LIMIT_PER_IP (300).
const LOGIN_PACE: Duration = Duration::from_millis(400);
const LOGIN_ACCOUNTS: usize = 8;
const LOGIN_PASSWORD: &str = "long-run correct horse battery";
const ADMIN_PACE: Duration = Duration::from_millis(700);
/// From a fault to full recovery, at most.
const RECOVERY_LIMIT: Duration = Duration::from_secs(120);
/// How long the recovered state must hold before recovery counts: more than the monitor takes
/// to judge a node unhealthy (deploy/postgres/pg_auto_failover.conf:
/// node_considered_unhealthy_timeout, after a failed health check).
const SETTLED_FOR: Duration = Duration::from_secs(4);
/// From a kill or cut of the primary to another node being primary, at most.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);
/// From full recovery to a vote acknowledged after the fault, at most.
const RESUME_LIMIT: Duration = Duration::from_secs(30);
/// In-flight votes finish within their retry budget (40 s) plus one request's timeout (35 s).
const PAUSE_LIMIT: Duration = Duration::from_secs(90);
/// The backends' cached results are at most this old (src/http/read_cache.rs `MAX_AGE`), plus
/// room.
const RESULTS_FRESH_AFTER: Duration = Duration::from_millis(1300);

// ------------------------------------------------------------------------------------------
// The faults
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Fault {
    BackendKill,
    PrimaryKill,
    PrimaryStop,
    PrimaryCut,
    StandbyKill,
}

const ALL_FAULTS: [Fault; 5] = [
    Fault::BackendKill,
    Fault::PrimaryKill,
    Fault::PrimaryStop,
    Fault::PrimaryCut,
    Fault::StandbyKill,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::BackendKill => "backend-kill",
            Fault::PrimaryKill => "primary-kill",
            Fault::PrimaryStop => "primary-sigstop",
            Fault::PrimaryCut => "primary-network-cut",
            Fault::StandbyKill => "standby-kill",
        }
    }
}

/// The processes a SIGSTOP froze; SIGCONT on drop, so that a failing run leaves nothing frozen.
struct Frozen(Vec<String>);

impl Frozen {
    fn thaw(&mut self) {
        signal("-CONT", &self.0);
        self.0.clear();
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.thaw();
    }
}

impl Instance {
    /// SIGSTOP of the keeper's process group, the postmaster and the postmaster's children: the
    /// node stops answering without closing a connection (as a frozen machine).
    fn freeze(&self) -> Frozen {
        let pgid = self.keeper.as_ref().expect("the keeper runs").id();
        let mut targets = vec![format!("-{pgid}")];
        if let Some(pid) = postmaster_pid(&self.pgdata).filter(|pid| alive(*pid)) {
            targets.push(pid.to_string());
            targets.extend(children_of(pid).into_iter().map(|c| c.to_string()));
        }
        signal("-STOP", &targets);
        Frozen(targets)
    }

    /// `pg_autoctl perform promotion` of this node (a planned switchover), waited for.
    fn promote_by_switchover(&self) {
        let pgdata = self.pgdata.to_str().unwrap().to_owned();
        run_output(
            self.as_postgres(PG_AUTOCTL).args([
                "perform",
                "promotion",
                "--pgdata",
                &pgdata,
                "--name",
                self.name,
                "--wait",
                "60",
            ]),
            &format!("pg_autoctl perform promotion --name {}", self.name),
        );
    }
}

impl Netns {
    /// Brings the namespace's end of the link back up (undoes `cut`).
    fn restore(&self) {
        run_output(
            std::process::Command::new(tool("ip")).args([
                "-n",
                &self.name,
                "link",
                "set",
                &self.ns_if,
                "up",
            ]),
            "bring the namespace's link up",
        );
    }
}

impl Formation {
    fn node_index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// The node the monitor has as primary (reported and assigned), if exactly one.
    async fn monitor_primary(&self) -> Option<usize> {
        let states = self.states().await;
        let primaries: Vec<&String> = states
            .iter()
            .filter(|(_, r, g)| r == "primary" && g == "primary")
            .map(|(n, _, _)| n)
            .collect();
        match primaries[..] {
            [name] => Some(self.node_index(name)),
            _ => None,
        }
    }

    /// Waits until the monitor shows a node other than `old` as wait_primary or primary.
    async fn wait_for_other_primary(&self, old: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let states = self.states().await;
            if states
                .iter()
                .any(|(n, r, _)| n != old && (r == "wait_primary" || r == "primary"))
            {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "no node took over from {old} within {limit:?} (monitor: {states:?}); logs in {}",
                self.root.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

// ------------------------------------------------------------------------------------------
// The load
// ------------------------------------------------------------------------------------------

/// Outcomes of one kind of request: the expected status, the database (or a backend) being
/// unavailable (a network error, 502, 503, 504), anything else.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    unavailable: AtomicU64,
    refused: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Counts {
    fn record(&self, answer: &Result<(StatusCode, String), String>, expected: StatusCode) -> bool {
        match answer {
            Ok((status, _)) if *status == expected => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok((status, _))
                if [
                    StatusCode::BAD_GATEWAY,
                    StatusCode::SERVICE_UNAVAILABLE,
                    StatusCode::GATEWAY_TIMEOUT,
                ]
                .contains(status) =>
            {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut samples = self.samples.lock().unwrap();
        if samples.len() < 5 {
            samples.push(match answer {
                Ok((status, body)) => format!("{status} {}", &body[..body.len().min(200)]),
                Err(e) => format!("network error: {e}"),
            });
        }
        false
    }

    fn line(&self) -> String {
        format!(
            "ok={} unavailable={} refused={}",
            self.ok.load(Ordering::Relaxed),
            self.unavailable.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        )
    }

    fn failed(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed) + self.refused.load(Ordering::Relaxed)
    }
}

async fn call(request: reqwest::RequestBuilder) -> Result<(StatusCode, String), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

struct Load {
    base: String,
    client: reqwest::Client,
    voters: Vec<Voter>,
    candidates: Vec<Uuid>,
    next_voter: AtomicUsize,
    attempts: Mutex<Vec<Attempt>>,
    second_ballots: Mutex<Vec<Attempt>>,
    stop: AtomicBool,
    votes_paused: AtomicBool,
    votes_in_flight: AtomicUsize,
    voters_ran_out: AtomicBool,
    /// From this instant on, the first acknowledgement (for the time to the first vote after a
    /// fault).
    ack_watch: Mutex<(Instant, Option<Instant>)>,
    reads: Counts,
    results_reads: Counts,
    logins: Counts,
    admin_ops: Counts,
    login_emails: Vec<String>,
    admin_token: String,
}

impl Load {
    fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for _ in 0..VOTE_WORKERS {
            tasks.push(tokio::spawn(Arc::clone(self).vote_worker()));
        }
        for _ in 0..READ_WORKERS {
            tasks.push(tokio::spawn(Arc::clone(self).read_worker(
                "/api/options",
                READ_PACE,
                |load| &load.reads,
            )));
        }
        tasks.push(tokio::spawn(Arc::clone(self).read_worker(
            "/api/results",
            RESULTS_PACE,
            |load| &load.results_reads,
        )));
        tasks.push(tokio::spawn(Arc::clone(self).login_worker()));
        tasks.push(tokio::spawn(Arc::clone(self).admin_worker()));
        tasks
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    async fn vote_worker(self: Arc<Self>) {
        let mut acknowledged: Vec<usize> = Vec::new();
        let mut votes = 0u64;
        while !self.stopped() {
            if self.votes_paused.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            self.votes_in_flight.fetch_add(1, Ordering::SeqCst);
            if self.votes_paused.load(Ordering::SeqCst) {
                self.votes_in_flight.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            votes += 1;
            if votes % SECOND_BALLOT_EVERY == 0 && !acknowledged.is_empty() {
                // A voter whose vote was acknowledged, a new key and another candidate.
                let index =
                    acknowledged[(votes / SECOND_BALLOT_EVERY) as usize % acknowledged.len()];
                let candidate = self.candidates[(index + 1) % self.candidates.len()];
                let attempt = drill::vote_with_retries(
                    &self.client,
                    &self.base,
                    &self.voters[index],
                    candidate,
                )
                .await;
                self.second_ballots.lock().unwrap().push(attempt);
            } else {
                let index = self.next_voter.fetch_add(1, Ordering::SeqCst);
                let Some(voter) = self.voters.get(index) else {
                    self.voters_ran_out.store(true, Ordering::SeqCst);
                    self.votes_in_flight.fetch_sub(1, Ordering::SeqCst);
                    break;
                };
                let candidate = self.candidates[index % self.candidates.len()];
                let attempt =
                    drill::vote_with_retries(&self.client, &self.base, voter, candidate).await;
                if let Some(at) = attempt.acknowledged_at {
                    acknowledged.push(index);
                    let mut watch = self.ack_watch.lock().unwrap();
                    if watch.1.is_none() && at >= watch.0 {
                        watch.1 = Some(at);
                    }
                }
                self.attempts.lock().unwrap().push(attempt);
            }
            self.votes_in_flight.fetch_sub(1, Ordering::SeqCst);
            tokio::time::sleep(VOTE_PACE).await;
        }
    }

    async fn read_worker(
        self: Arc<Self>,
        path: &'static str,
        pace: Duration,
        counts: fn(&Load) -> &Counts,
    ) {
        let url = format!("{}{path}", self.base);
        while !self.stopped() {
            let answer = call(self.client.get(&url)).await;
            counts(&self).record(&answer, StatusCode::OK);
            tokio::time::sleep(pace).await;
        }
    }

    async fn login_worker(self: Arc<Self>) {
        let url = format!("{}/api/auth/login", self.base);
        let mut turn = 0;
        while !self.stopped() {
            let email = &self.login_emails[turn % self.login_emails.len()];
            turn += 1;
            let answer = call(
                self.client
                    .post(&url)
                    .json(&json!({"email": email, "password": LOGIN_PASSWORD})),
            )
            .await;
            let token_given = matches!(&answer, Ok((StatusCode::OK, body))
                if serde_json::from_str::<Value>(body).is_ok_and(|v| v["token"].is_string()));
            if self.logins.record(&answer, StatusCode::OK) && !token_given {
                self.logins.ok.fetch_sub(1, Ordering::Relaxed);
                self.logins.refused.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(LOGIN_PACE).await;
        }
    }

    /// Draft elections: created, renamed, deleted (harmless to the ballot being voted on).
    async fn admin_worker(self: Arc<Self>) {
        let elections = format!("{}/api/elections", self.base);
        let mut n = 0u64;
        while !self.stopped() {
            n += 1;
            let created = call(
                self.client
                    .post(&elections)
                    .bearer_auth(&self.admin_token)
                    .json(&json!({
                        "slug": format!("long-run-draft-{n}"),
                        "title": format!("Long run draft {n}"),
                        "eligibility": "open",
                        "results": "after_close",
                        "closes_at": "2099-01-01T12:00:00Z",
                        "contests": [{"title": "Chair", "method": "plurality",
                            "choices": [{"name": "Ada"}, {"name": "Grace"}]}],
                    })),
            )
            .await;
            let id = match &created {
                Ok((StatusCode::CREATED, body)) => serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned)),
                _ => None,
            };
            self.admin_ops.record(&created, StatusCode::CREATED);
            if let Some(id) = id {
                let url = format!("{elections}/{id}");
                let renamed = call(
                    self.client
                        .patch(&url)
                        .bearer_auth(&self.admin_token)
                        .json(&json!({"title": format!("Long run draft {n}, renamed")})),
                )
                .await;
                self.admin_ops.record(&renamed, StatusCode::OK);
                let deleted = call(self.client.delete(&url).bearer_auth(&self.admin_token)).await;
                self.admin_ops.record(&deleted, StatusCode::NO_CONTENT);
            }
            tokio::time::sleep(ADMIN_PACE).await;
        }
    }

    /// Lets no new vote start and waits for those under way to end.
    async fn pause_votes(&self) {
        self.votes_paused.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + PAUSE_LIMIT;
        while self.votes_in_flight.load(Ordering::SeqCst) > 0 {
            assert!(
                Instant::now() < deadline,
                "votes still under way {PAUSE_LIMIT:?} after the pause"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn resume_votes(&self) {
        self.votes_paused.store(false, Ordering::SeqCst);
    }

    /// Starts watching for the first acknowledgement at or after `from`.
    fn watch_acks_from(&self, from: Instant) {
        *self.ack_watch.lock().unwrap() = (from, None);
    }

    fn first_ack(&self) -> Option<Instant> {
        self.ack_watch.lock().unwrap().1
    }

    fn report(&self) -> Report {
        Report {
            attempts: self.attempts.lock().unwrap().clone(),
            ..Default::default()
        }
    }
}

/// A token like prepare_ballot's, valid for `ttl` (a long run outlasts its one hour).
fn token(id: Uuid, ttl: Duration) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": id, "iat": now, "exp": now + ttl.as_secs() as i64});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign a token")
}

// ------------------------------------------------------------------------------------------
// Recovery and the invariants
// ------------------------------------------------------------------------------------------

/// What was seen while waiting for recovery.
struct Recovery {
    /// Since when everything has been as wanted (for at least SETTLED_FOR).
    at: Instant,
    /// Since when the nodes have been primary or secondary, answering as such, with that
    /// primary.
    nodes_settled: Instant,
    /// How long two nodes were seen accepting writes at once (polled; informational: the
    /// synchronous standby keeps the stale one from committing, which the checks confirm).
    two_writable_for: Duration,
}

async fn healthy(client: &reqwest::Client, base: &str) -> bool {
    matches!(
        client.get(format!("{base}/health")).timeout(Duration::from_secs(3)).send().await,
        Ok(response) if response.status().is_success()
    )
}

/// Waits until the monitor shows one node primary and every other secondary (reported and
/// assigned), every node answers as such, and both backends and NGINX are healthy, and all of
/// that has held, with the same primary, for [`SETTLED_FOR`]: right after a SIGCONT the monitor
/// still shows the states from before the stop, and may start a failover a moment later.
/// Recovery is the start of that stretch.
async fn wait_for_recovery(cluster: &AutoTopology, client: &reqwest::Client) -> Recovery {
    let formation = &cluster.formation;
    let deadline = Instant::now() + RECOVERY_LIMIT;
    let mut two_writable_since: Option<Instant> = None;
    let mut two_writable_for = Duration::ZERO;
    // Since when the nodes, and everything, have been as wanted, and with which primary.
    let mut nodes_since: Option<(Instant, String)> = None;
    let mut all_since: Option<Instant> = None;
    loop {
        let polled = Instant::now();
        let states = formation.states().await;
        let writable = formation.writable_nodes().await;
        if writable.len() > 1 {
            two_writable_since.get_or_insert(polled);
        } else if let Some(since) = two_writable_since.take() {
            two_writable_for += polled.duration_since(since);
        }
        let primaries: Vec<&String> = states
            .iter()
            .filter(|(_, r, g)| r == "primary" && g == "primary")
            .map(|(n, _, _)| n)
            .collect();
        let secondaries = states
            .iter()
            .filter(|(_, r, g)| r == "secondary" && g == "secondary")
            .count();
        let mut nodes_ok = primaries.len() == 1 && secondaries + 1 == formation.nodes.len();
        if nodes_ok {
            for node in &formation.nodes {
                let role = node_role(&node.harness_host, node.port).await;
                nodes_ok &= role
                    == if *primaries[0] == node.name {
                        "primary"
                    } else {
                        "standby"
                    };
            }
        }
        if nodes_ok {
            let primary = primaries[0].clone();
            if nodes_since.as_ref().is_none_or(|(_, p)| *p != primary) {
                nodes_since = Some((polled, primary));
                all_since = None;
            }
            let mut services_ok = true;
            for backend in &cluster.backends {
                services_ok &= healthy(client, &backend.url()).await;
            }
            services_ok &= healthy(client, &cluster.nginx.url()).await;
            if services_ok {
                let since = *all_since.get_or_insert(polled);
                if polled.duration_since(since) >= SETTLED_FOR {
                    if let Some(since) = two_writable_since {
                        two_writable_for += polled.duration_since(since);
                    }
                    return Recovery {
                        at: since,
                        nodes_settled: nodes_since.map_or(since, |(at, _)| at),
                        two_writable_for,
                    };
                }
            } else {
                all_since = None;
            }
        } else {
            nodes_since = None;
            all_since = None;
        }
        assert!(
            Instant::now() < deadline,
            "no full recovery within {RECOVERY_LIMIT:?} (monitor: {states:?}, writable: {writable:?}); logs in {}",
            formation.root.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Votes per candidate (those with any) and the total of a results answer.
fn counted(results: &Value) -> (i64, HashMap<Uuid, i64>) {
    let per_candidate = results["results"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let votes = r["votes"].as_i64().filter(|n| *n > 0)?;
                    Some((Uuid::parse_str(r["candidate_id"].as_str()?).ok()?, votes))
                })
                .collect()
        })
        .unwrap_or_default();
    (results["total_votes"].as_i64().unwrap_or(-1), per_candidate)
}

/// Figures of one check.
struct Checked {
    primary: &'static str,
    attempted: usize,
    acknowledged: usize,
    stored: usize,
}

/// The invariants, with the votes paused; panics (naming `context`) on a violation.
async fn check_invariants(cluster: &AutoTopology, load: &Load, context: &str) -> Checked {
    let formation = &cluster.formation;
    let writable = formation.writable_nodes().await;
    assert_eq!(
        writable.len(),
        1,
        "{context}: exactly one node accepts writes, seen: {writable:?}"
    );
    let primary_name = writable[0];
    let primary = formation.nodes[formation.node_index(primary_name)].cluster();
    let report = load.report();
    let verification = verify(&report, &primary).await;
    assert_eq!(
        verification.lost, 0,
        "{context}: acknowledged votes missing on {primary_name}"
    );
    assert_eq!(
        verification.unattempted, 0,
        "{context}: votes stored on {primary_name} that nobody attempted"
    );
    assert_eq!(
        verification.duplicated, 0,
        "{context}: a voter with two ballots"
    );

    // No voter with two ballots, in SQL: one participation per voter and election, and per
    // election as many ballots as participations (ballots name no voter).
    let sql = primary.connect(DATABASE).await;
    let twice: i64 = sql
        .query_one(
            "SELECT count(*) FROM (SELECT 1 FROM participation GROUP BY election_id, user_id
             HAVING count(*) > 1) AS d",
            &[],
        )
        .await
        .expect("count double participations")
        .get(0);
    assert_eq!(twice, 0, "{context}: voters with two participations");
    let unbalanced: Vec<(Uuid, i64, i64)> = sql
        .query(
            "SELECT e.id,
                    (SELECT count(*) FROM ballot_box b WHERE b.election_id = e.id),
                    (SELECT count(*) FROM participation p WHERE p.election_id = e.id)
             FROM elections e",
            &[],
        )
        .await
        .expect("ballots and participations per election")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .filter(|(_, ballots, voters)| ballots != voters)
        .collect();
    assert!(
        unbalanced.is_empty(),
        "{context}: elections whose ballots are not one per voter (id, ballots, voters): {unbalanced:?}"
    );
    let second_acknowledged: Vec<Attempt> = load
        .second_ballots
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.acknowledged_at.is_some())
        .cloned()
        .collect();
    assert!(
        second_acknowledged.is_empty(),
        "{context}: second ballots acknowledged: {second_acknowledged:?}"
    );

    // The results, through NGINX and from each backend, equal the stored ballots.
    let stored: HashMap<Uuid, i64> = sql
        .query(
            "SELECT candidate_id, count(*) FROM ballot_box
             WHERE election_id = (SELECT id FROM elections WHERE is_default)
               AND candidate_id IS NOT NULL
             GROUP BY candidate_id",
            &[],
        )
        .await
        .expect("stored ballots per candidate")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let stored_total: i64 = stored.values().sum();
    tokio::time::sleep(RESULTS_FRESH_AFTER).await;
    let mut sources = vec![("NGINX".to_owned(), cluster.nginx.url())];
    for (i, backend) in cluster.backends.iter().enumerate() {
        sources.push((format!("backend{i}"), backend.url()));
    }
    for (source, base) in sources {
        let url = format!("{base}/api/results");
        let (status, body) = call(load.client.get(&url))
            .await
            .unwrap_or_else(|e| panic!("{context}: GET {url}: {e}"));
        assert_eq!(status, StatusCode::OK, "{context}: GET {url}: {body}");
        let results: Value = serde_json::from_str(&body).expect("results JSON");
        let (total, per_candidate) = counted(&results);
        assert_eq!(
            (total, &per_candidate),
            (stored_total, &stored),
            "{context}: the results from {source} equal the stored ballots"
        );
    }

    // Every standby, once it has replayed the primary's WAL, holds exactly what it holds.
    for node in &formation.nodes {
        if node.name == primary_name {
            continue;
        }
        let standby = node.cluster();
        wait_for_replay(&primary, &standby).await;
        let on_standby = verify(&report, &standby).await;
        assert_eq!(
            (on_standby.lost, on_standby.unattempted, on_standby.stored),
            (0, 0, verification.stored),
            "{context}: {} holds what the primary {primary_name} holds",
            node.name
        );
    }
    Checked {
        primary: primary_name,
        attempted: report.attempts.len(),
        acknowledged: report.acknowledged().count(),
        stored: verification.stored,
    }
}

// ------------------------------------------------------------------------------------------
// The run
// ------------------------------------------------------------------------------------------

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomised_faults_under_mixed_load_keep_every_invariant() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    let run_started = Instant::now();
    let minutes: f64 = std::env::var("FAULT_MINUTES")
        .ok()
        .map(|m| m.parse().expect("FAULT_MINUTES: a number of minutes"))
        .unwrap_or(DEFAULT_MINUTES);
    assert!(minutes > 0.0, "FAULT_MINUTES must be positive");
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .map(|s| s.parse().expect("FAULT_SEED: an unsigned integer"))
        .unwrap_or_else(|| rand::thread_rng().r#gen());
    let sigstop_max_ms: u64 = std::env::var("FAULT_SIGSTOP_MAX_SECONDS")
        .ok()
        .map(|s| {
            let seconds: f64 = s
                .parse()
                .expect("FAULT_SIGSTOP_MAX_SECONDS: a number of seconds");
            (seconds * 1000.0) as u64
        })
        .unwrap_or(SIGSTOP_MAX.as_millis() as u64)
        .max(1000);
    let fault_phase = Duration::from_secs_f64(minutes * 60.0);
    let max_faults = (minutes * MAX_FAULTS_PER_MINUTE).ceil() as usize + 1;
    announce!(
        "long run: FAULT_SEED={seed} FAULT_MINUTES={minutes} (new faults for {}, at most {max_faults}) FAULT_SIGSTOP_MAX_SECONDS={}",
        secs(fault_phase),
        sigstop_max_ms as f64 / 1000.0
    );
    let mut rng = StdRng::seed_from_u64(seed);

    // Enough voters for the votes' upper rate over the whole run, with room for the recoveries.
    let max_rate = VOTE_WORKERS as f64 / VOTE_PACE.as_secs_f64();
    let voters = (max_rate * (fault_phase.as_secs_f64() + 300.0)) as usize;
    let mut cluster = AutoTopology::start(Layout::PrimaryInNamespace, voters).await;
    let ttl = fault_phase + Duration::from_secs(3600);
    let voters: Vec<Voter> = cluster
        .voters
        .iter()
        .map(|v| Voter {
            id: v.id,
            token: token(v.id, ttl),
        })
        .collect();

    // The login accounts (one argon2id hash of their shared password) and the admin.
    let writable = cluster.formation.writable_nodes().await;
    assert_eq!(writable.len(), 1, "one primary at the start: {writable:?}");
    let primary = cluster.formation.nodes[cluster.formation.node_index(writable[0])].cluster();
    let hash = securevote::auth::PasswordHasher::new(1, 1)
        .hash(securevote::domain::Password::parse(LOGIN_PASSWORD.into()).unwrap())
        .await
        .expect("hash the login password");
    let sql = primary.connect(DATABASE).await;
    let login_emails: Vec<String> = sql
        .query(
            "INSERT INTO users (email, password_hash, created_at)
             SELECT 'long-run-login-' || i || '@example.org', $1, now()
             FROM generate_series(1, $2::int) AS i RETURNING email",
            &[&hash, &(LOGIN_ACCOUNTS as i32)],
        )
        .await
        .expect("create the login accounts")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let admin_id: Uuid = sql
        .query_one(
            "INSERT INTO users (email, password_hash, created_at, role)
             VALUES ('long-run-admin@example.org', 'not-a-login-account', now(), 'admin') RETURNING id",
            &[],
        )
        .await
        .expect("create the admin")
        .get(0);
    drop(sql);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(35))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let load = Arc::new(Load {
        base: cluster.nginx.url(),
        client: client.clone(),
        voters,
        candidates: cluster.candidates.clone(),
        next_voter: AtomicUsize::new(0),
        attempts: Mutex::new(Vec::new()),
        second_ballots: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        votes_paused: AtomicBool::new(false),
        votes_in_flight: AtomicUsize::new(0),
        voters_ran_out: AtomicBool::new(false),
        ack_watch: Mutex::new((Instant::now(), None)),
        reads: Counts::default(),
        results_reads: Counts::default(),
        logins: Counts::default(),
        admin_ops: Counts::default(),
        login_emails,
        admin_token: token(admin_id, ttl),
    });
    let tasks = load.spawn();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let faults_started = Instant::now();
    let mut bag: Vec<Fault> = Vec::new();
    let mut done: Vec<(Fault, Duration, Duration)> = Vec::new();
    let mut switchovers = 0;
    while faults_started.elapsed() < fault_phase && done.len() < max_faults {
        if bag.is_empty() {
            bag = ALL_FAULTS.to_vec();
            bag.shuffle(&mut rng);
        }
        let fault = bag.pop().unwrap();
        let number = done.len() + 1;
        let formation = &cluster.formation;
        let primary = formation
            .monitor_primary()
            .await
            .expect("one primary before a fault");

        // The cut isolates the namespaced node: make it the primary first.
        let mut prepared = String::new();
        if fault == Fault::PrimaryCut && formation.nodes[primary].netns.is_none() {
            let target = formation
                .nodes
                .iter()
                .position(|n| n.netns.is_some())
                .expect("a node in a network namespace");
            let started = Instant::now();
            let node = &formation.nodes[target];
            tokio::task::block_in_place(|| node.promote_by_switchover());
            wait_for_recovery(&cluster, &client).await;
            switchovers += 1;
            prepared = format!(
                " (after a switchover to {} under load, {})",
                node.name,
                secs(started.elapsed())
            );
        }
        let formation = &mut cluster.formation;
        let primary = formation
            .monitor_primary()
            .await
            .expect("one primary before a fault");
        let primary_name = formation.nodes[primary].name;

        let at = Instant::now();
        load.watch_acks_from(at + IN_FLIGHT_GRACE);
        let what = match fault {
            Fault::BackendKill => {
                let i = rng.gen_range(0..cluster.backends.len());
                let down = Duration::from_millis(rng.gen_range(1000..=3000));
                cluster.backends[i].kill9();
                tokio::time::sleep(down).await;
                cluster.backends[i].start();
                let pids: Vec<String> = cluster
                    .backends
                    .iter()
                    .filter_map(|b| b.pid())
                    .map(|p| p.to_string())
                    .collect();
                std::fs::write(cluster.formation.root.join("backend-pids"), pids.join(" "))
                    .expect("record the backends' pids");
                format!("kill -9 of backend{i}, restarted after {}", secs(down))
            }
            Fault::PrimaryKill => {
                let killed = formation.nodes[primary].kill9();
                let took_over = formation
                    .wait_for_other_primary(primary_name, FAILOVER_LIMIT)
                    .await;
                let later = Duration::from_millis(rng.gen_range(0..=3000));
                tokio::time::sleep(later).await;
                formation.nodes[primary].start_keeper();
                format!(
                    "kill -9 of the primary {primary_name} ({killed}); another node primary after {}, its keeper restarted {} later",
                    secs(took_over.duration_since(at)),
                    secs(later)
                )
            }
            Fault::PrimaryStop => {
                let stopped_for = Duration::from_millis(rng.gen_range(1000..=sigstop_max_ms));
                let mut frozen = formation.nodes[primary].freeze();
                tokio::time::sleep(stopped_for).await;
                frozen.thaw();
                format!(
                    "SIGSTOP of the primary {primary_name} (keeper, postmaster and its children), SIGCONT after {}",
                    secs(stopped_for)
                )
            }
            Fault::PrimaryCut => {
                let netns = formation
                    .netns
                    .as_ref()
                    .expect("node1 in its own namespace");
                netns.cut();
                let took_over = formation
                    .wait_for_other_primary(primary_name, FAILOVER_LIMIT)
                    .await;
                let later = Duration::from_millis(rng.gen_range(0..=3000));
                tokio::time::sleep(later).await;
                netns.restore();
                format!(
                    "network of the primary {primary_name} cut (link {} of namespace {} down){prepared}; another node primary after {}, link up {} later",
                    netns.ns_if,
                    netns.name,
                    secs(took_over.duration_since(at)),
                    secs(later)
                )
            }
            Fault::StandbyKill => {
                let standbys: Vec<usize> = (0..formation.nodes.len())
                    .filter(|i| *i != primary)
                    .collect();
                let standby = *standbys.choose(&mut rng).expect("a standby");
                let down = Duration::from_millis(rng.gen_range(2000..=5000));
                let killed = formation.nodes[standby].kill9();
                tokio::time::sleep(down).await;
                formation.nodes[standby].start_keeper();
                format!(
                    "kill -9 of the standby {} ({killed}), keeper restarted after {}",
                    formation.nodes[standby].name,
                    secs(down)
                )
            }
        };
        announce!(
            "long run fault {number} at {}: {}: {what}",
            secs(at.duration_since(faults_started)),
            fault.name()
        );
        let recovery = wait_for_recovery(&cluster, &client).await;
        let resume_deadline = Instant::now() + RESUME_LIMIT;
        let resumed = loop {
            if let Some(ack) = load.first_ack() {
                break ack;
            }
            assert!(
                Instant::now() < resume_deadline,
                "fault {number} ({}): no vote acknowledged within {RESUME_LIMIT:?} of recovery (seed {seed})",
                fault.name()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (resumed, recovered) = (resumed.duration_since(at), recovery.at.duration_since(at));
        load.pause_votes().await;
        let context = format!("after fault {number} ({}, FAULT_SEED={seed})", fault.name());
        let checked = check_invariants(&cluster, &load, &context).await;
        load.resume_votes();
        let split = if recovery.two_writable_for > Duration::ZERO {
            format!(
                ", two nodes accepted writes for {} (polled)",
                secs(recovery.two_writable_for)
            )
        } else {
            String::new()
        };
        announce!(
            "long run fault {number} ({}): first vote acknowledged after it {}, full recovery {} (nodes settled {}){split}; primary now {}; invariants hold (attempted={} acknowledged={} stored={})",
            fault.name(),
            secs(resumed),
            secs(recovered),
            secs(recovery.nodes_settled.duration_since(at)),
            checked.primary,
            checked.attempted,
            checked.acknowledged,
            checked.stored
        );
        done.push((fault, resumed, recovered));
        // Some calm load before the next fault.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(2000..=5000))).await;
    }

    load.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(PAUSE_LIMIT, task)
            .await
            .expect("a load worker ends within its retry budget")
            .expect("load worker");
    }
    let checked =
        check_invariants(&cluster, &load, &format!("at the end (FAULT_SEED={seed})")).await;

    let report = load.report();
    let count = |pick: fn(&Outcome) -> bool| report.count(pick);
    let second = load.second_ballots.lock().unwrap().clone();
    let second_refused = second
        .iter()
        .filter(|a| matches!(&a.outcome, Outcome::Failed { status: 409, body } if body.contains("already_voted")))
        .count();
    let second_unknown = second
        .iter()
        .filter(|a| a.outcome == Outcome::Unknown)
        .count();
    let mut by_kind: Vec<String> = ALL_FAULTS
        .iter()
        .map(|kind| {
            format!(
                "{}={}",
                kind.name(),
                done.iter().filter(|(f, _, _)| f == kind).count()
            )
        })
        .collect();
    by_kind.push(format!("switchovers={switchovers}"));
    let max_resumed = done.iter().map(|(_, r, _)| *r).max().unwrap_or_default();
    let max_recovered = done.iter().map(|(_, _, r)| *r).max().unwrap_or_default();
    announce!(
        "long run totals (FAULT_SEED={seed}): faults={} ({}); votes attempted={} acknowledged={} failed={} unknown={} retried={} stored={}; second ballots attempted={} refused_already_voted={} unknown={}; reads {}; results reads {}; logins {}; admin ops {}; longest time to a vote after a fault {}; longest recovery {}; primary at the end {}; wall {}",
        done.len(),
        by_kind.join(" "),
        report.attempts.len(),
        checked.acknowledged,
        count(|o| matches!(o, Outcome::Failed { .. })),
        count(|o| matches!(o, Outcome::Unknown)),
        report.attempts.iter().filter(|a| a.tries > 1).count(),
        checked.stored,
        second.len(),
        second_refused,
        second_unknown,
        load.reads.line(),
        load.results_reads.line(),
        load.logins.line(),
        load.admin_ops.line(),
        secs(max_resumed),
        secs(max_recovered),
        checked.primary,
        secs(run_started.elapsed()),
    );

    assert!(!done.is_empty(), "no fault was injected");
    assert!(
        !load.voters_ran_out.load(Ordering::SeqCst),
        "the voters ran out"
    );
    let failed: Vec<&Attempt> = report
        .attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Failed { .. }))
        .take(5)
        .collect();
    // A vote whose retries ran out (unknown outcome) is allowed, as in the other drills: the
    // checks count it as attempted, stored or not. A vote refused outright is not.
    assert!(failed.is_empty(), "votes failed outright: {failed:?}");
    let second_wrong: Vec<&Attempt> = second
        .iter()
        .filter(|a| a.outcome != Outcome::Unknown)
        .filter(|a| !matches!(&a.outcome, Outcome::Failed { status: 409, body } if body.contains("already_voted")))
        .take(5)
        .collect();
    assert!(
        second_wrong.is_empty(),
        "second ballots not refused with 409 already_voted: {second_wrong:?}"
    );
    // Reads of the ballot never fail, whatever the fault, as in the other drills
    // (assert_no_failed_reads): while no node answers, the backends serve their last copy.
    assert_eq!(
        load.reads.failed(),
        0,
        "reads of the ballot failed: {:?}",
        load.reads.samples.lock().unwrap()
    );
    // The results must be current, so they are a 503 while no node takes writes (counted, not
    // asserted); logins and admin changes need the primary likewise. None may be refused.
    for (what, counts) in [
        ("results reads", &load.results_reads),
        ("logins", &load.logins),
        ("admin ops", &load.admin_ops),
    ] {
        assert_eq!(
            counts.refused.load(Ordering::Relaxed),
            0,
            "{what} refused: {:?}",
            counts.samples.lock().unwrap()
        );
        assert!(counts.ok.load(Ordering::Relaxed) > 0, "no {what} succeeded");
    }
}
