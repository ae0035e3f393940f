use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A registered voter as the API shows it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    #[serde(with = "rfc3339_utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    pub id: Uuid,
    pub name: String,
    pub party: Option<String>,
    pub description: Option<String>,
}

/// A candidate as listed in an import file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCandidate {
    pub name: String,
    #[serde(default)]
    pub party: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Vote {
    pub id: Uuid,
    /// The ballot's one choice as sent; null when the ballot (cast through the elections API)
    /// has more, and always in `GET /api/votes/me` (ballots are stored without their voters).
    pub candidate_id: Option<Uuid>,
    #[serde(with = "rfc3339_utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CandidateTally {
    pub candidate_id: Uuid,
    pub name: String,
    pub party: Option<String>,
    pub votes: i64,
}

/// Results ordered by votes descending, then name; candidates without votes included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tally {
    pub total_votes: i64,
    pub results: Vec<CandidateTally>,
}

/// The one order of candidates by name, the same on every store: Unicode lowercase first (so
/// `émile` sorts with `Émile`), then the exact name, then the id. Databases disagree on how to
/// lowercase and compare non-ASCII text, so the stores sort in Rust with this.
pub fn name_order(a: (&str, Uuid), b: (&str, Uuid)) -> std::cmp::Ordering {
    a.0.to_lowercase()
        .cmp(&b.0.to_lowercase())
        .then_with(|| a.0.cmp(b.0))
        .then_with(|| a.1.cmp(&b.1))
}

/// Sorts candidates by [`name_order`].
pub fn sort_by_name(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| name_order((&a.name, a.id), (&b.name, b.id)));
}

impl Tally {
    /// Every vote references an existing candidate, so the total is the sum of the counts; one
    /// query then yields a consistent snapshot. Ordered by votes, then [`name_order`].
    pub fn from_counts(mut results: Vec<CandidateTally>) -> Self {
        results.sort_by(|a, b| {
            b.votes
                .cmp(&a.votes)
                .then_with(|| name_order((&a.name, a.candidate_id), (&b.name, b.candidate_id)))
        });
        let total_votes = results.iter().map(|r| r.votes).sum();
        Self {
            total_votes,
            results,
        }
    }
}

/// Timestamps are always RFC 3339 in UTC with a `Z`, whatever the store keeps.
pub mod rfc3339_utc {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

/// [`rfc3339_utc`] for an optional instant (null when absent).
pub mod rfc3339_utc_opt {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339_utc::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }
}
