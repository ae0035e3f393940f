//! The bulletin board (§6): hash-chained JSON Lines events, and the verifier of a whole record.

use std::collections::{HashMap, HashSet};

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ballot::{Ballot, Reveal, VerifiedBallot, verify_ballot, verify_reveal};
use crate::election::{Election, ElectionContext};
use crate::encoding::{ByteHash, Bytes32, sha256};
use crate::error::{BallotError, CeremonyError};
use crate::tally::{Ciphertext, EncryptedTally, PartialDecryption, TallyDecryption};
use crate::trustee::{CeremonyParams, TrusteePublicKey, TrusteeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupEvent {
    pub election: Election,
    pub threshold: u64,
    pub trustees: Vec<TrusteePublicKey>,
    pub public_key: Bytes32,
    pub roll: Vec<Bytes32>,
    pub roll_fingerprint: Bytes32,
}

/// `Hb("securevote/v1/roll"; p_1, …, p_N)` (§6.3).
pub fn roll_fingerprint(roll: &[Bytes32]) -> Bytes32 {
    let mut hash = ByteHash::new("securevote/v1/roll");
    for pseudonym in roll {
        hash.item(pseudonym.as_bytes());
    }
    hash.bytes32()
}

impl SetupEvent {
    /// The setup event of an election whose key ceremony is complete: checks the election and the
    /// trustees' keys, computes the public key, sorts the roll and fingerprints it.
    pub fn new(
        election: Election,
        threshold: u64,
        mut trustees: Vec<TrusteePublicKey>,
        mut roll: Vec<Bytes32>,
    ) -> Result<Self, CeremonyError> {
        election.validate().map_err(CeremonyError::Parameters)?;
        trustees.sort_by_key(|t| t.index);
        let params = CeremonyParams {
            election_id: election.id.clone(),
            trustees: trustees.len() as u64,
            threshold,
        };
        let set = TrusteeSet::new(&params, &trustees)?;
        roll.sort();
        let before = roll.len();
        roll.dedup();
        if roll.len() != before {
            return Err(CeremonyError::Parameters(
                "the roll has duplicate pseudonyms".into(),
            ));
        }
        Ok(SetupEvent {
            election,
            threshold,
            trustees,
            public_key: set.public_key_bytes(),
            roll_fingerprint: roll_fingerprint(&roll),
            roll,
        })
    }

    pub fn ceremony_params(&self) -> CeremonyParams {
        CeremonyParams {
            election_id: self.election.id.clone(),
            trustees: self.trustees.len() as u64,
            threshold: self.threshold,
        }
    }

    /// The context ballots are encrypted and verified in; `election_hash` is the event hash of this
    /// setup event's line.
    pub fn context(&self, election_hash: Bytes32) -> Result<ElectionContext, String> {
        ElectionContext::new(
            election_hash,
            &self.public_key,
            self.election.contests.clone(),
        )
        .map_err(|e| format!("public key: {e}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotEvent {
    pub ballot: Ballot,
    pub tracker: String,
    pub supersedes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoiledEvent {
    pub ballot: Ballot,
    pub tracker: String,
    pub reveal: Reveal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseEvent {
    pub ballots: u64,
    pub counted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultEvent {
    pub contests: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Setup(SetupEvent),
    Ballot(BallotEvent),
    Spoiled(SpoiledEvent),
    Close(CloseEvent),
    Tally(EncryptedTally),
    PartialDecryption(PartialDecryption),
    Result(ResultEvent),
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Setup(_) => "setup",
            Event::Ballot(_) => "ballot",
            Event::Spoiled(_) => "spoiled",
            Event::Close(_) => "close",
            Event::Tally(_) => "tally",
            Event::PartialDecryption(_) => "partial_decryption",
            Event::Result(_) => "result",
        }
    }

    fn body(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Event::Setup(e) => serde_json::to_value(e),
            Event::Ballot(e) => serde_json::to_value(e),
            Event::Spoiled(e) => serde_json::to_value(e),
            Event::Close(e) => serde_json::to_value(e),
            Event::Tally(e) => serde_json::to_value(e),
            Event::PartialDecryption(e) => serde_json::to_value(e),
            Event::Result(e) => serde_json::to_value(e),
        }
    }
}

/// The line of event number `seq` whose predecessor's event hash is `prev` (§6.1): `seq`, `prev`
/// and `type` first, then the event's own fields. Its event hash is `sha256(line)`.
pub fn event_line(seq: u64, prev: &Bytes32, event: &Event) -> String {
    let mut line = format!(
        "{{\"seq\":{seq},\"prev\":\"{}\",\"type\":\"{}\"",
        prev.to_hex(),
        event.type_name()
    );
    // Every event body is a JSON object of plain data: serialising it cannot fail.
    if let Ok(serde_json::Value::Object(fields)) = event.body() {
        for (key, value) in fields {
            line.push(',');
            line.push_str(&serde_json::Value::String(key).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
    }
    line.push('}');
    line
}

/// The event hash of a line.
pub fn event_hash(line: &str) -> Bytes32 {
    sha256(line.as_bytes())
}

/// Reads one line of the board: its `seq`, its `prev` and the typed event. Errors name the check
/// (`format`) as the verifier would.
pub fn parse_event_line(line: &str) -> Result<(Option<u64>, Option<Bytes32>, Event), VerifyError> {
    let at = |detail: String| VerifyError {
        check: Check::Format,
        seq: None,
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err(at("an event is a JSON object".into()));
    };
    let seq = fields.remove("seq").and_then(|v| v.as_u64());
    let prev = fields
        .remove("prev")
        .and_then(|v| v.as_str().and_then(|s| Bytes32::from_hex(s).ok()));
    let kind = match fields.remove("type") {
        Some(serde_json::Value::String(kind)) => kind,
        _ => return Err(at("missing type".into())),
    };
    let rest = serde_json::Value::Object(fields);
    fn typed<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, VerifyError> {
        serde_json::from_value(value).map_err(|e| VerifyError {
            check: Check::Format,
            seq: None,
            detail: e.to_string(),
        })
    }
    let event = match kind.as_str() {
        "setup" => Event::Setup(typed(rest)?),
        "ballot" => Event::Ballot(typed(rest)?),
        "spoiled" => Event::Spoiled(typed(rest)?),
        "close" => Event::Close(typed(rest)?),
        "tally" => Event::Tally(typed(rest)?),
        "partial_decryption" => Event::PartialDecryption(typed(rest)?),
        "result" => Event::Result(typed(rest)?),
        other => return Err(at(format!("unknown event type {other:?}"))),
    };
    Ok((seq, prev, event))
}

/// The hash that precedes event 0.
pub const GENESIS_PREV: Bytes32 = Bytes32([0; 32]);

/// An appender for tests, the CLI and the service: keeps the head and numbers the events.
#[derive(Debug, Clone, Default)]
pub struct Board {
    lines: Vec<String>,
}

impl Board {
    pub fn new() -> Self {
        Board::default()
    }

    pub fn head_hash(&self) -> Bytes32 {
        self.lines.last().map_or(GENESIS_PREV, |l| event_hash(l))
    }

    pub fn append(&mut self, event: &Event) -> &str {
        let line = event_line(self.lines.len() as u64, &self.head_hash(), event);
        self.lines.push(line);
        self.lines.last().map_or("", String::as_str)
    }

    pub fn into_record(self) -> Record {
        Record { lines: self.lines }
    }
}

/// An election record: its lines exactly as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lines: Vec<String>,
}

impl Record {
    /// Reads a JSON Lines archive; a final `\n` is optional.
    pub fn from_jsonl(text: &str) -> Self {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let lines = if text.is_empty() {
            Vec::new()
        } else {
            text.split('\n').map(str::to_owned).collect()
        };
        Record { lines }
    }

    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    pub fn head_hash(&self) -> Bytes32 {
        self.lines.last().map_or(GENESIS_PREV, |l| event_hash(l))
    }
}

/// The named checks of §6.10, in the words the verifier reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    Format,
    Chain,
    Structure,
    Setup,
    Roll,
    BallotProofs,
    Tracker,
    OneBallotPerPseudonym,
    Spoiled,
    Close,
    HomomorphicSums,
    DecryptionProofs,
    Result,
}

impl Check {
    pub fn name(&self) -> &'static str {
        match self {
            Check::Format => "format",
            Check::Chain => "chain",
            Check::Structure => "structure",
            Check::Setup => "setup",
            Check::Roll => "roll",
            Check::BallotProofs => "ballot_proofs",
            Check::Tracker => "tracker",
            Check::OneBallotPerPseudonym => "one_ballot_per_pseudonym",
            Check::Spoiled => "spoiled",
            Check::Close => "close",
            Check::HomomorphicSums => "homomorphic_sums",
            Check::DecryptionProofs => "decryption_proofs",
            Check::Result => "result",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The first failed check of a record, with the event (line number) where it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("check {check} failed{}: {detail}", .seq.map(|s| format!(" at event {s}")).unwrap_or_default())]
pub struct VerifyError {
    pub check: Check,
    pub seq: Option<u64>,
    pub detail: String,
}

fn fail(check: Check, seq: u64, detail: impl Into<String>) -> VerifyError {
    VerifyError {
        check,
        seq: Some(seq),
        detail: detail.into(),
    }
}

/// What a verified record establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResult {
    pub election_hash: Bytes32,
    pub head_hash: Bytes32,
    pub election: Election,
    pub events: u64,
    /// Number of `ballot` events on the board.
    pub ballots: u64,
    /// Trackers of the counted ballots (the last of each pseudonym), in board order.
    pub counted_trackers: Vec<String>,
    /// Trackers of ballots replaced by a later ballot of the same voter.
    pub superseded_trackers: Vec<String>,
    pub spoiled_trackers: Vec<String>,
    /// `Some` once the result event is on the board.
    pub result: Option<Vec<Vec<u64>>>,
}

impl VerifiedResult {
    pub fn is_complete(&self) -> bool {
        self.result.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    Voting,
    Closed,
    Tallied,
    Done,
}

struct Counted {
    seq: u64,
    tracker: String,
    ciphertexts: Vec<Vec<(Bytes32, Bytes32)>>,
}

/// Verifies a complete record: every check of §6.10 and the presence of the result.
pub fn verify_record(record: &Record) -> Result<VerifiedResult, VerifyError> {
    let verified = verify_board(record)?;
    if !verified.is_complete() {
        return Err(VerifyError {
            check: Check::Structure,
            seq: None,
            detail: "the record ends before the result event".into(),
        });
    }
    Ok(verified)
}

/// Lines parsed, and their ballots' proofs checked, ahead of the in-order pass, a window at a
/// time (so memory stays bounded whatever the record's size): the setup line alone, then windows
/// doubling from one line up to this many (so even a small record spans several).
const AHEAD: usize = 2048;

/// A line's outcomes computed ahead: its parse and, for a ballot once the setup is known, the
/// ballot's verification (§6.10's ballot_proofs).
struct Ahead {
    parsed: Result<(Option<u64>, Option<Bytes32>, Event), VerifyError>,
    proofs: Option<Result<VerifiedBallot, BallotError>>,
}

/// Parses `lines` and verifies their ballots against `context`, on every available core. Pure
/// functions of each line alone, so the in-order pass that uses them reports exactly what it would
/// have computed itself, and the first failed check is still the first in board order.
fn look_ahead(lines: &[String], context: Option<&ElectionContext>) -> Vec<Ahead> {
    let work = |line: &String| {
        let parsed = parse_event_line(line);
        let proofs = match (&parsed, context) {
            (Ok((_, _, Event::Ballot(event))), Some(context)) => {
                Some(verify_ballot(context, &event.ballot, None))
            }
            _ => None,
        };
        Ahead { parsed, proofs }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(lines.len());
    if threads <= 1 {
        return lines.iter().map(work).collect();
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(lines.len().div_ceil(threads))
            .map(|part| scope.spawn(move || part.iter().map(work).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Verifies a record or a board in progress (any prefix of §6.2).
pub fn verify_board(record: &Record) -> Result<VerifiedResult, VerifyError> {
    let mut prev = GENESIS_PREV;
    let mut stage = Stage::Start;
    let mut setup: Option<(SetupEvent, ElectionContext, HashSet<Bytes32>)> = None;
    let mut election_hash = GENESIS_PREV;
    let mut counted: HashMap<Bytes32, Counted> = HashMap::new();
    let mut cast_trackers: HashSet<String> = HashSet::new();
    let mut spoiled_trackers: Vec<String> = Vec::new();
    let mut spoiled_set: HashSet<String> = HashSet::new();
    let mut superseded: Vec<String> = Vec::new();
    let mut sums: Vec<Vec<(RistrettoPoint, RistrettoPoint)>> = Vec::new();
    let mut ballots = 0u64;
    let mut decryption: Option<TallyDecryption> = None;
    let mut result = None;

    let mut ahead = Vec::new().into_iter();
    let (mut window_end, mut window) = (0, 1);
    for (index, line) in record.lines.iter().enumerate() {
        let seq = index as u64;
        if index == window_end {
            // The first window is the setup line alone: its context lets every later window's
            // ballots be verified ahead.
            window_end = (index + window).min(record.lines.len());
            window = (window * 2).min(AHEAD);
            let context = setup.as_ref().map(|(_, context, _)| context);
            ahead = look_ahead(&record.lines[index..window_end], context).into_iter();
        }
        let Some(Ahead { parsed, proofs }) = ahead.next() else {
            return Err(fail(
                Check::Format,
                seq,
                "internal: no outcome for the line",
            ));
        };
        let (line_seq, line_prev, event) = parsed.map_err(|mut e| {
            e.seq = Some(seq);
            e
        })?;
        if line_seq != Some(seq) {
            return Err(fail(
                Check::Chain,
                seq,
                format!("seq is {line_seq:?}, expected {seq}"),
            ));
        }
        if line_prev != Some(prev) {
            return Err(fail(
                Check::Chain,
                seq,
                "prev is not the hash of the previous event",
            ));
        }
        prev = event_hash(line);
        let kind = event.type_name();
        match (event, stage) {
            (Event::Setup(event), Stage::Start) => {
                election_hash = prev;
                let context = check_setup(&event, election_hash, seq)?;
                sums = context
                    .contests()
                    .iter()
                    .map(|c| {
                        vec![
                            (RistrettoPoint::identity(), RistrettoPoint::identity());
                            c.choice_count()
                        ]
                    })
                    .collect();
                let roll = event.roll.iter().copied().collect();
                setup = Some((event, context, roll));
                stage = Stage::Voting;
            }
            (Event::Ballot(event), Stage::Voting) => {
                let Some((_, context, roll)) = &setup else {
                    return Err(fail(Check::Structure, seq, "no setup"));
                };
                let verified = proofs
                    .unwrap_or_else(|| verify_ballot(context, &event.ballot, None))
                    .map_err(|e| fail(Check::BallotProofs, seq, e.to_string()))?;
                if !roll.contains(&verified.pseudonym) {
                    return Err(fail(
                        Check::Roll,
                        seq,
                        "the ballot's pseudonym is not on the roll",
                    ));
                }
                let tracker = verified.tracker.display();
                if event.tracker != tracker {
                    return Err(fail(
                        Check::Tracker,
                        seq,
                        format!("tracker {} but the ballot's is {tracker}", event.tracker),
                    ));
                }
                if spoiled_set.contains(&tracker) {
                    return Err(fail(Check::Spoiled, seq, "a spoiled ballot was cast"));
                }
                if !cast_trackers.insert(tracker.clone()) {
                    return Err(fail(
                        Check::OneBallotPerPseudonym,
                        seq,
                        format!("ballot {tracker} is already on the board (replay)"),
                    ));
                }
                let previous = counted.get(&verified.pseudonym);
                let expected = previous.map(|p| p.tracker.clone());
                if event.supersedes != expected {
                    return Err(fail(
                        Check::OneBallotPerPseudonym,
                        seq,
                        format!(
                            "supersedes {:?}, but the voter's previous ballot is {expected:?}",
                            event.supersedes
                        ),
                    ));
                }
                if let Some(previous) = previous {
                    subtract(&mut sums, &previous.ciphertexts)
                        .map_err(|d| fail(Check::HomomorphicSums, seq, d))?;
                    superseded.push(previous.tracker.clone());
                }
                for (row, contest) in sums.iter_mut().zip(&verified.ciphertexts) {
                    for (sum, (alpha, beta)) in row.iter_mut().zip(contest) {
                        sum.0 += alpha;
                        sum.1 += beta;
                    }
                }
                let ciphertexts = event
                    .ballot
                    .contests
                    .iter()
                    .map(|c| c.choices.iter().map(|x| (x.alpha, x.beta)).collect())
                    .collect();
                counted.insert(
                    verified.pseudonym,
                    Counted {
                        seq,
                        tracker,
                        ciphertexts,
                    },
                );
                ballots += 1;
            }
            (Event::Spoiled(event), Stage::Voting) => {
                let Some((_, context, _)) = &setup else {
                    return Err(fail(Check::Structure, seq, "no setup"));
                };
                verify_reveal(context, &event.ballot, &event.reveal)
                    .map_err(|e| fail(Check::Spoiled, seq, e.to_string()))?;
                if event.tracker != event.reveal.tracker {
                    return Err(fail(Check::Spoiled, seq, "the tracker is not the ballot's"));
                }
                if cast_trackers.contains(&event.tracker) {
                    return Err(fail(Check::Spoiled, seq, "a cast ballot was spoiled"));
                }
                if spoiled_set.insert(event.tracker.clone()) {
                    spoiled_trackers.push(event.tracker);
                }
            }
            (Event::Close(event), Stage::Voting) => {
                if event.ballots != ballots || event.counted != counted.len() as u64 {
                    return Err(fail(
                        Check::Close,
                        seq,
                        format!(
                            "close says {} ballots, {} counted; the board has {ballots}, {}",
                            event.ballots,
                            event.counted,
                            counted.len()
                        ),
                    ));
                }
                stage = Stage::Closed;
            }
            (Event::Tally(event), Stage::Closed) => {
                let Some((setup_event, _, _)) = &setup else {
                    return Err(fail(Check::Structure, seq, "no setup"));
                };
                let expected = EncryptedTally {
                    counted: counted.len() as u64,
                    contests: sums
                        .iter()
                        .map(|row| {
                            row.iter()
                                .map(|(a, b)| Ciphertext {
                                    alpha: Bytes32::from_point(a),
                                    beta: Bytes32::from_point(b),
                                })
                                .collect()
                        })
                        .collect(),
                };
                if event != expected {
                    return Err(fail(
                        Check::HomomorphicSums,
                        seq,
                        "the encrypted tally is not the sum of the counted ballots",
                    ));
                }
                let trustees =
                    TrusteeSet::new(&setup_event.ceremony_params(), &setup_event.trustees)
                        .map_err(|e| fail(Check::Setup, seq, e.to_string()))?;
                decryption = Some(
                    TallyDecryption::new(election_hash, trustees, event)
                        .map_err(|e| fail(Check::HomomorphicSums, seq, e.to_string()))?,
                );
                stage = Stage::Tallied;
            }
            (Event::PartialDecryption(event), Stage::Tallied) => {
                let Some(decryption) = &mut decryption else {
                    return Err(fail(Check::Structure, seq, "no tally"));
                };
                decryption
                    .add(&event)
                    .map_err(|e| fail(Check::DecryptionProofs, seq, e.to_string()))?;
            }
            (Event::Result(event), Stage::Tallied) => {
                let (Some(decryption), Some((setup_event, _, _))) = (&decryption, &setup) else {
                    return Err(fail(Check::Structure, seq, "no tally"));
                };
                decryption
                    .check_result(&setup_event.election.contests, &event.contests)
                    .map_err(|e| fail(Check::Result, seq, e.to_string()))?;
                result = Some(event.contests);
                stage = Stage::Done;
            }
            (_, _) => {
                return Err(fail(
                    Check::Structure,
                    seq,
                    format!("a {kind} event cannot come here"),
                ));
            }
        }
    }

    let Some((setup_event, _, _)) = setup else {
        return Err(VerifyError {
            check: Check::Structure,
            seq: None,
            detail: "the record is empty".into(),
        });
    };
    let mut counted: Vec<Counted> = counted.into_values().collect();
    counted.sort_by_key(|c| c.seq);
    Ok(VerifiedResult {
        election_hash,
        head_hash: prev,
        election: setup_event.election,
        events: record.lines.len() as u64,
        ballots,
        counted_trackers: counted.into_iter().map(|c| c.tracker).collect(),
        superseded_trackers: superseded,
        spoiled_trackers,
        result,
    })
}

fn check_setup(
    event: &SetupEvent,
    election_hash: Bytes32,
    seq: u64,
) -> Result<ElectionContext, VerifyError> {
    event
        .election
        .validate()
        .map_err(|e| fail(Check::Setup, seq, e))?;
    for (position, trustee) in event.trustees.iter().enumerate() {
        if trustee.index != position as u64 + 1 {
            return Err(fail(
                Check::Setup,
                seq,
                "trustee indices are not 1..=n in order",
            ));
        }
    }
    let trustees = TrusteeSet::new(&event.ceremony_params(), &event.trustees)
        .map_err(|e| fail(Check::Setup, seq, e.to_string()))?;
    if trustees.public_key_bytes() != event.public_key {
        return Err(fail(
            Check::Setup,
            seq,
            "public_key is not the sum of the trustees' keys",
        ));
    }
    let context = event
        .context(election_hash)
        .map_err(|e| fail(Check::Setup, seq, e))?;
    if event.roll.windows(2).any(|w| w[0] >= w[1]) {
        return Err(fail(
            Check::Roll,
            seq,
            "the roll is not strictly increasing",
        ));
    }
    if roll_fingerprint(&event.roll) != event.roll_fingerprint {
        return Err(fail(
            Check::Roll,
            seq,
            "roll_fingerprint does not match the roll",
        ));
    }
    Ok(context)
}

fn subtract(
    sums: &mut [Vec<(RistrettoPoint, RistrettoPoint)>],
    ciphertexts: &[Vec<(Bytes32, Bytes32)>],
) -> Result<(), String> {
    for (row, contest) in sums.iter_mut().zip(ciphertexts) {
        for (sum, (alpha, beta)) in row.iter_mut().zip(contest) {
            sum.0 -= alpha.point().map_err(|e| e.to_string())?;
            sum.1 -= beta.point().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
