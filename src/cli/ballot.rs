//! `securevote ballot cast`: the voter's client for scripts and tests. It fetches the voter's
//! pseudonym and the election's setup event from the server, encrypts the choices with the
//! crypto crate (the same encryption and proofs as the browser, docs/election-record.md §4),
//! posts the ballot and prints its tracker. The election hash is recomputed from the setup line,
//! so the ballot is bound to the setup the client read.
//!
//! Exit codes: 0 cast; 1 the server refused the ballot or cannot be reached; 2 a wrong argument
//! (an unknown contest or choice, values out of range).

use clap::Subcommand;
use securevote_crypto::{
    Bytes32, Contest, Event, RngNonces, SetupEvent, encrypt_ballot, event_hash, parse_event_line,
};
use serde_json::{Value, json};

use super::offline::OfflineError;

#[derive(Debug, Subcommand)]
pub enum BallotCommand {
    /// Encrypt a ballot for an encrypted election, cast it, and print its tracker.
    Cast {
        /// The service's base URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        url: String,
        /// Election id or slug.
        #[arg(long)]
        election: String,
        /// The voter's bearer token (POST /api/auth/login).
        #[arg(long)]
        token: String,
        /// `CONTEST=VALUES`, once per contest (a contest left out is blank). CONTEST is the
        /// contest's title or its position from 0. For a plurality or approval contest VALUES is
        /// the chosen choices' names (or positions), comma-separated; for a score contest it is
        /// `choice:score` pairs, comma-separated (unlisted choices score 0).
        #[arg(long = "choice")]
        choices: Vec<String>,
    },
}

fn usage(message: String) -> OfflineError {
    OfflineError { code: 2, message }
}

fn failed(message: String) -> OfflineError {
    OfflineError { code: 1, message }
}

fn position(names: &[String], wanted: &str, what: &str) -> Result<usize, OfflineError> {
    let wanted = wanted.trim();
    names
        .iter()
        .position(|n| n == wanted)
        .or_else(|| wanted.parse::<usize>().ok().filter(|&i| i < names.len()))
        .ok_or_else(|| usage(format!("--choice: no {what} {wanted:?}")))
}

/// The values per contest and choice that `--choice` arguments stand for.
fn values_of(contests: &[Contest], args: &[String]) -> Result<Vec<Vec<u64>>, OfflineError> {
    let titles: Vec<String> = contests
        .iter()
        .map(|c| match c {
            Contest::Choices { title, .. } | Contest::Score { title, .. } => title.clone(),
        })
        .collect();
    let mut values: Vec<Vec<u64>> = contests.iter().map(|c| vec![0; c.choice_count()]).collect();
    for arg in args {
        let (contest, list) = arg
            .split_once('=')
            .ok_or_else(|| usage(format!("--choice {arg:?}: expected CONTEST=VALUES")))?;
        let ci = position(&titles, contest, "contest")?;
        let (names, score) = match &contests[ci] {
            Contest::Choices { choices, .. } => (choices, false),
            Contest::Score { choices, .. } => (choices, true),
        };
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if score {
                let (name, value) = item.rsplit_once(':').ok_or_else(|| {
                    usage(format!(
                        "--choice {arg:?}: a score contest takes choice:score"
                    ))
                })?;
                let value: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| usage(format!("--choice {arg:?}: {value:?} is not a score")))?;
                values[ci][position(names, name, "choice")?] = value;
            } else {
                values[ci][position(names, item, "choice")?] = 1;
            }
        }
        contests[ci]
            .check_values(&values[ci])
            .map_err(|e| usage(format!("--choice {arg:?}: {e}")))?;
    }
    Ok(values)
}

async fn cast(
    url: &str,
    election: &str,
    token: &str,
    args: &[String],
) -> Result<String, OfflineError> {
    let base = url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| failed(format!("the server's answer is not JSON: {e}")))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(failed(format!(
                "the server refused ({status}): {} {}",
                body["error"]["code"].as_str().unwrap_or("?"),
                body["error"]["message"].as_str().unwrap_or("")
            )))
        }
    };
    let credential = answer(
        client
            .get(format!("{base}/api/elections/{election}/pseudonym"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| failed(format!("cannot reach {base}: {e}")))?,
    )
    .await?;
    let line = credential["setup"]
        .as_str()
        .ok_or_else(|| failed("the server sent no setup event".into()))?;
    let Ok((_, _, Event::Setup(setup))) = parse_event_line(line) else {
        return Err(failed("the server's setup event does not parse".into()));
    };
    let setup: SetupEvent = setup;
    let pseudonym = credential["pseudonym"]
        .as_str()
        .and_then(|p| Bytes32::from_hex(p).ok())
        .ok_or_else(|| failed("the server sent no pseudonym".into()))?;
    if !setup.roll.contains(&pseudonym) {
        return Err(failed(
            "the pseudonym is not on the setup event's roll".into(),
        ));
    }
    let context = setup
        .context(event_hash(line))
        .map_err(|e| failed(format!("the setup event: {e}")))?;
    let values = values_of(&setup.election.contests, args)?;
    let (ballot, _) = encrypt_ballot(
        &context,
        &pseudonym,
        &values,
        &mut RngNonces(&mut rand::rngs::OsRng),
    )
    .map_err(|e| usage(format!("--choice: {e}")))?;
    let receipt = answer(
        client
            .post(format!("{base}/api/elections/{election}/ballots"))
            .bearer_auth(token)
            .json(&json!({ "encrypted": ballot }))
            .send()
            .await
            .map_err(|e| failed(format!("cannot reach {base}: {e}")))?,
    )
    .await?;
    let tracker = receipt["tracker"]
        .as_str()
        .ok_or_else(|| failed("the server's receipt has no tracker".into()))?;
    Ok(format!("{tracker}\n"))
}

/// Runs `securevote ballot …` on its own small runtime.
pub(super) fn run(command: &BallotCommand) -> Result<String, OfflineError> {
    let BallotCommand::Cast {
        url,
        election,
        token,
        choices,
    } = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(cast(url, election, token, choices))
}
