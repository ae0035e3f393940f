//! The load of a fault drill: distinct voters voting through NGINX (each vote with an
//! Idempotency-Key, retried with the same key after network errors and 502/503/504) and readers
//! reading, while a fault happens. Every vote attempt ends acknowledged, failed or unknown, and
//! is checked afterwards against what the database holds.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::postgres::PgCluster;
use crate::topology::{DATABASE, JWT_SECRET};

/// How long one vote is retried before its outcome is recorded as unknown.
const VOTE_RETRY_BUDGET: Duration = Duration::from_secs(40);

#[derive(Clone)]
pub struct Voter {
    pub id: Uuid,
    pub token: String,
}

/// Migrates, imports the demo ballot and creates `count` voters directly in the database (the
/// drill is about voting, not about argon2), with tokens signed by the shared secret.
pub async fn prepare_ballot(primary: &PgCluster, count: usize) -> (Vec<Voter>, Vec<Uuid>) {
    // Plain TCP, as the drills' backends: the pg_auto_failover nodes' hostssl scram rules come
    // before the harness's trust rule, and the manual drills' servers have no TLS.
    let settings = securevote::config::Settings {
        database_url: Some(format!("{}?sslmode=disable", primary.url(DATABASE)).into()),
        jwt_secret: Some(JWT_SECRET.into()),
        ..Default::default()
    };
    let config = securevote::config::Config::from_settings(&settings).expect("config");
    let store = securevote::store::open(&config.database, 2)
        .await
        .expect("open store");
    let demo =
        securevote::store::parse_candidates(securevote::store::DEMO_CANDIDATES_JSON).unwrap();
    store
        .add_candidates(&demo)
        .await
        .expect("import candidates");
    let candidates = store
        .candidates()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    store.close().await;
    let sql = primary.connect(DATABASE).await;
    let rows = sql
        .query(
            "INSERT INTO users (email, password_hash, created_at)
             SELECT 'drill-' || i || '@example.org', 'not-a-login-account', now() FROM generate_series(1, $1::int) AS i
             RETURNING id",
            &[&(count as i32)],
        )
        .await
        .expect("create voters");
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let voters = rows
        .iter()
        .map(|row| {
            let id: Uuid = row.get(0);
            let claims = json!({"sub": id, "iat": now, "exp": now + 3600});
            Voter {
                id,
                token: encode(&Header::default(), &claims, &key).unwrap(),
            }
        })
        .collect();
    (voters, candidates)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Acknowledged { vote_id: Uuid },
    Failed { status: u16, body: String },
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub voter: Uuid,
    pub candidate: Uuid,
    pub outcome: Outcome,
    pub tries: u32,
    pub acknowledged_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub attempts: Vec<Attempt>,
    pub reads_ok: u64,
    pub reads_failed: u64,
    pub read_failures: Vec<String>,
    pub started: Option<Instant>,
    pub ended: Option<Instant>,
}

impl Report {
    pub fn acknowledged(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Acknowledged { .. }))
    }

    pub fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.attempts.iter().filter(|a| pick(&a.outcome)).count()
    }

    /// Acknowledgement times, sorted.
    pub fn ack_times(&self) -> Vec<Instant> {
        let mut times: Vec<Instant> = self
            .attempts
            .iter()
            .filter_map(|a| a.acknowledged_at)
            .collect();
        times.sort();
        times
    }

    /// The longest stretch of the drill with no vote acknowledged.
    pub fn longest_gap(&self) -> Duration {
        let (Some(start), Some(end)) = (self.started, self.ended) else {
            return Duration::ZERO;
        };
        let mut edges = vec![start];
        edges.extend(self.ack_times());
        edges.push(end.max(*edges.last().unwrap()));
        edges
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
            .unwrap_or_default()
    }

    /// The first acknowledgement at or after `instant`.
    pub fn first_ack_after(&self, instant: Instant) -> Option<Instant> {
        self.ack_times().into_iter().find(|t| *t >= instant)
    }
}

pub struct DrillConfig {
    pub duration: Duration,
    pub vote_workers: usize,
    pub read_workers: usize,
}

/// Runs the load for `config.duration` while `fault` runs; returns when every vote attempt has an
/// outcome.
pub async fn run(
    base: &str,
    voters: &[Voter],
    candidates: &[Uuid],
    config: DrillConfig,
    fault: impl Future<Output = ()>,
) -> Report {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(35))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let started = Instant::now();
    let deadline = started + config.duration;
    let next_voter = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let stop_reads = Arc::new(AtomicBool::new(false));
    let (reads_ok, reads_failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let read_failures = Arc::new(Mutex::new(Vec::new()));
    let voters = Arc::new(voters.to_vec());
    let candidates = Arc::new(candidates.to_vec());

    let mut tasks = Vec::new();
    for _ in 0..config.vote_workers {
        let (client, base, voters, candidates) = (
            client.clone(),
            base.to_owned(),
            Arc::clone(&voters),
            Arc::clone(&candidates),
        );
        let (next_voter, attempts) = (Arc::clone(&next_voter), Arc::clone(&attempts));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let index = next_voter.fetch_add(1, Ordering::Relaxed);
                let Some(voter) = voters.get(index) else {
                    break;
                };
                let candidate = candidates[index % candidates.len()];
                let attempt = vote_with_retries(&client, &base, voter, candidate).await;
                attempts.lock().unwrap().push(attempt);
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..config.read_workers {
        let (client, base, stop) = (client.clone(), base.to_owned(), Arc::clone(&stop_reads));
        let (ok, failed, failures) = (
            Arc::clone(&reads_ok),
            Arc::clone(&reads_failed),
            Arc::clone(&read_failures),
        );
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match client.get(format!("{base}/api/options")).send().await {
                    Ok(response) if response.status() == StatusCode::OK => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let what = match other {
                            Ok(response) => format!("status {}", response.status()),
                            Err(e) => format!("network error: {e}"),
                        };
                        failures.lock().unwrap().push(what);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    fault.await;
    for task in tasks {
        task.await.expect("vote worker");
    }
    stop_reads.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("read worker");
    }
    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    let read_failures = std::mem::take(&mut *read_failures.lock().unwrap());
    Report {
        attempts,
        reads_ok: reads_ok.load(Ordering::Relaxed),
        reads_failed: reads_failed.load(Ordering::Relaxed),
        read_failures,
        started: Some(started),
        ended: Some(deadline),
    }
}

pub async fn vote_with_retries(
    client: &reqwest::Client,
    base: &str,
    voter: &Voter,
    candidate: Uuid,
) -> Attempt {
    let key = Uuid::new_v4().to_string();
    let give_up = Instant::now() + VOTE_RETRY_BUDGET;
    let mut tries = 0;
    let outcome = loop {
        tries += 1;
        let sent = client
            .post(format!("{base}/api/votes"))
            .bearer_auth(&voter.token)
            .header("Idempotency-Key", &key)
            .json(&json!({"candidate_id": candidate}))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::CREATED => {
                let vote: Value = match response.json().await {
                    Ok(vote) => vote,
                    Err(_) => continue, // the body was lost: retry with the same key
                };
                let vote_id = vote["id"]
                    .as_str()
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .expect("vote id");
                break Outcome::Acknowledged { vote_id };
            }
            Ok(response)
                if ![
                    StatusCode::BAD_GATEWAY,
                    StatusCode::SERVICE_UNAVAILABLE,
                    StatusCode::GATEWAY_TIMEOUT,
                ]
                .contains(&response.status()) =>
            {
                let status = response.status().as_u16();
                break Outcome::Failed {
                    status,
                    body: response.text().await.unwrap_or_default(),
                };
            }
            _ if Instant::now() >= give_up => break Outcome::Unknown,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let acknowledged_at = matches!(outcome, Outcome::Acknowledged { .. }).then(Instant::now);
    Attempt {
        voter: voter.id,
        candidate,
        outcome,
        tries,
        acknowledged_at,
    }
}

/// What the database holds, compared with what the drill did.
#[derive(Debug)]
pub struct Verification {
    /// Acknowledged votes missing from the database (must be 0).
    pub lost: usize,
    /// Votes in the database nobody attempted, or for another candidate (must be 0).
    pub unattempted: usize,
    /// Voters with more than one vote (must be 0).
    pub duplicated: usize,
    pub stored: usize,
}

/// Ballots name no voter: an acknowledged vote is kept when its voter's participation is
/// stored and a ballot with its receipt holds its candidate (the drills never close the
/// election, so receipts are not rewritten by a seal).
pub async fn verify(report: &Report, writable: &PgCluster) -> Verification {
    let sql = writable.connect(DATABASE).await;
    let ballots: HashMap<Uuid, Option<Uuid>> = sql
        .query("SELECT id, candidate_id FROM ballot_box", &[])
        .await
        .expect("read the ballot box")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let participants: Vec<Uuid> = sql
        .query("SELECT user_id FROM participation", &[])
        .await
        .expect("read participation")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let voted: HashSet<Uuid> = participants.iter().copied().collect();
    let attempted: HashMap<Uuid, Uuid> = report
        .attempts
        .iter()
        .map(|a| (a.voter, a.candidate))
        .collect();
    let attempted_candidates: HashSet<Uuid> = attempted.values().copied().collect();
    let lost = report
        .acknowledged()
        .filter(|a| {
            let Outcome::Acknowledged { vote_id } = a.outcome else {
                unreachable!()
            };
            !voted.contains(&a.voter) || ballots.get(&vote_id) != Some(&Some(a.candidate))
        })
        .count();
    let unattempted = participants
        .iter()
        .filter(|user| !attempted.contains_key(user))
        .count()
        + ballots
            .values()
            .filter(|c| !c.is_some_and(|c| attempted_candidates.contains(&c)))
            .count()
        + participants.len().saturating_sub(ballots.len());
    Verification {
        lost,
        unattempted,
        // One participation per voter is the primary key; a ballot without one is a second.
        duplicated: ballots.len().saturating_sub(participants.len()),
        stored: ballots.len(),
    }
}

/// The one summary line each drill prints.
pub fn summary(name: &str, report: &Report, verification: &Verification) -> String {
    format!(
        "fault drill {name}: attempts={} acknowledged={} failed={} unknown={} lost={} stored={} reads={} failed_reads={} longest_window_without_vote={:.2}s",
        report.attempts.len(),
        report.count(|o| matches!(o, Outcome::Acknowledged { .. })),
        report.count(|o| matches!(o, Outcome::Failed { .. })),
        report.count(|o| matches!(o, Outcome::Unknown)),
        verification.lost,
        verification.stored,
        report.reads_ok + report.reads_failed,
        report.reads_failed,
        report.longest_gap().as_secs_f64(),
    )
}

/// Asserts the invariants every drill must keep.
pub fn assert_nothing_lost(report: &Report, verification: &Verification, writable_nodes: usize) {
    let failures: Vec<&Attempt> = report
        .attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Failed { .. }))
        .take(5)
        .collect();
    assert_eq!(verification.lost, 0, "acknowledged votes lost");
    assert_eq!(
        verification.unattempted, 0,
        "votes stored that nobody attempted"
    );
    assert_eq!(verification.duplicated, 0, "a voter with two votes");
    assert_eq!(
        writable_nodes, 1,
        "exactly one PostgreSQL node must accept writes"
    );
    assert!(failures.is_empty(), "votes failed outright: {failures:?}");
    assert!(
        report.acknowledged().count() > 0,
        "the drill acknowledged no vote at all"
    );
}

/// Every read of the ballot answered during the drill: while no node accepts connections, the
/// backends serve their last copy (with an `Age` header).
pub fn assert_no_failed_reads(report: &Report) {
    assert_eq!(
        report.reads_failed,
        0,
        "reads failed: {:?}",
        &report.read_failures[..report.read_failures.len().min(5)]
    );
}
