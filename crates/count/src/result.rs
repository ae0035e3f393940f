//! A count's result with its working, and its JSON form (schema in docs/counting.md).

use serde_json::{Map, Value, json};

use crate::decimal::Fixed;
use crate::model::{Choice, Method};

/// The outcome of a count and every step taken to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountResult {
    pub method: Method,
    pub title: Option<String>,
    pub seats: usize,
    pub choices: Vec<Choice>,
    pub withdrawn: Vec<usize>,
    /// The seed lots were (or would have been) drawn from.
    pub seed: String,
    /// Total weight of the ballots that counted (blank ballots excluded).
    pub valid_votes: Fixed,
    /// Total weight of ballots that expressed no usable preference.
    pub blank_votes: Fixed,
    /// The quota of the first stage (STV methods).
    pub quota: Option<Fixed>,
    /// Choices elected, in order of election.
    pub elected: Vec<usize>,
    /// Full order of finish, where the method defines one.
    pub ranking: Option<Vec<usize>>,
    pub rounds: Vec<Round>,
    pub ties: Vec<TieBreak>,
}

/// One stage of an STV or IRV count, or one step of a single-round method.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// 1-based stage number.
    pub number: usize,
    /// What happened at this stage, e.g. "Transfer of surplus of Jane Doe".
    pub action: String,
    pub quota: Option<Fixed>,
    /// Votes (or points, or scores) per choice at the end of the stage, by choice index; `None`
    /// for a choice not taking part.
    pub votes: Vec<Option<Fixed>>,
    /// Change in each choice's votes during the stage.
    pub transfers: Vec<Option<Fixed>>,
    /// Meek keep factors after the stage.
    pub keep_factors: Vec<Option<Fixed>>,
    /// Votes no longer counting for any choice (non-transferable papers), running total.
    pub exhausted: Option<Fixed>,
    /// Change in `exhausted` during the stage.
    pub exhausted_change: Option<Fixed>,
    /// Value lost by truncating transfer values (Scottish STV), running total.
    pub loss_of_fractions: Option<Fixed>,
    /// Surplus transferred (Scottish) or total surplus left when iteration stopped (Meek).
    pub surplus: Option<Fixed>,
    /// Meek: iterations of the keep-factor loop in this stage.
    pub iterations: Option<usize>,
    pub elected: Vec<Decision>,
    pub excluded: Vec<Decision>,
    /// Condorcet methods: `pairwise[a][b]` is the weight of ballots preferring a to b.
    pub pairwise: Option<Vec<Vec<Fixed>>>,
    /// Schulze: strength of the strongest path from a to b.
    pub strongest_paths: Option<Vec<Vec<Fixed>>>,
    /// Ranked pairs: pairs (winner, loser) locked in, in the order considered.
    pub locked: Vec<(usize, usize)>,
    /// Ranked pairs: pairs skipped because they would have made a cycle.
    pub skipped: Vec<(usize, usize)>,
    pub notes: Vec<String>,
}

/// A choice elected or excluded at a stage, and the rule that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub choice: usize,
    pub reason: String,
}

/// A tie and how it was resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TieBreak {
    pub round: usize,
    /// What was being decided: "exclusion", "election", "order of surplus transfer", ...
    pub purpose: String,
    pub tied: Vec<usize>,
    pub chosen: usize,
    /// "earlier stage N", "lot", or the method's own rule.
    pub resolved_by: String,
}

impl Round {
    pub(crate) fn new(number: usize, action: impl Into<String>, n: usize) -> Round {
        Round {
            number,
            action: action.into(),
            votes: vec![None; n],
            transfers: vec![None; n],
            keep_factors: vec![None; n],
            ..Round::default()
        }
    }
}

impl CountResult {
    /// Names of the elected choices, in order of election.
    pub fn elected_names(&self) -> Vec<&str> {
        self.elected
            .iter()
            .map(|&c| self.choices[c].name.as_str())
            .collect()
    }

    /// Whether any decision was left to lot.
    pub fn used_lot(&self) -> bool {
        self.ties.iter().any(|t| t.resolved_by == "lot")
    }

    /// The documented JSON form: choices are named, numbers are exact decimal strings.
    pub fn to_json(&self) -> Value {
        let name = |c: usize| Value::String(self.choices[c].name.clone());
        let names = |cs: &[usize]| Value::Array(cs.iter().map(|&c| name(c)).collect());
        let decisions = |ds: &[Decision]| {
            Value::Array(
                ds.iter()
                    .map(|d| json!({"choice": self.choices[d.choice].name, "reason": d.reason}))
                    .collect(),
            )
        };
        let pairs = |ps: &[(usize, usize)]| {
            Value::Array(ps.iter().map(|&(a, b)| json!([name(a), name(b)])).collect())
        };
        let matrix = |m: &Vec<Vec<Fixed>>| {
            Value::Array(
                m.iter()
                    .map(|row| Value::Array(row.iter().map(|v| json!(v)).collect()))
                    .collect(),
            )
        };
        let rounds: Vec<Value> = self
            .rounds
            .iter()
            .map(|r| {
                let mut o = Map::new();
                o.insert("round".into(), json!(r.number));
                o.insert("action".into(), json!(r.action));
                if let Some(q) = r.quota {
                    o.insert("quota".into(), json!(q));
                }
                let rows: Vec<Value> = (0..self.choices.len())
                    .filter(|&c| r.votes[c].is_some() || r.transfers[c].is_some())
                    .map(|c| {
                        let mut row = Map::new();
                        row.insert("choice".into(), name(c));
                        if let Some(v) = r.votes[c] {
                            row.insert("votes".into(), json!(v));
                        }
                        if let Some(t) = r.transfers[c] {
                            row.insert("transfer".into(), json!(t));
                        }
                        if let Some(k) = r.keep_factors[c] {
                            row.insert("keep_factor".into(), json!(k));
                        }
                        Value::Object(row)
                    })
                    .collect();
                if !rows.is_empty() {
                    o.insert("votes".into(), Value::Array(rows));
                }
                for (key, v) in [
                    ("exhausted", r.exhausted),
                    ("exhausted_change", r.exhausted_change),
                    ("loss_of_fractions", r.loss_of_fractions),
                    ("surplus", r.surplus),
                ] {
                    if let Some(v) = v {
                        o.insert(key.into(), json!(v));
                    }
                }
                if let Some(i) = r.iterations {
                    o.insert("iterations".into(), json!(i));
                }
                o.insert("elected".into(), decisions(&r.elected));
                o.insert("excluded".into(), decisions(&r.excluded));
                if let Some(m) = &r.pairwise {
                    o.insert("pairwise".into(), matrix(m));
                }
                if let Some(m) = &r.strongest_paths {
                    o.insert("strongest_paths".into(), matrix(m));
                }
                if !r.locked.is_empty() || !r.skipped.is_empty() {
                    o.insert("locked".into(), pairs(&r.locked));
                    o.insert("skipped".into(), pairs(&r.skipped));
                }
                if !r.notes.is_empty() {
                    o.insert("notes".into(), json!(r.notes));
                }
                Value::Object(o)
            })
            .collect();
        let ties: Vec<Value> = self
            .ties
            .iter()
            .map(|t| {
                json!({
                    "round": t.round,
                    "purpose": t.purpose,
                    "tied": names(&t.tied),
                    "chosen": name(t.chosen),
                    "resolved_by": t.resolved_by,
                })
            })
            .collect();
        json!({
            "method": self.method.name(),
            "rule": self.method.rule(),
            "title": self.title,
            "seats": self.seats,
            "seed": self.seed,
            "choices": self.choices.iter().enumerate().map(|(i, c)| json!({
                "id": c.id,
                "name": c.name,
                "withdrawn": self.withdrawn.contains(&i),
            })).collect::<Vec<_>>(),
            "valid_votes": self.valid_votes,
            "blank_votes": self.blank_votes,
            "quota": self.quota,
            "elected": names(&self.elected),
            "elected_ids": self.elected.iter().map(|&c| self.choices[c].id.clone()).collect::<Vec<_>>(),
            "ranking": self.ranking.as_ref().map(|r| names(r)),
            "rounds": rounds,
            "ties": ties,
        })
    }
}

/// Serialises as [`CountResult::to_json`] (so a service can put a result straight into a
/// response body).
impl serde::Serialize for CountResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
