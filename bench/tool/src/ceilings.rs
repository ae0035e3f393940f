//! Ceilings measured in-process: what the hardware does with the service's own work and
//! nothing else. Each loop is bounded by a deadline and by a count.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use securevote::auth::PasswordHasher;
use securevote::domain::Password;
use serde_json::json;
use uuid::Uuid;

use crate::measure::percentile_ms;

/// Stops a loop even if the clock were to misbehave.
const MAX_ITERATIONS_PER_THREAD: usize = 1_000_000;

/// argon2id verifications per second on `threads` threads, with the hash the service makes (and
/// so its parameters), each thread reusing its working memory: the most the CPUs can do.
pub fn argon2(seconds: f64, threads: usize, out: &Path) -> Result<()> {
    let password = "bench-ceiling-password";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let hash =
        runtime
            .block_on(PasswordHasher::new(1, 1).hash(
                Password::parse(password.to_owned()).map_err(|e| anyhow::anyhow!("{}", e.0))?,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash: Arc<str> = Arc::from(hash);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let hash = Arc::clone(&hash);
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("{e}"))?;
                let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
                let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                    bail!("the service's hash has no salt or output");
                };
                let mut salt_buffer = [0u8; 64];
                let salt = salt
                    .decode_b64(&mut salt_buffer)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                // The best case: working memory allocated once per thread, nothing else done.
                let mut memory = vec![Block::default(); params.block_count()];
                let mut output = vec![0u8; expected.len()];
                let mut latencies = Vec::new();
                while Instant::now() < deadline && latencies.len() < MAX_ITERATIONS_PER_THREAD {
                    let one = Instant::now();
                    argon2
                        .hash_password_into_with_memory(
                            password.as_bytes(),
                            salt,
                            &mut output,
                            &mut memory,
                        )
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    if output != expected.as_bytes() {
                        bail!("the ceiling's own hash did not verify");
                    }
                    latencies.push(one.elapsed());
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??,
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    write_result(out, latencies, elapsed, 0)
}

/// The SQLite store's ballot statements (its existing-ballot check, the election's state and
/// candidate check by the database's clock, the voter check, the INSERT and its tallies), one
/// BEGIN IMMEDIATE ... COMMIT per vote with synchronous=FULL, straight on the file,
/// `concurrency` connections, until the deadline or until its `max` voters have voted. The
/// election is the default one and `candidate` its choice, as `POST /api/votes` sends them.
pub fn sqlite(
    db: &Path,
    candidate: &str,
    concurrency: usize,
    seconds: f64,
    max: usize,
    out: &Path,
) -> Result<()> {
    let candidate = Uuid::parse_str(candidate).context("--candidate")?;
    let (election, contest) = default_election(db)?;
    let voters = create_ceiling_voters(db, max)?;
    let voters = Arc::new(voters);
    let concurrency = concurrency.max(1);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|thread| {
            let (voters, db) = (Arc::clone(&voters), db.to_owned());
            std::thread::spawn(move || -> Result<(Vec<Duration>, u64)> {
                let mut conn = rusqlite::Connection::open(&db)?;
                conn.busy_timeout(Duration::from_secs(4))?;
                conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
                let mut latencies = Vec::new();
                let mut errors = 0;
                for voter in voters.iter().skip(thread).step_by(concurrency) {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let one = Instant::now();
                    match vote(&mut conn, election, contest, *voter, candidate) {
                        Ok(()) => latencies.push(one.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
                Ok((latencies, errors))
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (some, failed) = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a vote thread panicked"))??;
        latencies.extend(some);
        errors += failed;
    }
    // Out of voters before the deadline, the rate is still over the time actually spent.
    let elapsed = started.elapsed().as_secs_f64();
    write_result(out, latencies, elapsed, errors)
}

/// The default election and its first contest.
fn default_election(db: &Path) -> Result<(Uuid, Uuid)> {
    let conn = rusqlite::Connection::open(db)?;
    let (election, contest): (String, String) = conn
        .query_row(
            "SELECT e.id, co.id FROM elections e JOIN contests co ON co.election_id = e.id
             WHERE e.is_default ORDER BY co.position LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .context("the default election")?;
    Ok((Uuid::parse_str(&election)?, Uuid::parse_str(&contest)?))
}

/// The SQLite store's election state by the database's clock (src/store/sqlite/elections.rs).
const SQLITE_EFFECTIVE_STATE: &str = "CASE
    WHEN e.state IN ('scheduled', 'open') AND e.closes_at IS NOT NULL AND e.closes_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'closed'
    WHEN e.state = 'scheduled' AND e.opens_at IS NOT NULL AND e.opens_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'open'
    ELSE e.state END";

fn vote(
    conn: &mut rusqlite::Connection,
    election: Uuid,
    contest: Uuid,
    voter: Uuid,
    candidate: Uuid,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (election_s, voter_s, candidate_s) = (
        election.to_string(),
        voter.to_string(),
        candidate.to_string(),
    );
    let existing = tx
        .prepare_cached(
            "SELECT voted_at, key_hash, request_hash FROM participation
             WHERE election_id = ?1 AND user_id = ?2",
        )?
        .query_row([&election_s, &voter_s], |_| Ok(()))
        .optional()?;
    if existing.is_some() {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    }
    let open: bool = tx
        .prepare_cached(&format!(
            "SELECT {SQLITE_EFFECTIVE_STATE} = 'open', e.eligibility = 'roll',
                    (?2 IS NULL OR EXISTS (
                      SELECT 1 FROM candidates ca JOIN contests co ON co.id = ca.contest_id
                      WHERE ca.id = ?2 AND co.election_id = ?1))
             FROM elections e WHERE e.id = ?1"
        ))?
        .query_row([&election_s, &candidate_s], |row| {
            Ok(row.get::<_, bool>(0)? && !row.get::<_, bool>(1)? && row.get::<_, bool>(2)?)
        })?;
    let voter_found = tx
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .query_row([&voter_s], |_| Ok(()))
        .optional()?
        .is_some();
    if !open || !voter_found {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let selections = json!({ contest.to_string(): [candidate] }).to_string();
    tx.prepare_cached(
        "INSERT INTO participation (election_id, user_id, voted_at, key_hash, request_hash)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        election_s,
        voter_s,
        now,
        Uuid::new_v4().as_bytes().to_vec(),
        Uuid::new_v4().as_bytes().to_vec()
    ])?;
    tx.prepare_cached(
        "INSERT INTO ballot_box (id, election_id, candidate_id, selections, weight)
         VALUES (?1, ?2, ?3, ?4, 1000000000)",
    )?
    .execute(params![
        Uuid::new_v4().to_string(),
        election_s,
        candidate_s,
        selections
    ])?;
    let mut counted = [candidate, election];
    counted.sort_unstable();
    let mut count = tx.prepare_cached(
        "INSERT INTO tallies (subject_id, shard, n) VALUES (?1, 0, 1)
         ON CONFLICT (subject_id, shard) DO UPDATE SET n = n + 1",
    )?;
    for subject in counted {
        count.execute([subject.to_string()])?;
    }
    drop(count);
    tx.commit()
}

/// Voters of the ceiling's own, so it never touches the service's.
fn create_ceiling_voters(db: &Path, count: usize) -> Result<Vec<Uuid>> {
    let mut conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let run = Uuid::new_v4().simple().to_string();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut voters = Vec::with_capacity(count);
    {
        let mut insert = tx.prepare(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, 'x', ?3)",
        )?;
        for n in 0..count {
            let id = Uuid::new_v4();
            insert.execute(params![
                id.to_string(),
                format!("ceiling-{run}-{n}@bench-ceiling.invalid"),
                now
            ])?;
            voters.push(id);
        }
    }
    tx.commit()?;
    Ok(voters)
}

fn write_result(out: &Path, mut latencies: Vec<Duration>, elapsed: f64, errors: u64) -> Result<()> {
    latencies.sort_unstable();
    let result = json!({
        "requests": latencies.len() as u64 + errors,
        "errors": errors,
        "rate": latencies.len() as f64 / elapsed,
        "p50_ms": percentile_ms(&latencies, 50.0),
        "p99_ms": percentile_ms(&latencies, 99.0),
    });
    std::fs::write(out, result.to_string()).with_context(|| format!("write {}", out.display()))
}
