//! Invitations are being sent while the primary dies: both backends send a roll election's
//! invitations through the outbox to a real SMTP server (aiosmtpd) at SMTP_MAX_PER_SECOND each,
//! the primary node is killed (kill -9 of its keeper and PostgreSQL) a few seconds in, and
//! pg_auto_failover promotes the standby. Afterwards, at the SMTP server and on the new primary:
//!
//! * every roll entry got its invitation: none is lost across the failover;
//! * none got two, except the documented in-flight duplicates: the messages a sender had handed
//!   to the SMTP server but not yet marked sent when the database died, sent again once their
//!   claims expired (`CLAIM_SECS`) — at most one batch per instance (src/mail/sender.rs
//!   `batch_size` at the instances' SMTP_MAX_PER_SECOND);
//! * every outbox message is `sent` (none failed, none left queued or claimed), and each voter's
//!   current link is one of the links delivered to them (a repeat's link replaces the first).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AutoTopology, Layout, Timeline};
use crate::smtp::{SmtpSink, link_token, recipient};
use crate::topology::{DATABASE, JWT_SECRET};

/// Roll entries, and each backend's sending rate: two backends send ROLL in about
/// ROLL / (2 × RATE) s, which spans the kill and the failover.
const ROLL: usize = 240;
const RATE_PER_INSTANCE: u32 = 8;
/// Messages delivered before the primary is killed.
const KILL_AFTER: usize = 40;
/// The sender's claim expiry (src/mail/sender.rs `CLAIM_SECS`), plus room.
const CLAIM_EXPIRY: Duration = Duration::from_secs(30);
/// From the failover to the last invitation: the rest at the rate, a claim expiry, and room.
const DELIVERY_LIMIT: Duration = Duration::from_secs(90);

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

async fn admin_request(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Option<(&str, String)>,
) -> Value {
    let mut request = client.post(&url).bearer_auth(token);
    request = match body {
        Some((content_type, body)) => request.header("content-type", content_type).body(body),
        None => request.json(&json!({})),
    };
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "POST {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Link tokens delivered so far, by recipient.
fn delivered(sink: &SmtpSink) -> HashMap<String, Vec<String>> {
    let mut by_recipient: HashMap<String, Vec<String>> = HashMap::new();
    for message in sink.messages() {
        by_recipient
            .entry(recipient(&message))
            .or_default()
            .push(link_token(&message).unwrap_or_default());
    }
    by_recipient
}

/// The election's outbox: sent, failed, pending (queued or claimed), retried, total.
async fn outbox(sql: &tokio_postgres::Client, election: Uuid) -> [usize; 5] {
    let row = sql
        .query_one(
            "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'failed'),
                    count(*) FILTER (WHERE state IN ('queued', 'sending')),
                    count(*) FILTER (WHERE attempts > 1), count(*)
             FROM outbox WHERE election_id = $1",
            &[&election],
        )
        .await
        .expect("read the outbox");
    std::array::from_fn(|i| row.get::<_, i64>(i) as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invitations_sent_during_a_failover_reach_every_voter_once_but_the_in_flight_ones() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    let drill_started = Instant::now();
    let sink = SmtpSink::start();
    let smtp_url = sink.url();
    let mut cluster = AutoTopology::start_with(
        Layout::Loopback,
        10,
        &[
            ("SMTP_URL", &smtp_url),
            ("MAIL_FROM", "Returning Officer <officer@example.org>"),
            ("PUBLIC_URL", "https://vote.example.org"),
            ("SMTP_MAX_PER_SECOND", &RATE_PER_INSTANCE.to_string()),
        ],
    )
    .await;
    let base = cluster.nginx.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(35))
        .build()
        .unwrap();

    // An admin; a roll election of ROLL voters, scheduled.
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
    drop(sql);
    let admin = token(admin_id);
    let created = admin_request(
        &client,
        format!("{base}/api/elections"),
        &admin,
        Some((
            "application/json",
            json!({
                "slug": "invitations-during-failover",
                "title": "Invitations during a failover",
                "eligibility": "roll",
                "results": "after_close",
                "timezone": "Europe/Paris",
                "closes_at": "2099-01-01T12:00:00Z",
                "contests": [{"title": "Strike?", "method": "plurality",
                    "choices": [{"name": "Yes"}, {"name": "No"}]}],
            })
            .to_string(),
        )),
    )
    .await;
    let election = Uuid::parse_str(created["id"].as_str().expect("election id")).unwrap();
    let mut csv = String::from("email,name\n");
    let roll: HashSet<String> = (0..ROLL).map(|i| format!("voter{i}@example.org")).collect();
    for i in 0..ROLL {
        csv.push_str(&format!("voter{i}@example.org,Voter {i}\n"));
    }
    admin_request(
        &client,
        format!("{base}/api/elections/{election}/roll"),
        &admin,
        Some(("text/csv", csv)),
    )
    .await;
    admin_request(
        &client,
        format!("{base}/api/elections/{election}/schedule"),
        &admin,
        None,
    )
    .await;

    // Send; kill the primary once KILL_AFTER have arrived.
    admin_request(
        &client,
        format!("{base}/api/elections/{election}/invitations"),
        &admin,
        None,
    )
    .await;
    let queued_at = Instant::now();
    sink.wait_for(KILL_AFTER, Duration::from_secs(30)).await;
    let mut timeline = Timeline::default();
    let (at_kill, at_writable);
    {
        let formation = &mut cluster.formation;
        let killed = formation.nodes[0].kill9();
        timeline.fault = Some(Instant::now());
        at_kill = sink.messages().len();
        announce!(
            "fault drill invitations-failover: kill -9 of node1 ({killed}) with {at_kill} of {ROLL} invitations delivered, {:.2}s after they were queued",
            queued_at.elapsed().as_secs_f64()
        );
        formation
            .watch_failover(&mut timeline, 0, None, Duration::from_secs(40))
            .await;
        at_writable = sink.messages().len();
    }
    assert!(
        at_writable < ROLL,
        "sending spanned the failover ({at_writable} of {ROLL} delivered before the standby took writes)"
    );

    // Every voter gets their invitation; then the outbox is settled (a claim left by a dead
    // transaction expires after CLAIM_SECS), and anything still to come would have come.
    let writable_at = timeline.writable.expect("the standby took writes");
    let new_primary = timeline.new_primary(&cluster.formation).cluster();
    let sql = new_primary.connect(DATABASE).await;
    let all_delivered_at;
    loop {
        let by_recipient = delivered(&sink);
        let counts = outbox(&sql, election).await;
        if by_recipient.len() >= ROLL && counts[2] == 0 {
            all_delivered_at = Instant::now();
            break;
        }
        assert!(
            writable_at.elapsed() < DELIVERY_LIMIT,
            "{} of {ROLL} voters got their invitation within {DELIVERY_LIMIT:?} of the failover; outbox sent/failed/pending/retried/total: {counts:?}",
            by_recipient.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let by_recipient = delivered(&sink);
    let [sent, failed, pending, retried, total] = outbox(&sql, election).await;
    let messages: usize = by_recipient.values().map(Vec::len).sum();
    let duplicates = messages - by_recipient.len();
    let strangers: Vec<&String> = by_recipient.keys().filter(|r| !roll.contains(*r)).collect();
    let missing = roll
        .iter()
        .filter(|r| !by_recipient.contains_key(*r))
        .count();
    // Each voter's current link is one that reached them.
    let current: HashMap<String, Option<String>> = sql
        .query(
            "SELECT email, token_hash FROM invitations WHERE election_id = $1",
            &[&election],
        )
        .await
        .expect("read the invitations")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let dead_links = roll
        .iter()
        .filter(|email| {
            let hashes: Vec<String> = by_recipient
                .get(*email)
                .map(|tokens| {
                    tokens
                        .iter()
                        .map(|t| securevote::mail::sender::token_hash(t))
                        .collect()
                })
                .unwrap_or_default();
            !current
                .get(*email)
                .and_then(|h| h.as_ref())
                .is_some_and(|h| hashes.contains(h))
        })
        .count();
    let writable = cluster.formation.writable_nodes().await;
    let drill_took = drill_started.elapsed();
    let after_kill = |at: Option<Instant>| match (timeline.fault, at) {
        (Some(fault), Some(at)) => format!("{:.2}s", at.duration_since(fault).as_secs_f64()),
        _ => "never".to_owned(),
    };
    announce!(
        "fault drill invitations-failover: roll={ROLL} delivered_before_kill={at_kill} delivered_before_writable={at_writable} voters_reached={} messages={messages} duplicates={duplicates} missing={missing} strangers={} outbox_sent={sent} outbox_failed={failed} outbox_pending={pending} outbox_retried={retried} outbox_total={total} current_link_not_delivered={dead_links} standby_takes_writes={} all_delivered={} took={:.1}s",
        by_recipient.len(),
        strangers.len(),
        after_kill(timeline.writable),
        after_kill(Some(all_delivered_at)),
        drill_took.as_secs_f64(),
    );

    assert_eq!(
        writable,
        [timeline.new_primary(&cluster.formation).name],
        "a standby is the one primary"
    );
    assert!(
        at_kill < ROLL,
        "the kill came while invitations were being sent"
    );
    assert_eq!(missing, 0, "voters whose invitation was lost");
    assert!(
        strangers.is_empty(),
        "messages to addresses not on the roll: {strangers:?}"
    );
    let bound = 2 * securevote::mail::sender::batch_size(RATE_PER_INSTANCE);
    assert!(
        duplicates <= bound,
        "at most the batch each of the two instances had handed over but not marked sent is sent twice ({bound}): {duplicates}"
    );
    assert_eq!(
        (sent, failed, pending, total),
        (ROLL, 0, 0, ROLL),
        "every outbox message is sent, once in the outbox"
    );
    assert_eq!(
        dead_links, 0,
        "voters whose current link never reached them"
    );
    assert_eq!(current.len(), ROLL, "every voter has a link");
    // A duplicate waits out its claim: the drill is bounded by it.
    assert!(
        drill_took
            < Duration::from_secs(120)
                + if duplicates > 0 {
                    CLAIM_EXPIRY
                } else {
                    Duration::ZERO
                },
        "the drill took {drill_took:?}"
    );
}
