//! From stored ballots to the counting engine's input: the bridge between an election's
//! contests (choices by id) and `securevote_count` (choices by index). Pure: takes values,
//! returns values.

use std::collections::HashMap;

use serde_json::Value;

use super::model::StoredBallot;
use crate::rolls::format_weight;

use super::model::{Contest, Method};
use securevote_count as count;

/// The engine's method of the same name.
pub fn engine_method(method: Method) -> count::Method {
    match method {
        Method::Plurality => count::Method::Plurality,
        Method::Approval => count::Method::Approval,
        Method::Irv => count::Method::Irv,
        Method::StvScottish => count::Method::StvScottish,
        Method::StvMeek => count::Method::StvMeek,
        Method::Schulze => count::Method::Schulze,
        Method::RankedPairs => count::Method::RankedPairs,
        Method::Copeland => count::Method::Copeland,
        Method::Borda => count::Method::Borda,
        Method::Score => count::Method::Score,
        Method::Star => count::Method::Star,
    }
}

/// The contest as the engine sees it: choices in ballot order, identified by their ids.
pub fn engine_contest(contest: &Contest) -> count::Contest {
    count::Contest {
        title: Some(contest.title.clone()),
        choices: unique_names(contest),
        seats: contest.seats as usize,
        withdrawn: Vec::new(),
        max_score: contest.max_score.unwrap_or(0),
        max_choices: Some(contest.max_choices as usize),
    }
}

/// The choices with names the engine can tell apart (it draws lots on names): an election's
/// contests never repeat a name, but the adopted election's candidates may, so a repeated name
/// gets its position on the ballot, `Ada (2)`.
fn unique_names(contest: &Contest) -> Vec<count::Choice> {
    let mut seen = std::collections::HashSet::new();
    contest
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = if seen.insert(c.name.clone()) {
                c.name.clone()
            } else {
                format!("{} ({})", c.name, i + 1)
            };
            count::Choice::new(c.id.to_string(), name)
        })
        .collect()
}

/// One contest's part of every stored ballot, with its voter's weight, identical ballots
/// bundled into one weighted ballot (the count is the same; the work is much less). Ballots that leave the contest out
/// or name a choice it does not have (neither can be stored) are skipped.
pub fn engine_ballots(contest: &Contest, stored: &[StoredBallot]) -> Vec<count::Ballot> {
    let index: HashMap<String, usize> = contest
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.to_string(), i))
        .collect();
    let key = contest.id.to_string();
    let ids = |items: &Value| -> Option<Vec<usize>> {
        items
            .as_array()?
            .iter()
            .map(|id| id.as_str().and_then(|id| index.get(id).copied()))
            .collect()
    };
    let mut bundles: HashMap<count::BallotForm, u64> = HashMap::new();
    for ballot in stored {
        let Some(part) = ballot.selections.get(&key) else {
            continue;
        };
        let form = if part.is_array() {
            ids(part).map(count::BallotForm::Choices)
        } else if let Some(ranking) = part.get("ranking") {
            ids(ranking).map(count::BallotForm::Ranking)
        } else if let Some(scores) = part.get("scores").and_then(Value::as_object) {
            scores
                .iter()
                .map(|(id, score)| Some((*index.get(id)?, u32::try_from(score.as_u64()?).ok()?)))
                .collect::<Option<Vec<_>>>()
                .map(|mut s| {
                    s.sort_unstable();
                    count::BallotForm::Scores(s)
                })
        } else {
            None
        };
        if let Some(form) = form {
            *bundles.entry(form).or_insert(0) += ballot.weight;
        }
    }
    let mut ballots: Vec<count::Ballot> = bundles
        .into_iter()
        .filter_map(|(form, weight)| {
            count::Weight::parse(&format_weight(weight))
                .ok()
                .map(|weight| count::Ballot::weighted(weight, form))
        })
        .collect();
    // A fixed order, so the count's working reads the same on every instance.
    ballots.sort_by(|a, b| format!("{:?}", a.form).cmp(&format!("{:?}", b.form)));
    ballots
}

/// Counts one contest of `stored` ballots; lots, where the rule needs them, are drawn from
/// `seed` (published with the result).
pub fn count_contest(
    contest: &Contest,
    stored: &[StoredBallot],
    seed: &str,
) -> Result<count::CountResult, count::CountError> {
    count::count(
        &engine_contest(contest),
        &engine_ballots(contest, stored),
        engine_method(contest.method),
        Some(seed),
    )
}

/// The contest's ballots as a BLT file (ranked contests), for counting elsewhere.
pub fn blt_file(contest: &Contest, stored: &[StoredBallot]) -> Result<String, String> {
    count::blt::write(&engine_contest(contest), &engine_ballots(contest, stored))
}
