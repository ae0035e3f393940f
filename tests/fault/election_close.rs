//! An election closes while its primary is down: the primary node is killed (kill -9 of its
//! keeper and PostgreSQL) 1.5 s before `closes_at`, and pg_auto_failover promotes the standby
//! some seconds after it. Voters keep casting ballots through NGINX the whole time, each with an
//! Idempotency-Key, retried with the same key after network errors and 502/503/504, and readers
//! keep asking for the results. Afterwards, on the new primary:
//!
//! * no stored participation has a `voted_at` at or after `closes_at` (the database's clock judged
//!   every ballot, on the old primary before the kill and on the new one after the promotion);
//! * every ballot first sent after `closes_at` was refused with 409 `election_not_open` (the
//!   drill's clock is the databases' clock: all run on this host);
//! * every acknowledged (201) ballot is stored and counted: its voter's participation, and per
//!   choice as many ballots as were acknowledged (ballots name no voter, and the seal gives them
//!   new ids); the results of both backends and the `tallies` counters equal the stored
//!   ballots, per choice;
//! * nothing refused or never attempted is stored, and exactly one node accepts writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AutoTopology, Layout, Timeline};
use crate::drill::Voter;
use crate::topology::{DATABASE, JWT_SECRET};

/// From creating the election to its `closes_at`: room to open it and cast ballots first.
const CLOSE_AFTER: Duration = Duration::from_secs(6);
/// The primary is killed this long before `closes_at`; the failover takes longer than this
/// (the monitor alone waits 3 s before it considers the node unhealthy), so the close falls in
/// the outage.
const KILL_BEFORE_CLOSE: Duration = Duration::from_millis(1500);
/// Ballots keep coming this long after the new primary takes writes.
const AFTER_FAILOVER: Duration = Duration::from_secs(3);
/// A ballot's retries stop after this; its outcome is then unknown.
const RETRY_BUDGET: Duration = Duration::from_secs(40);
const WORKERS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Acknowledged { receipt: Uuid },
    Refused { status: u16, code: String },
    Unknown,
}

#[derive(Debug, Clone)]
struct Attempt {
    voter: Uuid,
    choice: Uuid,
    /// When the first try was sent, by this host's clock (the databases' clock too).
    first_sent: DateTime<Utc>,
    outcome: Outcome,
    tries: u32,
    answered_at: Instant,
}

fn token(id: Uuid) -> String {
    let now = Utc::now().timestamp();
    let claims = json!({"sub": id, "iat": now, "exp": now + 3600});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign a token")
}

async fn admin_post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = client
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "POST {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {url}: {e}: {text}"))
}

async fn cast(
    client: &reqwest::Client,
    url: &str,
    voter: &Voter,
    contest: Uuid,
    choice: Uuid,
) -> Attempt {
    let key = Uuid::new_v4().to_string();
    let body = json!({"selections": {contest.to_string(): [choice]}});
    let give_up = Instant::now() + RETRY_BUDGET;
    let mut tries = 0;
    let mut first_sent = None;
    let outcome = loop {
        tries += 1;
        first_sent.get_or_insert_with(Utc::now);
        let sent = client
            .post(url)
            .bearer_auth(&voter.token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::CREATED => {
                // A lost body is retried with the same key: the replay names the same ballot.
                let Ok(receipt) = response.json::<Value>().await else {
                    continue;
                };
                let receipt = receipt["receipt"]
                    .as_str()
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .expect("a receipt");
                break Outcome::Acknowledged { receipt };
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
                let body: Value = response.json().await.unwrap_or(Value::Null);
                break Outcome::Refused {
                    status,
                    code: body["error"]["code"].as_str().unwrap_or("?").to_owned(),
                };
            }
            _ if Instant::now() >= give_up => break Outcome::Unknown,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    Attempt {
        voter: voter.id,
        choice,
        first_sent: first_sent.expect("sent once"),
        outcome,
        tries,
        answered_at: Instant::now(),
    }
}

/// `ballots` and votes per choice (those with any) of a results answer.
fn counted(results: &Value) -> (u64, HashMap<Uuid, u64>) {
    let per_choice = results["contests"][0]["results"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let votes = r["votes"].as_u64().filter(|n| *n > 0)?;
                    Some((Uuid::parse_str(r["choice_id"].as_str()?).ok()?, votes))
                })
                .collect()
        })
        .unwrap_or_default();
    (results["ballots"].as_u64().unwrap_or(u64::MAX), per_choice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn election_closing_during_a_failover_takes_no_late_ballot_and_counts_every_acknowledged_one()
{
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    let drill_started = Instant::now();
    let mut cluster = AutoTopology::start(Layout::Loopback, 30_000).await;
    let base = cluster.nginx.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(35))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    // An admin, and an open election that closes by itself CLOSE_AFTER from now by the
    // database's clock, with its results shown once voting closes.
    let primary = cluster.formation.nodes[0].cluster();
    let sql = primary.connect(DATABASE).await;
    let admin_id: Uuid = sql
        .query_one(
            "INSERT INTO users (email, password_hash, created_at, role)
             VALUES ('drill-admin@example.org', 'not-a-login-account', now(), 'admin') RETURNING id",
            &[],
        )
        .await
        .expect("create the admin")
        .get(0);
    let admin = token(admin_id);
    let db_now: DateTime<Utc> = sql
        .query_one("SELECT now()", &[])
        .await
        .expect("the database's clock")
        .get(0);
    let closes_at = db_now + TimeDelta::from_std(CLOSE_AFTER).unwrap();
    let created = admin_post(
        &client,
        format!("{base}/api/elections"),
        &admin,
        json!({
            "slug": "close-during-failover",
            "title": "Closing during a failover",
            "eligibility": "open",
            "results": "after_close",
            "closes_at": closes_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "contests": [{"title": "Chair", "method": "plurality",
                "choices": [{"name": "Ada"}, {"name": "Grace"}, {"name": "Edsger"}]}],
        }),
    )
    .await;
    let election: Uuid = Uuid::parse_str(created["id"].as_str().expect("election id")).unwrap();
    let contest = Uuid::parse_str(created["contests"][0]["id"].as_str().unwrap()).unwrap();
    let choices: Vec<Uuid> = created["contests"][0]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Uuid::parse_str(c["id"].as_str().unwrap()).unwrap())
        .collect();
    // The stored closing time (to the millisecond) is the one the database judges by.
    let closes_at: DateTime<Utc> = created["closes_at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .expect("closes_at")
        .with_timezone(&Utc);
    for action in ["schedule", "open"] {
        admin_post(
            &client,
            format!("{base}/api/elections/{election}/{action}"),
            &admin,
            json!({}),
        )
        .await;
    }
    drop(sql);
    // This host's clock is the databases' (same machine); the instant of closes_at on it.
    let until_close = (closes_at - Utc::now()).to_std().unwrap_or_default();
    let close_instant = Instant::now() + until_close;
    assert!(
        until_close > KILL_BEFORE_CLOSE,
        "the election was set up too slowly: {until_close:?} left before closes_at"
    );

    // The load: ballots by distinct voters until AFTER_FAILOVER after the new primary takes
    // writes; readers of the results.
    let stop = Arc::new(AtomicBool::new(false));
    let next_voter = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let voters = Arc::new(cluster.voters.clone());
    let choices = Arc::new(choices);
    let ballots_url = format!("{base}/api/elections/{election}/ballots");
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (client, url, stop, next_voter, attempts, voters, choices) = (
            client.clone(),
            ballots_url.clone(),
            Arc::clone(&stop),
            Arc::clone(&next_voter),
            Arc::clone(&attempts),
            Arc::clone(&voters),
            Arc::clone(&choices),
        );
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let index = next_voter.fetch_add(1, Ordering::Relaxed);
                let Some(voter) = voters.get(index) else {
                    break;
                };
                let choice = choices[index % choices.len()];
                let attempt = cast(&client, &url, voter, contest, choice).await;
                let refused = matches!(attempt.outcome, Outcome::Refused { .. });
                attempts.lock().unwrap().push(attempt);
                if refused {
                    // Refusals are quick; keep the voters from running out.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let results_url = format!("{base}/api/elections/{election}/results");
    let (embargoed, shown, unavailable) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (client, url, stop) = (client.clone(), results_url.clone(), Arc::clone(&stop));
        let (embargoed, shown, unavailable) = (
            Arc::clone(&embargoed),
            Arc::clone(&shown),
            Arc::clone(&unavailable),
        );
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).send().await.map(|r| r.status()) {
                    Ok(StatusCode::OK) => shown.fetch_add(1, Ordering::Relaxed),
                    Ok(StatusCode::FORBIDDEN) => embargoed.fetch_add(1, Ordering::Relaxed),
                    _ => unavailable.fetch_add(1, Ordering::Relaxed),
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    let mut timeline = Timeline::default();
    {
        let formation = &mut cluster.formation;
        tokio::time::sleep_until((close_instant - KILL_BEFORE_CLOSE).into()).await;
        let killed = formation.nodes[0].kill9();
        timeline.fault = Some(Instant::now());
        announce!(
            "fault drill election-close-failover: kill -9 of node1 ({killed}) {:.2}s before closes_at {closes_at}",
            close_instant
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
        );
        formation
            .watch_failover(&mut timeline, 0, None, Duration::from_secs(40))
            .await;
        tokio::time::sleep_until(
            (timeline
                .writable
                .unwrap_or_else(Instant::now)
                .max(close_instant)
                + AFTER_FAILOVER)
                .into(),
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("ballot worker");
    }
    for reader in readers {
        reader.await.expect("results reader");
    }
    let attempts = std::mem::take(&mut *attempts.lock().unwrap());

    // What the new primary holds.
    let writable = cluster.formation.writable_nodes().await;
    let new_primary = timeline.new_primary(&cluster.formation).cluster();
    let sql = new_primary.connect(DATABASE).await;
    // Ballots name no voter and are given new ids when the election is sealed: what is kept is
    // judged per voter (participation) and per choice (the ballot box).
    let participation: HashMap<Uuid, bool> = sql
        .query(
            "SELECT p.user_id, p.voted_at < e.closes_at
             FROM participation p JOIN elections e ON e.id = p.election_id WHERE p.election_id = $1",
            &[&election],
        )
        .await
        .expect("read the participation")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let ballot_rows = sql
        .query(
            "SELECT candidate_id FROM ballot_box WHERE election_id = $1",
            &[&election],
        )
        .await
        .expect("read the ballots");
    let stored_after_close = participation.values().filter(|before| !**before).count();
    let mut stored_per_choice: HashMap<Uuid, u64> = HashMap::new();
    for row in &ballot_rows {
        if let Some(choice) = row.get::<_, Option<Uuid>>(0) {
            *stored_per_choice.entry(choice).or_default() += 1;
        }
    }
    let tallies: HashMap<Uuid, u64> = sql
        .query(
            "SELECT subject_id, sum(n)::bigint FROM tallies WHERE subject_id = ANY($1) GROUP BY subject_id",
            &[&choices.iter().copied().chain([election]).collect::<Vec<Uuid>>()],
        )
        .await
        .expect("read the tallies")
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
        .collect();

    // Judged against what the voters were told.
    let by_voter: HashMap<Uuid, &Attempt> = attempts.iter().map(|a| (a.voter, a)).collect();
    let acknowledged: Vec<(&Attempt, Uuid)> = attempts
        .iter()
        .filter_map(|a| match a.outcome {
            Outcome::Acknowledged { receipt } => Some((a, receipt)),
            _ => None,
        })
        .collect();
    let mut acknowledged_per_choice: HashMap<Uuid, u64> = HashMap::new();
    for (a, _) in &acknowledged {
        *acknowledged_per_choice.entry(a.choice).or_default() += 1;
    }
    // Missing: an acknowledged voter without participation, or fewer ballots for a choice than
    // were acknowledged for it.
    let lost = acknowledged
        .iter()
        .filter(|(a, _)| !participation.contains_key(&a.voter))
        .count() as u64
        + acknowledged_per_choice
            .iter()
            .map(|(choice, n)| {
                n.saturating_sub(stored_per_choice.get(choice).copied().unwrap_or(0))
            })
            .sum::<u64>();
    let not_open = |a: &Attempt| matches!(&a.outcome, Outcome::Refused { status: 409, code } if code == "election_not_open");
    let sent_after_close: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.first_sent > closes_at)
        .collect();
    let late_not_refused: Vec<&&Attempt> =
        sent_after_close.iter().filter(|a| !not_open(a)).collect();
    let in_flight_refused = attempts
        .iter()
        .filter(|a| a.first_sent <= closes_at && not_open(a))
        .count();
    let other_refusals: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Refused { .. }) && !not_open(a))
        .collect();
    let unknown = attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Unknown)
        .count();
    let retried = attempts.iter().filter(|a| a.tries > 1).count();
    // A stored ballot must be one a voter attempted and was not refused.
    let stored_wrongly = participation
        .keys()
        .filter(|voter| match by_voter.get(voter) {
            Some(a) => matches!(a.outcome, Outcome::Refused { .. }),
            None => true,
        })
        .count() as u64
        + stored_per_choice
            .iter()
            .map(|(choice, n)| {
                n.saturating_sub(acknowledged_per_choice.get(choice).copied().unwrap_or(0))
            })
            .sum::<u64>();

    // Counted: both backends' results (final now that voting is over) and the counters.
    let mut backend_results = Vec::new();
    for backend in &cluster.backends {
        let url = format!("{}/api/elections/{election}/results", backend.url());
        let response = client.get(&url).send().await.expect("results");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
        backend_results.push(counted(&body));
    }
    let total = ballot_rows.len() as u64;
    let drill_took = drill_started.elapsed();
    let after_kill = |at: Option<Instant>| match (timeline.fault, at) {
        (Some(fault), Some(at)) => format!("{:.2}s", at.duration_since(fault).as_secs_f64()),
        _ => "never".to_owned(),
    };
    let first_refusal_after_failover = attempts
        .iter()
        .filter(|a| not_open(a) && Some(a.answered_at) > timeline.writable)
        .map(|a| a.answered_at)
        .min();
    announce!(
        "fault drill election-close-failover: attempts={} acknowledged={} sent_after_close={} refused_after_close={} in_flight_at_close_refused={} other_refusals={} retried={} unknown={} lost={} stored={} stored_at_or_after_close={} stored_wrongly={} results_ballots={:?} tallies_ballots={} results_reads_embargoed={} results_reads_shown={} results_reads_unavailable={} took={:.1}s",
        attempts.len(),
        acknowledged.len(),
        sent_after_close.len(),
        sent_after_close.len() - late_not_refused.len(),
        in_flight_refused,
        other_refusals.len(),
        retried,
        unknown,
        lost,
        total,
        stored_after_close,
        stored_wrongly,
        backend_results.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        tallies.get(&election).copied().unwrap_or(0),
        embargoed.load(Ordering::Relaxed),
        shown.load(Ordering::Relaxed),
        unavailable.load(Ordering::Relaxed),
        drill_took.as_secs_f64(),
    );
    announce!(
        "fault drill election-close-failover: after the kill: closes_at {}, standby promoted {}, takes writes {}, monitor shows it primary {}, first refusal answered by the new primary {}; nodes accepting writes: {writable:?}",
        after_kill(Some(close_instant)),
        after_kill(timeline.promoted),
        after_kill(timeline.writable),
        after_kill(timeline.monitor_primary.as_ref().map(|(at, _)| *at)),
        after_kill(first_refusal_after_failover),
    );

    assert_eq!(
        writable,
        [timeline.new_primary(&cluster.formation).name],
        "a standby is the one primary"
    );
    let (fault, took_writes) = (
        timeline.fault.expect("killed"),
        timeline.writable.expect("the standby took writes"),
    );
    assert!(
        fault < close_instant && close_instant < took_writes,
        "the election closed while no primary took writes"
    );
    assert!(
        !acknowledged.is_empty(),
        "ballots were acknowledged before the close"
    );
    assert!(
        !sent_after_close.is_empty(),
        "ballots were sent after the close"
    );
    assert!(
        first_refusal_after_failover.is_some(),
        "the new primary refused late ballots"
    );
    assert_eq!(
        stored_after_close, 0,
        "ballots stored at or after closes_at"
    );
    assert!(
        late_not_refused.is_empty(),
        "ballots sent after closes_at not refused with 409 election_not_open: {:?}",
        &late_not_refused[..late_not_refused.len().min(5)]
    );
    assert!(
        other_refusals.is_empty(),
        "ballots refused for another reason: {:?}",
        &other_refusals[..other_refusals.len().min(5)]
    );
    assert_eq!(lost, 0, "acknowledged ballots missing from the new primary");
    assert_eq!(
        stored_wrongly, 0,
        "ballots stored that were refused or never attempted"
    );
    assert_eq!(unknown, 0, "ballots whose outcome the voter never learnt");
    assert_eq!(
        acknowledged.len() as u64,
        total,
        "every stored ballot was acknowledged (no ballot is unknown)"
    );
    for (ballots, per_choice) in &backend_results {
        assert_eq!(
            *ballots, total,
            "a backend's results count every stored ballot"
        );
        assert_eq!(
            per_choice, &stored_per_choice,
            "per choice, results equal stored"
        );
    }
    assert_eq!(tallies.get(&election).copied().unwrap_or(0), total);
    for choice in choices.iter() {
        assert_eq!(
            tallies.get(choice).copied().unwrap_or(0),
            stored_per_choice.get(choice).copied().unwrap_or(0),
            "the tally of {choice} equals its stored ballots"
        );
    }
    assert!(
        drill_took < Duration::from_secs(120),
        "the drill took {drill_took:?}"
    );
}
