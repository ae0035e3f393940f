//! Encrypted, end-to-end verifiable elections (docs/election-record.md): which elections can be
//! encrypted, the election document of the record (§2), voters' pseudonyms (§4.1), and what the
//! board says so far. Pure rules; the HTTP layer reads and appends the board through the store.

use std::collections::{BTreeMap, HashMap};

use hmac::{Hmac, Mac};
use securevote_crypto::{
    Bytes32, ElectionContext, EncryptedTally, Event, PartialDecryption, SeededNonces, SetupEvent,
    encrypt_ballot, parse_event_line,
};
use sha2::Sha256;

use super::model::{Election, Eligibility, Method};

/// An encrypted election's trustees `n` and threshold `t`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// `n`, 1 to 1000.
    pub trustees: u64,
    /// `t`, 1 to `trustees`: how many trustees are needed to decrypt the tally.
    pub threshold: u64,
}

/// Why an election cannot be encrypted, naming the field; `None` if it can.
pub fn unsupported(election: &Election, encryption: &Encryption) -> Option<String> {
    if encryption.trustees == 0 || encryption.trustees > securevote_crypto::MAX_TRUSTEES {
        return Some(format!(
            "encryption.trustees: must be between 1 and {}",
            securevote_crypto::MAX_TRUSTEES
        ));
    }
    if encryption.threshold == 0 || encryption.threshold > encryption.trustees {
        return Some(format!(
            "encryption.threshold: must be between 1 and {} (the trustees)",
            encryption.trustees
        ));
    }
    if election.eligibility != Eligibility::Roll {
        return Some(
            "eligibility: an encrypted election needs a roll (its voters' pseudonyms are published)"
                .into(),
        );
    }
    for (index, contest) in election.contests.iter().enumerate() {
        if !matches!(
            contest.method,
            Method::Plurality | Method::Approval | Method::Score
        ) {
            return Some(format!(
                "contests[{index}].method: {} cannot be counted on encrypted ballots; an encrypted election takes plurality, approval and score contests only (ranked methods need a verifiable shuffle)",
                contest.method.as_str()
            ));
        }
    }
    None
}

/// Bytes of JSON each branch of a range proof takes at least (a challenge and a response, each
/// 64 hex digits): a bound that spares building a ballot that cannot fit.
const BRANCH_BYTES: u64 = 128;

/// Why this election's encrypted ballots could not be sent, if they could not: the request body
/// of one ballot (`{"encrypted": …}`, the same size whatever the choices) against the largest
/// body the service takes, `limit` (`MAX_BODY_BYTES`). Measured by encrypting a ballot under a
/// throwaway key, so the officer learns it before a voter does.
pub fn ballot_too_large(election: &Election, limit: usize) -> Option<String> {
    let document = record_election(election);
    let branches: u64 = document
        .contests
        .iter()
        .map(|contest| {
            let (low, high) = contest.choice_range();
            let sum = contest.sum_range().map_or(0, |(min, max)| max - min + 1);
            contest.choice_count() as u64 * (high - low + 1) + sum
        })
        .sum();
    let too_large = |size: String| {
        format!(
            "contests: an encrypted ballot of this election is {size} bytes, over MAX_BODY_BYTES ({limit}); use fewer choices or a smaller score range, or raise MAX_BODY_BYTES (and NGINX's client_max_body_size)"
        )
    };
    let at_least = branches.saturating_mul(BRANCH_BYTES);
    if at_least > limit as u64 {
        return Some(too_large(format!("at least {at_least}")));
    }
    // The ristretto255 generator's encoding: any valid key gives ballots of the same size.
    let key = Bytes32::from_hex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")
        .ok()?;
    let context = ElectionContext::new(Bytes32([0; 32]), &key, document.contests.clone()).ok()?;
    let values: Vec<Vec<u64>> = document
        .contests
        .iter()
        .map(|contest| {
            let (low, _) = contest.choice_range();
            let mut values = vec![low; contest.choice_count()];
            if let Some((min, _)) = contest.sum_range() {
                for value in values.iter_mut().take(min as usize) {
                    *value = 1;
                }
            }
            values
        })
        .collect();
    let (ballot, _) = encrypt_ballot(
        &context,
        &Bytes32([0; 32]),
        &values,
        &mut SeededNonces::new(b"size"),
    )
    .ok()?;
    let size = format!("{{\"encrypted\":{}}}", ballot.to_json()).len();
    (size > limit).then(|| too_large(size.to_string()))
}

/// The election document of the record (§2): contests and choices in ballot order.
pub fn record_election(election: &Election) -> securevote_crypto::Election {
    let contests = election
        .contests
        .iter()
        .map(|contest| {
            let choices = contest.choices.iter().map(|c| c.name.clone()).collect();
            match contest.method {
                Method::Score | Method::Star => securevote_crypto::Contest::Score {
                    title: contest.title.clone(),
                    choices,
                    max_score: u64::from(contest.max_score.unwrap_or(5)),
                },
                _ => securevote_crypto::Contest::Choices {
                    title: contest.title.clone(),
                    choices,
                    min: u64::from(contest.min_choices),
                    max: u64::from(contest.max_choices),
                },
            }
        })
        .collect();
    securevote_crypto::Election {
        id: election.id.to_string(),
        title: election.title.clone(),
        contests,
    }
}

/// The voter's pseudonym (§4.1): `HMAC-SHA-256(key, frame(election_id, voter))`, where the voter
/// is the roll's identifier of the voter, the lowercase email address.
pub fn pseudonym(key: &[u8; 32], election_id: &str, email: &str) -> Bytes32 {
    let email = email.to_lowercase();
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [election_id.as_bytes(), email.as_bytes()] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    Bytes32(mac.finalize().into_bytes().into())
}

/// The key pseudonyms are derived with, from the service's signing secret.
pub fn pseudonym_key(secret: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"securevote/pseudonym-key");
    mac.finalize().into_bytes().into()
}

/// What a board says, read line by line.
#[derive(Debug, Clone, Default)]
pub struct BoardSummary {
    pub len: u64,
    pub setup: Option<(SetupEvent, Bytes32)>,
    /// Number of `ballot` events.
    pub ballots: u64,
    /// The last ballot line of each pseudonym, by pseudonym.
    pub last_ballots: BTreeMap<Bytes32, securevote_crypto::Ballot>,
    pub closed: bool,
    pub tally: Option<EncryptedTally>,
    pub partials: Vec<PartialDecryption>,
    pub result: Option<Vec<Vec<u64>>>,
    /// Tracker of every `ballot` and `spoiled` event.
    pub trackers: HashMap<String, &'static str>,
}

impl BoardSummary {
    /// Reads the board's lines in order.
    pub fn read<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut summary = Self::default();
        for line in lines {
            let (_, _, event) = parse_event_line(line).map_err(|e| e.to_string())?;
            match event {
                Event::Setup(setup) => {
                    summary.setup = Some((setup, securevote_crypto::event_hash(line)));
                }
                Event::Ballot(ballot) => {
                    summary.ballots += 1;
                    summary.trackers.insert(ballot.tracker.clone(), "ballot");
                    summary
                        .last_ballots
                        .insert(ballot.ballot.pseudonym, ballot.ballot);
                }
                Event::Spoiled(spoiled) => {
                    summary.trackers.insert(spoiled.tracker, "spoiled");
                }
                Event::Close(_) => summary.closed = true,
                Event::Tally(tally) => summary.tally = Some(tally),
                Event::PartialDecryption(partial) => summary.partials.push(partial),
                Event::Result(result) => summary.result = Some(result.contests),
            }
            summary.len += 1;
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_differ_per_election_and_voter_and_ignore_email_case() {
        let key = [7u8; 32];
        let a = pseudonym(&key, "e1", "Ada@example.org");
        assert_eq!(a, pseudonym(&key, "e1", "ada@example.org"));
        assert_ne!(a, pseudonym(&key, "e2", "ada@example.org"));
        assert_ne!(a, pseudonym(&key, "e1", "grace@example.org"));
        assert_ne!(a, pseudonym(&[8u8; 32], "e1", "ada@example.org"));
    }
}
