//! The roll and invitation rows: the roll file, the SMTP ceiling (the service's own messages
//! handed straight to the sink with lettre, one after another) and the service's sending rate
//! read back from its outbox.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use securevote::mail::{Templates, link, sender};
use securevote::store::{ClaimedMail, MailKind};
use serde_json::json;
use uuid::Uuid;

use crate::measure::percentile_ms;

/// Stops a sending loop even if the clock were to misbehave.
const MAX_MESSAGES: usize = 1_000_000;

/// The email of roll entry `n`, in the roll file and in the ceiling's messages alike.
fn email(n: usize) -> String {
    format!("roll{n}@bench.invalid")
}

/// Writes a roll of `count` entries (`email,name,external_id,weight,groups`, every column
/// filled, weights 1 to 3, two groups each) for `securevote roll import`; and, with `copy_out`,
/// the same rows as the store keeps them (weight in nano-units, groups sorted and joined by
/// `;`), headerless, for the ceiling's `\copy` (each line is then prefixed with the election id).
pub fn roll_csv(count: usize, out: &Path, copy_out: Option<&Path>) -> Result<()> {
    let mut csv = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("create {}", out.display()))?,
    );
    let mut copy = match copy_out {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        )),
        None => None,
    };
    writeln!(csv, "email,name,external_id,weight,groups")?;
    for n in 0..count {
        let weight = 1 + n % 3;
        let (faculty, branch) = (
            format!("Faculty {}", n % 8),
            format!("Branch {:02}", n % 50),
        );
        writeln!(
            csv,
            "{},Voter {n},M{n:07},{weight},{faculty};{branch}",
            email(n)
        )?;
        if let Some(copy) = copy.as_mut() {
            // "Branch .." sorts before "Faculty ..".
            writeln!(
                copy,
                "{},Voter {n},M{n:07},{},{branch};{faculty}",
                email(n),
                weight as u64 * 1_000_000_000
            )?;
        }
    }
    csv.flush()?;
    if let Some(mut copy) = copy {
        copy.flush()?;
    }
    Ok(())
}

pub struct SmtpCeiling<'a> {
    pub url: &'a str,
    pub count: usize,
    pub from: &'a str,
    pub public_url: &'a str,
    pub title: &'a str,
    pub timezone: &'a str,
    pub out: &'a Path,
}

/// The service's invitation to roll entries 0..count (its templates, a fresh link token each,
/// the same headers and parts), built and handed to the SMTP server at `url` one after another
/// over lettre's pooled transport, as the service's sender does, with no database in between.
pub fn smtp_ceiling(args: &SmtpCeiling) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(args.url)
            .context("--url")?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let templates = Templates::load(None).context("the built-in templates")?;
        let from: Mailbox = args.from.parse().context("--from")?;
        let election_id = Uuid::new_v4();
        let mut latencies = Vec::with_capacity(args.count);
        let mut errors = 0u64;
        let started = Instant::now();
        for n in 0..args.count.min(MAX_MESSAGES) {
            let one = Instant::now();
            let mail = ClaimedMail {
                id: Uuid::new_v4(),
                kind: MailKind::Invitation,
                attempts: 1,
                email: email(n),
                name: Some(format!("Voter {n}")),
                election_id,
                election_title: args.title.to_owned(),
                timezone: args.timezone.to_owned(),
                opens_at: None,
                closes_at: None,
            };
            let (token, _hash) = sender::new_token();
            let rendered = templates.render(&mail, &link(args.public_url, &token));
            let message = Message::builder()
                .from(from.clone())
                .to(mail.email.parse()?)
                .subject(rendered.subject)
                .multipart(MultiPart::alternative_plain_html(
                    rendered.text,
                    rendered.html,
                ))?;
            match transport.send(message).await {
                Ok(_) => latencies.push(one.elapsed()),
                Err(_) => errors += 1,
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let result = json!({
            "requests": latencies.len() as u64 + errors,
            "errors": errors,
            "rate": latencies.len() as f64 / elapsed.max(1e-9),
            "p50_ms": percentile_ms(&latencies, 50.0),
            "p99_ms": percentile_ms(&latencies, 99.0),
        });
        std::fs::write(args.out, result.to_string())
            .with_context(|| format!("write {}", args.out.display()))
    })
}

/// The service's sending rate, from its outbox: the messages after the first over the time from
/// the first `sent_at` (when the SMTP server accepted the message) to the last (so the sender's
/// idle poll before it saw the queue is left out); latencies are the gaps between consecutive
/// messages (the time per message at the sender's concurrency). Fails unless `expected` messages
/// were sent, none twice and none failed.
pub fn outbox_rate(url: &str, election: &str, expected: u64, out: &Path) -> Result<()> {
    let election = Uuid::parse_str(election).context("--election")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'failed'),
                        count(*) FILTER (WHERE attempts > 1)
                 FROM outbox WHERE election_id = $1",
                &[&election],
            )
            .await?;
        let (sent, failed, retried): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if sent as u64 != expected || failed > 0 {
            bail!("the outbox has {sent} sent and {failed} failed messages, expected {expected} sent");
        }
        let times: Vec<DateTime<Utc>> = client
            .query(
                "SELECT sent_at FROM outbox WHERE election_id = $1 AND state = 'sent' ORDER BY sent_at",
                &[&election],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let (Some(first), Some(last)) = (times.first(), times.last()) else {
            bail!("no message was sent");
        };
        let elapsed = (*last - *first).num_microseconds().unwrap_or(0) as f64 / 1e6;
        let mut gaps: Vec<Duration> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).to_std().unwrap_or_default())
            .collect();
        gaps.sort_unstable();
        let result = json!({
            "requests": sent,
            "errors": 0,
            "retried": retried,
            "rate": (sent - 1).max(0) as f64 / elapsed.max(1e-9),
            "p50_ms": percentile_ms(&gaps, 50.0),
            "p99_ms": percentile_ms(&gaps, 99.0),
        });
        std::fs::write(out, result.to_string()).with_context(|| format!("write {}", out.display()))
    })
}
