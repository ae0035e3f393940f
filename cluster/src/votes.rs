//! The votes of an auto-mode failover, through NGINX: voters registered and logged in through
//! the API before the crash; after it, a vote with a fresh voter every 100 ms (at most four
//! waiting at a time), each retried with its own Idempotency-Key until acknowledged (201),
//! everything bounded by 60 s after the crash.

use crate::sys::{self, R};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A fresh vote starts this often after the crash.
pub const CADENCE: Duration = Duration::from_millis(100);
/// A vote not acknowledged is sent again (same Idempotency-Key) after this pause.
pub const RETRY_DELAY: Duration = Duration::from_millis(300);
/// At most this many votes wait for their acknowledgement at a time: during the outage about
/// MAX_PENDING / RETRY_DELAY attempts a second, not one more waiting vote every CADENCE.
pub const MAX_PENDING: usize = 4;
/// One attempt (connect, request, answer) gets this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// No vote is sent or retried later than this after the crash.
pub const BUDGET: Duration = Duration::from_secs(60);
/// Fresh votes stop this long after the first acknowledgement (the voters left stay unused).
const AFTER_FIRST_ACK: Duration = Duration::from_secs(1);

pub struct Voter {
    /// The bearer token of POST /api/auth/login.
    pub token: String,
    /// The Idempotency-Key of the voter's one vote (every retry sends the same).
    pub key: String,
}

/// The id of the first candidate of GET /api/options.
pub fn candidate(base: &str) -> R<String> {
    let url = format!("{base}/api/options");
    let (status, body) = sys::get(&url)?;
    if status != 200 {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    let options: Value = serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}"))?;
    options
        .as_array()
        .and_then(|a| a.first())
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("GET {url}: no candidate with an id in {}", body.trim()))
}

fn post_json(base: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> R<(u16, String)> {
    sys::request(
        "POST",
        &format!("{base}{path}"),
        headers,
        Some(&body.to_string()),
        Duration::from_secs(10),
    )
}

/// POST /api/auth/register then POST /api/auth/login: the voter's bearer token. A refusal that
/// passes (429 rate limited, 503 while the password hashers are busy, no answer) is retried
/// until `give_up`.
fn register_and_login(base: &str, email: &str, password: &str, give_up: Instant) -> R<String> {
    let credentials = json!({"email": email, "password": password});
    let mut registered = false;
    loop {
        let (path, expected) = if registered {
            ("/api/auth/login", 200)
        } else {
            ("/api/auth/register", 201)
        };
        let last = match post_json(base, path, &[], &credentials) {
            Ok((status, body)) if status == expected => {
                if registered {
                    let login: Value =
                        serde_json::from_str(&body).map_err(|e| format!("POST {path}: {e}"))?;
                    return login
                        .get("token")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| format!("POST {path}: no token in {body}"));
                }
                registered = true;
                continue;
            }
            Ok((status @ (429 | 502 | 503 | 504), body)) => {
                format!("HTTP {status} {}", body.trim())
            }
            Ok((status, body)) => {
                return Err(format!(
                    "POST {path} ({email}): HTTP {status} {}",
                    body.trim()
                ));
            }
            Err(e) => e,
        };
        if Instant::now() >= give_up {
            return Err(format!("POST {path} ({email}): {last}"));
        }
        thread::sleep(Duration::from_millis(500));
    }
}

/// `count` new voters, registered and logged in through the API (four at a time).
pub fn prepare(base: &str, count: usize) -> R<Vec<Voter>> {
    let run = &sys::random_hex()?[..12];
    let password = format!("failover {}", &sys::random_hex()?[..24]);
    let give_up = Instant::now() + Duration::from_secs(120);
    let workers = 4;
    let results: Vec<R<Vec<Voter>>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let password = &password;
                scope.spawn(move || {
                    (w..count)
                        .step_by(workers)
                        .map(|i| {
                            let email = format!("failover-{run}-{i}@example.org");
                            let token = register_and_login(base, &email, password, give_up)?;
                            let key = sys::random_hex()?[..32].to_owned();
                            Ok(Voter { token, key })
                        })
                        .collect::<R<Vec<Voter>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a voter thread panicked".into()))
            })
            .collect()
    });
    let mut voters = Vec::with_capacity(count);
    for result in results {
        voters.extend(result?);
    }
    Ok(voters)
}

/// One POST /api/votes attempt: the status and the body.
pub fn cast(base: &str, voter: &Voter, candidate: &str, timeout: Duration) -> R<(u16, String)> {
    let auth = format!("Bearer {}", voter.token);
    sys::request(
        "POST",
        &format!("{base}/api/votes"),
        &[("Authorization", &auth), ("Idempotency-Key", &voter.key)],
        Some(&json!({"candidate_id": candidate}).to_string()),
        timeout,
    )
}

/// What became of one vote sent after the crash; times in seconds after the crash.
pub struct Outcome {
    pub started: f64,
    pub acknowledged: Option<f64>,
    pub tries: u32,
    /// A refusal that retrying does not change (a 4xx).
    pub refused: Option<String>,
}

/// One vote until it is acknowledged, refused, or the budget after `t0` is spent.
fn vote_until_acknowledged(
    base: &str,
    voter: &Voter,
    candidate: &str,
    t0: Instant,
    first_ack: &Mutex<Option<f64>>,
) -> Outcome {
    let started = t0.elapsed().as_secs_f64();
    let mut tries = 0;
    loop {
        let left = BUDGET.saturating_sub(t0.elapsed());
        if left.is_zero() {
            return Outcome {
                started,
                acknowledged: None,
                tries,
                refused: None,
            };
        }
        tries += 1;
        match cast(base, voter, candidate, ATTEMPT_TIMEOUT.min(left)) {
            Ok((201, _)) => {
                let at = t0.elapsed().as_secs_f64();
                let mut first = first_ack.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none_or(|f| at < f) {
                    *first = Some(at);
                }
                return Outcome {
                    started,
                    acknowledged: Some(at),
                    tries,
                    refused: None,
                };
            }
            Ok((status, body))
                if (400..500).contains(&status) && status != 408 && status != 429 =>
            {
                return Outcome {
                    started,
                    acknowledged: None,
                    tries,
                    refused: Some(format!("HTTP {status} {}", body.trim())),
                };
            }
            // 5xx, 408, 429 or no answer within the attempt's timeout: again, same key.
            _ => thread::sleep(RETRY_DELAY.min(BUDGET.saturating_sub(t0.elapsed()))),
        }
    }
}

/// From `t0` (the crash) on: every CADENCE a vote with a fresh voter, each in its own thread,
/// while fewer than MAX_PENDING are unacknowledged (an outage does not pile up requests that
/// would slow the failover itself), until the voters run out, the budget is spent or
/// AFTER_FIRST_ACK after the first acknowledgement; then every vote started is waited for.
pub fn during_failover(
    base: String,
    voters: Vec<Voter>,
    candidate: String,
    t0: Instant,
) -> Vec<Outcome> {
    let first_ack = Arc::new(Mutex::new(None::<f64>));
    let pending = Arc::new(AtomicUsize::new(0));
    let base = Arc::new(base);
    let candidate = Arc::new(candidate);
    let mut handles = Vec::new();
    let mut voters = voters.into_iter();
    loop {
        let now = t0.elapsed();
        if now >= BUDGET {
            break;
        }
        let first = *first_ack.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_some_and(|f| now.as_secs_f64() > f + AFTER_FIRST_ACK.as_secs_f64()) {
            break;
        }
        if pending.load(Ordering::SeqCst) < MAX_PENDING {
            let Some(voter) = voters.next() else {
                break;
            };
            pending.fetch_add(1, Ordering::SeqCst);
            let (base, candidate, first_ack, pending) = (
                base.clone(),
                candidate.clone(),
                first_ack.clone(),
                pending.clone(),
            );
            handles.push(thread::spawn(move || {
                let outcome = vote_until_acknowledged(&base, &voter, &candidate, t0, &first_ack);
                pending.fetch_sub(1, Ordering::SeqCst);
                outcome
            }));
        }
        thread::sleep(CADENCE);
    }
    handles
        .into_iter()
        .map(|h| {
            h.join().unwrap_or(Outcome {
                started: 0.0,
                acknowledged: None,
                tries: 0,
                refused: Some("the vote's thread panicked".into()),
            })
        })
        .collect()
}
