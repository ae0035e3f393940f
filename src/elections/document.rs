//! The election document: what `POST /api/elections` and `securevote elections create FILE.json`
//! take, parsed into a [`NewElection`] that can only be built valid. Every refusal names the
//! field as a path into the document (`contests[1].max_choices: must be between 1 and 3`).

use std::collections::HashSet;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{Eligibility, Method, ResultsPolicy};
use crate::domain::ValidChoice;

/// Most choices in one contest.
pub const MAX_CHOICES: usize = 1000;
/// Most contests on one ballot.
pub const MAX_CONTESTS: usize = 100;
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 10_000;
const MAX_SLUG_CHARS: usize = 64;
const MAX_SCORE: u32 = 100;
const DEFAULT_MAX_SCORE: u32 = 5;
const DEFAULT_LIVE_MIN_BALLOTS: u32 = 10;
const MAX_LIVE_MIN_BALLOTS: u32 = 1_000_000;

/// A new election with its contests, as sent by an admin. Created as `draft`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ElectionDocument {
    /// Unique, URL-safe: lowercase letters, digits and single hyphens, 1 to 64 characters.
    pub slug: String,
    /// 1 to 200 characters.
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// IANA time zone name such as `Europe/Berlin`; default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// When voting opens by itself (RFC 3339); without it, an admin opens the election.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<DateTime<Utc>>,
    /// When voting closes by itself; after `opens_at`. Without it, an admin closes it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub eligibility: Option<Eligibility>,
    /// Default `after_publish`.
    #[serde(default)]
    pub results: Option<ResultsPolicy>,
    /// With `live` results, fewer ballots than this keep them embargoed; default 10.
    #[serde(default)]
    pub live_min_ballots: Option<u32>,
    /// One or more contests, in ballot order.
    pub contests: Vec<ContestDocument>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContestDocument {
    /// 1 to 200 characters.
    pub title: String,
    /// Default `plurality`.
    #[serde(default)]
    pub method: Option<Method>,
    /// Default 1.
    #[serde(default)]
    pub seats: Option<u32>,
    #[serde(default)]
    pub min_choices: Option<u32>,
    #[serde(default)]
    pub max_choices: Option<u32>,
    /// `score` and `star` only: scores run from 0 to this (default 5, at most 100).
    #[serde(default)]
    pub max_score: Option<u32>,
    /// 1 to 1,000 choices with distinct names, in ballot order.
    pub choices: Vec<ChoiceDocument>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceDocument {
    /// 1 to 255 characters.
    pub name: String,
    #[serde(default)]
    pub party: Option<String>,
    /// Up to 2000 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// A validated election, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewElection {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    pub timezone: String,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub eligibility: Eligibility,
    pub results: ResultsPolicy,
    pub live_min_ballots: u32,
    pub contests: Vec<NewContest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContest {
    pub title: String,
    pub method: Method,
    pub seats: u32,
    pub min_choices: u32,
    pub max_choices: u32,
    pub max_score: Option<u32>,
    pub choices: Vec<NewChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChoice {
    pub name: String,
    pub party: Option<String>,
    pub description: Option<String>,
}

/// Instants are kept to the millisecond on both stores.
pub fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at)
}

/// `slug`: lowercase ASCII letters and digits in hyphen-separated words, never a UUID.
pub fn parse_slug(raw: &str) -> Result<String, String> {
    let slug = raw.trim();
    let words_ok = !slug.is_empty()
        && slug.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !words_ok || slug.len() > MAX_SLUG_CHARS {
        return Err("slug: must be 1 to 64 lowercase letters, digits and single hyphens".into());
    }
    if uuid::Uuid::parse_str(slug).is_ok() {
        return Err("slug: must not be a UUID".into());
    }
    Ok(slug.to_owned())
}

fn title(field: &str, raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("{field}: must be 1 to 200 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field}: must not contain control characters"));
    }
    Ok(text.to_owned())
}

fn description(field: &str, raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!("{field}: must be at most 10000 characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(format!("{field}: must not contain control characters"));
    }
    Ok(Some(text.to_owned()))
}

/// An IANA time zone name, in its canonical spelling.
pub fn parse_timezone(raw: &str) -> Result<String, String> {
    raw.trim()
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| {
            format!("timezone: unknown time zone {raw:?} (use an IANA name such as Europe/Berlin)")
        })
}

fn in_range(field: String, value: u32, low: u32, high: u32) -> Result<u32, String> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{field}: must be between {low} and {high}"))
    }
}

impl ElectionDocument {
    pub fn parse(&self) -> Result<NewElection, String> {
        let opens_at = self.opens_at.map(to_millis);
        let closes_at = self.closes_at.map(to_millis);
        if let (Some(opens), Some(closes)) = (opens_at, closes_at)
            && closes <= opens
        {
            return Err("closes_at: must be after opens_at".into());
        }
        if self.contests.is_empty() {
            return Err("contests: an election needs at least one contest".into());
        }
        if self.contests.len() > MAX_CONTESTS {
            return Err(format!("contests: at most {MAX_CONTESTS} contests"));
        }
        let contests = self
            .contests
            .iter()
            .enumerate()
            .map(|(index, contest)| contest.parse(&format!("contests[{index}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewElection {
            slug: parse_slug(&self.slug)?,
            title: title("title", &self.title)?,
            description: description("description", self.description.as_deref())?,
            timezone: parse_timezone(self.timezone.as_deref().unwrap_or("UTC"))?,
            opens_at,
            closes_at,
            eligibility: self.eligibility.unwrap_or_default(),
            results: self.results.unwrap_or_default(),
            live_min_ballots: in_range(
                "live_min_ballots".into(),
                self.live_min_ballots.unwrap_or(DEFAULT_LIVE_MIN_BALLOTS),
                0,
                MAX_LIVE_MIN_BALLOTS,
            )?,
            contests,
        })
    }
}

impl ContestDocument {
    fn parse(&self, path: &str) -> Result<NewContest, String> {
        let method = self.method.unwrap_or_default();
        let count = self.choices.len();
        if count == 0 {
            return Err(format!(
                "{path}.choices: a contest needs at least one choice"
            ));
        }
        if count > MAX_CHOICES {
            return Err(format!("{path}.choices: at most {MAX_CHOICES} choices"));
        }
        let mut names = HashSet::with_capacity(count);
        let mut choices = Vec::with_capacity(count);
        for (index, choice) in self.choices.iter().enumerate() {
            let valid = ValidChoice::parse(
                &choice.name,
                choice.party.as_deref(),
                choice.description.as_deref(),
            )
            .map_err(|e| format!("{path}.choices[{index}].{e}"))?;
            if !names.insert(valid.name.as_str().to_lowercase()) {
                return Err(format!(
                    "{path}.choices[{index}].name: {:?} is already a choice of this contest",
                    valid.name.as_str()
                ));
            }
            let (name, party, description) = valid.into_parts();
            choices.push(NewChoice {
                name,
                party,
                description,
            });
        }
        let n = count as u32;
        let seats_limit = if method.single_winner() { 1 } else { n };
        let seats = in_range(
            format!("{path}.seats"),
            self.seats.unwrap_or(1),
            1,
            seats_limit,
        )?;
        let (default_min, default_max) = match method {
            Method::Plurality => (1, seats),
            Method::Approval => (0, n),
            Method::Score | Method::Star => (0, n),
            _ => (1, n),
        };
        let max_choices = in_range(
            format!("{path}.max_choices"),
            self.max_choices.unwrap_or(default_max.min(n)),
            1,
            n,
        )?;
        let min_choices = in_range(
            format!("{path}.min_choices"),
            self.min_choices.unwrap_or(default_min.min(max_choices)),
            0,
            max_choices,
        )?;
        let max_score = match method {
            Method::Score | Method::Star => Some(in_range(
                format!("{path}.max_score"),
                self.max_score.unwrap_or(DEFAULT_MAX_SCORE),
                1,
                MAX_SCORE,
            )?),
            _ if self.max_score.is_some() => {
                return Err(format!(
                    "{path}.max_score: only score and star contests have scores"
                ));
            }
            _ => None,
        };
        if method == Method::Star && count < 2 {
            return Err(format!(
                "{path}.choices: a star contest needs at least two choices"
            ));
        }
        Ok(NewContest {
            title: title(&format!("{path}.title"), &self.title)?,
            method,
            seats,
            min_choices,
            max_choices,
            max_score,
            choices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(value: serde_json::Value) -> ElectionDocument {
        serde_json::from_value(value).unwrap()
    }

    fn valid() -> serde_json::Value {
        json!({
            "slug": "board-2027",
            "title": "Board election",
            "timezone": "Europe/Berlin",
            "contests": [
                {"title": "Chair", "choices": [{"name": "Ada"}, {"name": "Grace"}]},
                {"title": "Members", "method": "approval",
                 "choices": [{"name": "A"}, {"name": "B"}, {"name": "C"}]}
            ]
        })
    }

    #[test]
    fn defaults_follow_the_method() {
        let election = document(valid()).parse().unwrap();
        assert_eq!(election.results, ResultsPolicy::AfterPublish);
        assert_eq!(election.live_min_ballots, 10);
        let chair = &election.contests[0];
        assert_eq!(
            (chair.seats, chair.min_choices, chair.max_choices),
            (1, 1, 1)
        );
        let members = &election.contests[1];
        assert_eq!((members.min_choices, members.max_choices), (0, 3));
    }

    #[test]
    fn every_refusal_names_its_field() {
        let cases = [
            (
                "/contests/1/max_choices",
                json!(4),
                "contests[1].max_choices: must be between 1 and 3",
            ),
            (
                "/timezone",
                json!("Mars/Olympus"),
                "timezone: unknown time zone",
            ),
            (
                "/contests",
                json!([]),
                "contests: an election needs at least one contest",
            ),
            (
                "/contests/0/choices/1/name",
                json!("ada"),
                "contests[0].choices[1].name: \"ada\" is already",
            ),
            (
                "/contests/0/choices/0/name",
                json!(" "),
                "contests[0].choices[0].name: must not be empty",
            ),
            ("/slug", json!("Board 2027"), "slug: must be"),
            (
                "/slug",
                json!("6f1c7a1e-3b0e-4a53-9d7f-2c0d7d8e4b11"),
                "slug: must not be a UUID",
            ),
            (
                "/contests/0/seats",
                json!(3),
                "contests[0].seats: must be between 1 and 2",
            ),
            (
                "/contests/0/max_score",
                json!(3),
                "contests[0].max_score: only score",
            ),
            (
                "/closes_at",
                json!("2020-01-01T00:00:00Z"),
                "closes_at: must be after opens_at",
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut raw = valid();
            raw["opens_at"] = json!("2030-01-01T00:00:00Z");
            if pointer == "/contests/0/seats" {
                raw["contests"][0]["method"] = json!("stv-scottish");
            }
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = raw.pointer_mut(parent).unwrap();
            match key.parse::<usize>() {
                Ok(index) => parent[index] = value,
                Err(_) => parent[key] = value,
            }
            let error = document(raw).parse().unwrap_err();
            assert!(error.starts_with(expected), "{pointer}: {error}");
        }
    }

    #[test]
    fn more_than_a_thousand_choices_are_refused() {
        let mut raw = valid();
        raw["contests"][1]["choices"] = (0..1001)
            .map(|i| json!({"name": format!("c{i}")}))
            .collect();
        assert_eq!(
            document(raw).parse().unwrap_err(),
            "contests[1].choices: at most 1000 choices"
        );
    }

    #[test]
    fn times_are_kept_to_the_millisecond() {
        let mut raw = valid();
        raw["opens_at"] = json!("2030-01-01T00:00:00.123456Z");
        let election = document(raw).parse().unwrap();
        assert_eq!(
            election.opens_at.unwrap().to_rfc3339(),
            "2030-01-01T00:00:00.123+00:00"
        );
    }
}
