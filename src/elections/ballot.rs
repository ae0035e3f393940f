//! A ballot's content, checked against the election's contests before it is stored. The ballot
//! of a frozen election cannot change, so the check needs no database round trip.
//!
//! The body of `POST /api/elections/{id}/ballots` has one entry per contest, in the form its
//! method takes:
//! - plurality and approval: `"<contest_id>": ["<choice_id>", ...]`;
//! - ranked methods: `"<contest_id>": {"ranking": ["<choice_id>", ...]}` (most preferred first;
//!   the voter may rank only some choices, never one twice);
//! - score and STAR: `"<contest_id>": {"scores": {"<choice_id>": 3, ...}}` (unscored choices
//!   score 0).

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::model::{BallotForm, Contest, Election};

/// What the voter chose in one contest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContestSelection {
    /// In ballot order.
    Choices(Vec<Uuid>),
    /// Most preferred first.
    Ranking(Vec<Uuid>),
    Scores(BTreeMap<Uuid, u32>),
}

/// A checked ballot: one selection per contest, in ballot order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallotContent {
    pub contests: Vec<(Uuid, ContestSelection)>,
}

impl BallotContent {
    /// Checks `selections` (the body's object) against every contest of `election`; the error
    /// says what is wrong and where, for a 422 `invalid_ballot`.
    pub fn parse(election: &Election, selections: &Map<String, Value>) -> Result<Self, String> {
        for key in selections.keys() {
            let known = Uuid::parse_str(key)
                .ok()
                .is_some_and(|id| election.contest(id).is_some());
            if !known {
                return Err(format!(
                    "selections: {key:?} is not a contest of this election"
                ));
            }
        }
        let contests = election
            .contests
            .iter()
            .map(|contest| {
                let raw = selections.get(&contest.id.to_string()).ok_or_else(|| {
                    format!(
                        "selections: contest {} ({:?}) is missing",
                        contest.id, contest.title
                    )
                })?;
                Ok((contest.id, parse_contest(contest, raw)?))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { contests })
    }

    /// The ballot as stored: contest id → the selection in its body form, canonical (choices in
    /// ballot order, scores by choice id), so a retried request compares equal.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (contest, selection) in &self.contests {
            let value = match selection {
                ContestSelection::Choices(ids) => json!(ids),
                ContestSelection::Ranking(ids) => json!({ "ranking": ids }),
                ContestSelection::Scores(scores) => json!({ "scores": scores }),
            };
            out.insert(contest.to_string(), value);
        }
        Value::Object(out)
    }

    /// Choices whose counters a stored ballot adds one to (plurality and approval contests).
    pub fn counted_choices(&self) -> Vec<Uuid> {
        self.contests
            .iter()
            .filter_map(|(_, selection)| match selection {
                ContestSelection::Choices(ids) => Some(ids.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The one choice of a one-contest, one-choice ballot: what `/api/votes/me` shows.
    pub fn single_choice(&self) -> Option<Uuid> {
        match self.contests.as_slice() {
            [(_, ContestSelection::Choices(ids))] if ids.len() == 1 => Some(ids[0]),
            _ => None,
        }
    }
}

fn choice_ids(contest: &Contest, raw: &Value, what: &str) -> Result<Vec<Uuid>, String> {
    let where_ = || format!("selections.{}", contest.id);
    let items = raw
        .as_array()
        .ok_or_else(|| format!("{}: {what} must be an array of choice ids", where_()))?;
    let mut seen = HashSet::with_capacity(items.len());
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = item
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .filter(|id| contest.choices.iter().any(|c| c.id == *id))
            .ok_or_else(|| format!("{}: {item} is not a choice of this contest", where_()))?;
        if !seen.insert(id) {
            return Err(format!("{}: choice {id} appears twice", where_()));
        }
        ids.push(id);
    }
    let (low, high) = (contest.min_choices as usize, contest.max_choices as usize);
    if ids.len() < low || ids.len() > high {
        return Err(format!(
            "{}: {} choices given; this contest takes {}",
            where_(),
            ids.len(),
            if low == high {
                format!("exactly {low}")
            } else {
                format!("{low} to {high}")
            }
        ));
    }
    Ok(ids)
}

fn parse_contest(contest: &Contest, raw: &Value) -> Result<ContestSelection, String> {
    let field = |name: &str| -> Result<&Value, String> {
        let object = raw
            .as_object()
            .filter(|o| o.len() == 1 && o.contains_key(name));
        object.and_then(|o| o.get(name)).ok_or_else(|| {
            format!(
                "selections.{}: a {} contest takes {{\"{name}\": ...}}",
                contest.id,
                contest.method.as_str()
            )
        })
    };
    match contest.method.form() {
        BallotForm::Choices => {
            let mut ids = choice_ids(contest, raw, "the selection")?;
            let position = |id: &Uuid| contest.choices.iter().position(|c| c.id == *id);
            ids.sort_by_key(position);
            Ok(ContestSelection::Choices(ids))
        }
        BallotForm::Ranking => Ok(ContestSelection::Ranking(choice_ids(
            contest,
            field("ranking")?,
            "the ranking",
        )?)),
        BallotForm::Scores => {
            let max = contest.max_score.unwrap_or(0);
            let scores = field("scores")?.as_object().ok_or_else(|| {
                format!(
                    "selections.{}: scores must be an object of choice id to score",
                    contest.id
                )
            })?;
            let mut out = BTreeMap::new();
            for (key, value) in scores {
                let id = Uuid::parse_str(key)
                    .ok()
                    .filter(|id| contest.choices.iter().any(|c| c.id == *id))
                    .ok_or_else(|| {
                        format!(
                            "selections.{}: {key:?} is not a choice of this contest",
                            contest.id
                        )
                    })?;
                let score = value
                    .as_u64()
                    .filter(|s| *s <= u64::from(max))
                    .ok_or_else(|| {
                        format!(
                            "selections.{}: score {value} for {id} is out of range 0 to {max}",
                            contest.id
                        )
                    })?;
                out.insert(id, score as u32);
            }
            Ok(ContestSelection::Scores(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elections::model::*;
    use chrono::Utc;

    fn contest(method: Method, choices: usize, min: u32, max: u32) -> Contest {
        Contest {
            id: Uuid::new_v4(),
            title: "Contest".into(),
            method,
            seats: 1,
            min_choices: min,
            max_choices: max,
            max_score: (method.form() == BallotForm::Scores).then_some(5),
            choices: (0..choices)
                .map(|i| Choice {
                    id: Uuid::new_v4(),
                    name: format!("C{i}"),
                    party: None,
                    description: None,
                })
                .collect(),
        }
    }

    fn election(contests: Vec<Contest>) -> Election {
        Election {
            id: Uuid::new_v4(),
            slug: "e".into(),
            title: "E".into(),
            description: None,
            timezone: "UTC".into(),
            opens_at: None,
            closes_at: None,
            opens_at_local: None,
            closes_at_local: None,
            eligibility: Eligibility::Open,
            results: ResultsPolicy::Live,
            live_min_ballots: 0,
            state: ElectionState::Open,
            is_default: false,
            ballot_editable: false,
            roll_fingerprint: None,
            published_at: None,
            created_at: Utc::now(),
            contests,
            encryption: None,
            board_head: None,
        }
    }

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn each_fault_is_named() {
        let plurality = contest(Method::Plurality, 3, 1, 1);
        let ranked = contest(Method::StvScottish, 3, 1, 3);
        let score = contest(Method::Score, 2, 0, 2);
        let (p, r, s) = (plurality.id, ranked.id, score.id);
        let (p0, p1) = (plurality.choices[0].id, plurality.choices[1].id);
        let (r0, r1) = (ranked.choices[0].id, ranked.choices[1].id);
        let s0 = score.choices[0].id;
        let e = election(vec![plurality, ranked, score]);
        let ok = json!({ p.to_string(): [p0], r.to_string(): {"ranking": [r1, r0]}, s.to_string(): {"scores": {s0.to_string(): 5}} });
        let content = BallotContent::parse(&e, &body(ok.clone())).unwrap();
        assert_eq!(content.counted_choices(), vec![p0]);
        assert_eq!(content.to_json(), ok);
        let cases = [
            (
                json!({ p.to_string(): [p0, p1], r.to_string(): {"ranking": [r0]}, s.to_string(): {"scores": {}} }),
                "2 choices given; this contest takes exactly 1",
            ),
            (
                json!({ p.to_string(): [p0], r.to_string(): {"ranking": [r0, r0]}, s.to_string(): {"scores": {}} }),
                "appears twice",
            ),
            (
                json!({ p.to_string(): [p0], r.to_string(): {"ranking": [r0]}, s.to_string(): {"scores": {s0.to_string(): 6}} }),
                "out of range 0 to 5",
            ),
            (
                json!({ p.to_string(): [r0], r.to_string(): {"ranking": [r0]}, s.to_string(): {"scores": {}} }),
                "is not a choice of this contest",
            ),
            (
                json!({ p.to_string(): [p0], s.to_string(): {"scores": {}} }),
                "is missing",
            ),
            (
                json!({ p.to_string(): [p0], r.to_string(): [r0], s.to_string(): {"scores": {}} }),
                "takes {\"ranking\"",
            ),
            (
                json!({ Uuid::new_v4().to_string(): [] }),
                "is not a contest of this election",
            ),
        ];
        for (raw, expected) in cases {
            let error = BallotContent::parse(&e, &body(raw)).unwrap_err();
            assert!(error.contains(expected), "{error} should say {expected}");
        }
    }

    #[test]
    fn approval_choices_are_stored_in_ballot_order() {
        let approval = contest(Method::Approval, 3, 0, 3);
        let (id, c) = (approval.id, approval.choices.clone());
        let e = election(vec![approval]);
        let content =
            BallotContent::parse(&e, &body(json!({ id.to_string(): [c[2].id, c[0].id] }))).unwrap();
        assert_eq!(content.counted_choices(), vec![c[0].id, c[2].id]);
        assert_eq!(content.single_choice(), None);
    }
}
