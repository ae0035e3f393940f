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
    /// The ballot's one choice; null when the ballot (cast through the elections API) has more.
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

impl Tally {
    /// Every vote references an existing candidate, so the total is the sum of the counts; one
    /// query then yields a consistent snapshot.
    pub fn from_counts(results: Vec<CandidateTally>) -> Self {
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
