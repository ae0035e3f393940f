//! The JSON ballots file (score, approval, plurality and ranked ballots); see
//! docs/counting.md for the format.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decimal::Weight;
use crate::model::{Ballot, BallotForm, Choice, Contest};

/// A parsed JSON ballots file; `lines[i]` is the line ballot `i` starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonBallots {
    pub contest: Contest,
    pub ballots: Vec<Ballot>,
    pub lines: Vec<usize>,
}

/// A fault in a JSON ballots file, with its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonBallotsError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for JsonBallotsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for JsonBallotsError {}

#[derive(Deserialize)]
#[serde(untagged)]
enum ChoiceSpec {
    Name(String),
    Full { id: String, name: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc<'a> {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    seats: Option<usize>,
    #[serde(default)]
    max_score: Option<u32>,
    #[serde(default)]
    max_choices: Option<usize>,
    choices: Vec<ChoiceSpec>,
    #[serde(default)]
    withdrawn: Vec<String>,
    #[serde(borrow)]
    ballots: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BallotSpec {
    #[serde(default)]
    weight: Option<serde_json::Value>,
    #[serde(default)]
    scores: Option<HashMap<String, u32>>,
    #[serde(default)]
    approve: Option<Vec<String>>,
    #[serde(default)]
    choices: Option<Vec<String>>,
    #[serde(default)]
    ranking: Option<Vec<String>>,
}

fn line_of(text: &str, part: &str) -> usize {
    let offset = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses a JSON ballots file.
pub fn parse(text: &str) -> Result<JsonBallots, JsonBallotsError> {
    let doc: Doc = serde_json::from_str(text).map_err(|e| JsonBallotsError {
        line: e.line().max(1),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
    })?;
    let err = |line: usize, message: String| JsonBallotsError { line, message };
    let choices: Vec<Choice> = doc
        .choices
        .into_iter()
        .enumerate()
        .map(|(i, c)| match c {
            ChoiceSpec::Name(name) => Choice::new((i + 1).to_string(), name),
            ChoiceSpec::Full { id, name } => Choice::new(id, name),
        })
        .collect();
    let find = |key: &str| -> Option<usize> {
        choices
            .iter()
            .position(|c| c.name == key)
            .or_else(|| choices.iter().position(|c| c.id == key))
    };
    let mut withdrawn = Vec::new();
    for w in &doc.withdrawn {
        withdrawn.push(
            find(w).ok_or_else(|| err(1, format!("withdrawn choice '{w}' is not a choice")))?,
        );
    }
    let mut ballots = Vec::with_capacity(doc.ballots.len());
    let mut lines = Vec::with_capacity(doc.ballots.len());
    for raw in doc.ballots {
        let line = line_of(text, raw.get());
        let spec: BallotSpec = serde_json::from_str(raw.get()).map_err(|e| {
            err(
                line + e.line() - 1,
                e.to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        })?;
        let weight = match &spec.weight {
            None => Weight::ONE,
            Some(serde_json::Value::String(s)) => Weight::parse(s).map_err(|e| err(line, e.0))?,
            Some(serde_json::Value::Number(n)) => {
                Weight::parse(&n.to_string()).map_err(|e| err(line, e.0))?
            }
            Some(other) => return Err(err(line, format!("weight {other} is not a decimal"))),
        };
        let names = |list: &[String]| -> Result<Vec<usize>, JsonBallotsError> {
            list.iter()
                .map(|k| find(k).ok_or_else(|| err(line, format!("unknown choice '{k}'"))))
                .collect()
        };
        let forms = [
            spec.scores.is_some(),
            spec.approve.is_some(),
            spec.choices.is_some(),
            spec.ranking.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(err(
                line,
                "a ballot needs exactly one of \"scores\", \"approve\", \"choices\" or \"ranking\""
                    .into(),
            ));
        }
        let form = if let Some(scores) = &spec.scores {
            let mut v: Vec<(usize, u32)> = Vec::new();
            for (k, s) in scores {
                v.push((
                    find(k).ok_or_else(|| err(line, format!("unknown choice '{k}'")))?,
                    *s,
                ));
            }
            v.sort_unstable();
            BallotForm::Scores(v)
        } else if let Some(a) = spec.approve.as_ref().or(spec.choices.as_ref()) {
            BallotForm::Choices(names(a)?)
        } else {
            BallotForm::Ranking(names(spec.ranking.as_deref().unwrap_or_default())?)
        };
        ballots.push(Ballot { weight, form });
        lines.push(line);
    }
    let contest = Contest {
        title: doc.title,
        choices,
        seats: doc.seats.unwrap_or(1),
        withdrawn,
        max_score: doc.max_score.unwrap_or(5),
        max_choices: doc.max_choices,
    };
    Ok(JsonBallots {
        contest,
        ballots,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scores_approvals_rankings_and_weights() {
        let text = r#"{
  "title": "Picnic",
  "max_score": 5,
  "choices": ["Park", {"id": "b", "name": "Beach"}],
  "ballots": [
    {"scores": {"Park": 5, "b": 2}},
    {"weight": "2.5", "approve": ["Beach"]},
    {"weight": 3, "ranking": ["Beach", "Park"]}
  ]
}"#;
        let f = parse(text).unwrap();
        assert_eq!(f.contest.choices[1].id, "b");
        assert_eq!(f.ballots[0].form, BallotForm::Scores(vec![(0, 5), (1, 2)]));
        assert_eq!(f.ballots[1].weight.to_string(), "2.5");
        assert_eq!(f.ballots[2].form, BallotForm::Ranking(vec![1, 0]));
        assert_eq!(f.lines, vec![6, 7, 8]);
    }

    #[test]
    fn errors_name_the_line() {
        let text = "{\n\"choices\": [\"A\"],\n\"ballots\": [\n{\"scores\": {\"A\": 1}},\n{\"scores\": {\"Z\": 1}}\n]}";
        let e = parse(text).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (5, "unknown choice 'Z'"));
        let e = parse("{\n\"choices\": [\"A\"],\n\"ballots\": [\n{\"scores\": {\"A\": 1}},\n{\"scores\": }\n]}").unwrap_err();
        assert_eq!(e.line, 5);
        let e = parse("{\"choices\": [\"A\"], \"ballots\": [{}]}").unwrap_err();
        assert!(e.message.contains("exactly one"), "{e}");
    }
}
