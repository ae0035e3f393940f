//! The encrypted-election rows (issue 13): the key ceremony and the voters' ballots for casting
//! through the API, proof verification against the raw cost of its scalar multiplications, and
//! synthetic but valid election records for `securevote verify`. Everything cryptographic is
//! securevote-crypto's own code: the same ballots, proofs and record lines as the service's.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::OsRng;
use securevote::auth::TokenKeys;
use securevote::config::SecretString;
use securevote::elections::encrypted::{pseudonym, pseudonym_key};
use securevote_crypto::{
    Ballot, BallotEvent, Board, Bytes32, CeremonyParams, Ciphertext, CloseEvent, Contest, Election,
    ElectionContext, EncryptedTally, Event, ResultEvent, RngNonces, SetupEvent, TallyDecryption,
    TrusteeKeyShare, TrusteePublicKey, TrusteeSecret, TrusteeSet, encrypt_ballot, encrypt_shares,
    event_hash, parse_event_line, partial_decrypt, receive_shares, sha256, trustee_keygen,
    verify_ballot,
};
use serde_json::json;
use uuid::Uuid;

use crate::setup::BENCH_EMAIL_PATTERN;

/// The ballot of every encrypted row: one plurality contest of this many choices.
pub const CHOICES: usize = 5;
const TRUSTEES: u64 = 3;
const THRESHOLD: u64 = 2;
/// Bounds every timing loop whatever the clock says.
const MAX_ITERATIONS: u64 = 10_000_000;
const TOKEN_TTL: Duration = Duration::from_secs(4 * 3600);

fn params(election_id: &str) -> CeremonyParams {
    CeremonyParams {
        election_id: election_id.to_owned(),
        trustees: TRUSTEES,
        threshold: THRESHOLD,
    }
}

/// The values of voter `n`: one of the five choices, in turn.
fn values(n: usize) -> Vec<Vec<u64>> {
    let mut row = vec![0; CHOICES];
    row[n % CHOICES] = 1;
    vec![row]
}

/// The three trustees of a 2-of-3 key, as `securevote trustee keygen|shares|finish` make it.
fn trustees(election_id: &str) -> Result<(Vec<TrusteeSecret>, Vec<TrusteePublicKey>)> {
    let mut secrets = Vec::new();
    let mut publics = Vec::new();
    for i in 1..=TRUSTEES {
        let (secret, public) = trustee_keygen(&params(election_id), i, &mut RngNonces(&mut OsRng))
            .map_err(|e| anyhow::anyhow!("trustee keygen: {e}"))?;
        secrets.push(secret);
        publics.push(public);
    }
    Ok((secrets, publics))
}

/// Writes what the trustees upload during the ceremony of ELECTION: `trustee-{i}.json` (public
/// keys) and `shares.jsonl` (every encrypted share, one per line), for bench/run to POST.
pub fn ceremony(election_id: &str, out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir)?;
    let (secrets, publics) = trustees(election_id)?;
    for public in &publics {
        std::fs::write(
            out_dir.join(format!("trustee-{}.json", public.index)),
            serde_json::to_string(public)?,
        )?;
    }
    let mut shares = BufWriter::new(std::fs::File::create(out_dir.join("shares.jsonl"))?);
    for secret in &secrets {
        for share in encrypt_shares(secret, &publics, &mut RngNonces(&mut OsRng))
            .map_err(|e| anyhow::anyhow!("encrypt shares: {e}"))?
        {
            writeln!(shares, "{}", serde_json::to_string(&share)?)?;
        }
    }
    shares.flush()?;
    Ok(())
}

/// The first COUNT bench voters (id, email), in the order of `benchtool tokens`.
fn voters(url: &str, count: usize) -> Result<Vec<(Uuid, String)>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .context("connect to PostgreSQL")?;
        tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT id, email FROM users WHERE email LIKE $1 ORDER BY created_at, email LIMIT $2",
                &[&BENCH_EMAIL_PATTERN, &(count as i64)],
            )
            .await?;
        let voters: Vec<(Uuid, String)> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        if voters.len() < count {
            bail!("{} bench voters in the database, {count} wanted", voters.len());
        }
        Ok(voters)
    })
}

/// The roll of the encrypted election: the first COUNT bench voters.
pub fn roll(url: &str, count: usize, out: &Path) -> Result<()> {
    let mut csv = BufWriter::new(std::fs::File::create(out)?);
    writeln!(csv, "email,name,external_id,weight,groups")?;
    for (n, (_, email)) in voters(url, count)?.iter().enumerate() {
        writeln!(csv, "{email},Voter {n},,1,")?;
    }
    csv.flush()?;
    Ok(())
}

/// Runs `work(n)` for n in 0..count on every core, in order of n.
fn parallel<T: Send>(count: usize, work: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let work = &work;
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(work)
                        .collect::<Result<Vec<T>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(count);
        for handle in handles {
            out.extend(
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a worker panicked"))??,
            );
        }
        Ok(out)
    })
}

fn context_of_setup_line(line: &str) -> Result<ElectionContext> {
    let (_, _, event) = parse_event_line(line.trim_end()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Event::Setup(setup) = event else {
        bail!("the first board line is not the setup event");
    };
    setup
        .context(event_hash(line.trim_end()))
        .map_err(|e| anyhow::anyhow!("setup: {e}"))
}

/// The ballots of the first COUNT bench voters for the election whose setup line is in SETUP:
/// each voter's login token (a line of TOKENS_OUT) and the body of its POST
/// /api/elections/{id}/ballots (`{"encrypted": ballot}`, the same line of BODIES_OUT), encrypted
/// for the voter's pseudonym (derived from SECRET as the service derives it) on every core.
pub fn ballots(
    url: &str,
    secret: &str,
    election_id: &str,
    setup: &Path,
    count: usize,
    tokens_out: &Path,
    bodies_out: &Path,
) -> Result<()> {
    let line = std::fs::read_to_string(setup)?;
    let context = context_of_setup_line(&line)?;
    let voters = voters(url, count)?;
    let key = pseudonym_key(secret.as_bytes());
    let started = Instant::now();
    let bodies = parallel(count, |n| {
        let mine = pseudonym(&key, election_id, &voters[n].1);
        let (ballot, _) = encrypt_ballot(&context, &mine, &values(n), &mut RngNonces(&mut OsRng))
            .map_err(|e| anyhow::anyhow!("encrypt: {e}"))?;
        Ok(serde_json::to_string(&json!({ "encrypted": ballot }))?)
    })?;
    let keys = TokenKeys::new(&SecretString::from(secret), TOKEN_TTL);
    let mut tokens = BufWriter::new(std::fs::File::create(tokens_out)?);
    let mut out = BufWriter::new(std::fs::File::create(bodies_out)?);
    for ((id, _), body) in voters.iter().zip(&bodies) {
        writeln!(tokens, "{}", keys.issue(*id).token)?;
        writeln!(out, "{body}")?;
    }
    tokens.flush()?;
    out.flush()?;
    eprintln!(
        "benchtool: {count} encrypted ballots in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn bench_election(id: &str) -> Election {
    Election {
        id: id.to_owned(),
        title: "Benchmark encrypted".into(),
        contests: vec![Contest::Choices {
            title: "Ballot".into(),
            choices: (1..=CHOICES).map(|n| format!("Choice {n}")).collect(),
            min: 1,
            max: 1,
        }],
    }
}

fn roll_of(count: usize) -> Vec<Bytes32> {
    (0..count as u64)
        .map(|n| sha256(&n.to_le_bytes()))
        .collect()
}

/// Scalar multiplications of verifying one ballot of CHOICES 0/1 choices and a sum proof of
/// ONE pair (plurality: exactly one choice), counted as the equations of §4.3 are written: each
/// (challenge, response) pair recomputes `a = r·G − c·α` and `b = r·PK − c·(β − v·G)`, four
/// multiplications by a full-size scalar (`v·G` with v in {0, 1} is not one).
pub fn scalar_mults_per_ballot() -> u64 {
    let pairs = CHOICES as u64 * 2 + 1;
    pairs * 4
}

/// Verification of one ballot (of the bench election) in a loop, on one thread, vs the raw cost
/// of its scalar multiplications: one variable-base multiplication on ristretto255 (a random
/// point by a random full-size scalar, constant time as `point * scalar`), timed in a loop half
/// just before and half just after, times their number. Also the encryption time (with proofs)
/// of the same ballot, the reference of the browser's row.
pub fn proof_bench(seconds: f64, verify_out: &Path, encrypt_out: &Path) -> Result<()> {
    let (_, publics) = trustees("bench-proofs")?;
    let roll = roll_of(1);
    let setup = SetupEvent::new(
        bench_election("bench-proofs"),
        THRESHOLD,
        publics,
        roll.clone(),
    )
    .map_err(|e| anyhow::anyhow!("setup: {e}"))?;
    let mut board = Board::new();
    let line = board.append(&Event::Setup(setup.clone())).to_owned();
    let context = setup
        .context(event_hash(&line))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let budget = Duration::from_secs_f64(seconds.max(0.05));
    let quarter = budget / 4;
    let mul_before = time_scalar_mult(quarter);
    let (ballot, _) = encrypt_ballot(&context, &roll[0], &values(0), &mut RngNonces(&mut OsRng))
        .map_err(|e| anyhow::anyhow!("encrypt: {e}"))?;
    let verify = time_loop(budget / 2, || {
        verify_ballot(&context, &ballot, Some(&roll[0])).is_ok()
    })?;
    let mul_after = time_scalar_mult(quarter);
    let encrypt = time_loop(quarter, || {
        encrypt_ballot(&context, &roll[0], &values(1), &mut RngNonces(&mut OsRng)).is_ok()
    })?;
    let mul_ns = (mul_before.0 + mul_after.0) / (mul_before.1 + mul_after.1) as f64;
    let mults = scalar_mults_per_ballot();
    let raw_ms = mults as f64 * mul_ns / 1e6;
    let verify_ms = verify.0 / verify.1 as f64 / 1e6;
    let encrypt_ms = encrypt.0 / encrypt.1 as f64 / 1e6;
    let one = |rate: f64, n: u64, ms: f64| json!({ "rate": rate, "requests": n, "errors": 0, "p50_ms": ms, "p99_ms": ms });
    std::fs::write(
        verify_out.with_extension("ceiling.json"),
        one(1e3 / raw_ms, mul_before.1 + mul_after.1, raw_ms).to_string(),
    )?;
    std::fs::write(
        verify_out,
        one(1e3 / verify_ms, verify.1, verify_ms).to_string(),
    )?;
    std::fs::write(
        encrypt_out,
        one(1e3 / encrypt_ms, encrypt.1, encrypt_ms).to_string(),
    )?;
    println!(
        "verify one ballot ({CHOICES} choices, {} proof pairs): {verify_ms:.3} ms; one variable-base \
         scalar multiplication: {:.1} µs; {mults} of them: {raw_ms:.3} ms; raw / verify = {:.2}; \
         encrypt with proofs: {encrypt_ms:.3} ms",
        CHOICES * 2 + 1,
        mul_ns / 1e3,
        raw_ms / verify_ms
    );
    Ok(())
}

/// Nanoseconds of `step` over at least `budget` (and at least 10 calls), and the calls made.
fn time_loop(budget: Duration, mut step: impl FnMut() -> bool) -> Result<(f64, u64)> {
    let started = Instant::now();
    let mut n = 0u64;
    while (n < 10 || started.elapsed() < budget) && n < MAX_ITERATIONS {
        if !step() {
            bail!("a timed step failed");
        }
        n += 1;
    }
    Ok((started.elapsed().as_nanos() as f64, n))
}

fn time_scalar_mult(budget: Duration) -> (f64, u64) {
    let mut point = RistrettoPoint::random(&mut OsRng);
    let scalars: Vec<Scalar> = (0..64).map(|_| Scalar::random(&mut OsRng)).collect();
    let started = Instant::now();
    let mut n = 0u64;
    while (n < 100 || started.elapsed() < budget) && n < MAX_ITERATIONS {
        // Each product feeds the next: nothing to hoist or skip.
        point = std::hint::black_box(point * scalars[(n % 64) as usize]);
        n += 1;
    }
    std::hint::black_box(point);
    (started.elapsed().as_nanos() as f64, n)
}

/// Writes a complete record of an election with BALLOTS ballots, as the service writes it: the
/// setup (a 2-of-3 key from an in-process ceremony, a roll of BALLOTS pseudonyms), one ballot per
/// voter (encrypted on every core), the close, the encrypted tally, two trustees'
/// partial decryptions with their proofs and the result.
pub fn record(ballots: usize, out: &Path) -> Result<()> {
    let started = Instant::now();
    let id = Uuid::new_v4().to_string();
    let (secrets, publics) = trustees(&id)?;
    let mut received: Vec<Vec<securevote_crypto::EncryptedShare>> =
        vec![Vec::new(); TRUSTEES as usize];
    for secret in &secrets {
        for share in encrypt_shares(secret, &publics, &mut RngNonces(&mut OsRng))
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            received[(share.to - 1) as usize].push(share);
        }
    }
    let key_shares: Vec<TrusteeKeyShare> = secrets
        .iter()
        .zip(&received)
        .map(|(secret, mine)| receive_shares(secret, &publics, mine))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let roll = roll_of(ballots);
    let setup = SetupEvent::new(
        bench_election(&id),
        THRESHOLD,
        publics.clone(),
        roll.clone(),
    )
    .map_err(|e| anyhow::anyhow!("setup: {e}"))?;
    let mut board = Board::new();
    let line = board.append(&Event::Setup(setup.clone())).to_owned();
    let context = setup
        .context(event_hash(&line))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Not verified here (the verifier does that, and the decrypted result below must be what
    // was cast): the tally is the sum of the ciphertexts as written, §5.1's equation.
    let cast = parallel(ballots, |n| {
        let (ballot, _): (Ballot, _) =
            encrypt_ballot(&context, &roll[n], &values(n), &mut RngNonces(&mut OsRng))
                .map_err(|e| anyhow::anyhow!("encrypt: {e}"))?;
        Ok(ballot)
    })?;
    let mut sums = vec![(RistrettoPoint::identity(), RistrettoPoint::identity()); CHOICES];
    for ballot in cast {
        for (sum, choice) in sums.iter_mut().zip(&ballot.contests[0].choices) {
            sum.0 += choice.alpha.point().map_err(|e| anyhow::anyhow!("{e}"))?;
            sum.1 += choice.beta.point().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let tracker = ballot.tracker().display();
        board.append(&Event::Ballot(BallotEvent {
            ballot,
            tracker,
            supersedes: None,
        }));
    }
    board.append(&Event::Close(CloseEvent {
        ballots: ballots as u64,
        counted: ballots as u64,
    }));
    let tally = EncryptedTally {
        counted: ballots as u64,
        contests: vec![
            sums.iter()
                .map(|(alpha, beta)| Ciphertext {
                    alpha: Bytes32::from_point(alpha),
                    beta: Bytes32::from_point(beta),
                })
                .collect(),
        ],
    };
    board.append(&Event::Tally(tally.clone()));
    let set =
        TrusteeSet::new(&setup.ceremony_params(), &publics).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut decryption = TallyDecryption::new(*context.election_hash(), set, tally.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for share in key_shares.iter().take(THRESHOLD as usize) {
        let partial = partial_decrypt(
            context.election_hash(),
            share,
            &tally,
            &mut RngNonces(&mut OsRng),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        decryption
            .add(&partial)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        board.append(&Event::PartialDecryption(partial));
    }
    let result = decryption
        .combine(context.contests())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let expected: Vec<u64> = (0..CHOICES)
        .map(|c| ((ballots + CHOICES - 1 - c) / CHOICES) as u64)
        .collect();
    if result != vec![expected.clone()] {
        bail!("the decrypted result {result:?} is not the {expected:?} cast");
    }
    board.append(&Event::Result(ResultEvent { contests: result }));
    std::fs::write(out, board.into_record().to_jsonl())
        .with_context(|| format!("write {}", out.display()))?;
    eprintln!(
        "benchtool: record of {ballots} ballots in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_record_verifies_and_counts_what_was_cast() {
        let dir = std::env::temp_dir().join(format!("benchtool-record-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("record.jsonl");
        record(7, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let verified =
            securevote_crypto::verify_record(&securevote_crypto::Record::from_jsonl(&text))
                .unwrap();
        assert_eq!(verified.ballots, 7);
        assert_eq!(verified.result, Some(vec![vec![2, 2, 1, 1, 1]]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
