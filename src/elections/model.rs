//! What an election is: its settings, its contests and their choices, and the words the API and
//! the database use for each.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an election is in its life. `draft` is editable; from `scheduled` on the ballot is
/// frozen. `open` and `closed` also follow from `opens_at`/`closes_at` by the database's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ElectionState {
    Draft,
    Scheduled,
    Open,
    Closed,
    Published,
    Archived,
}

/// Who may cast a ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Eligibility {
    /// Any registered account.
    #[default]
    Open,
    /// Only the voters on the election's roll.
    Roll,
}

/// When the results may be shown, to everyone (admins included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultsPolicy {
    /// From opening (while at least `live_min_ballots` ballots are cast).
    Live,
    /// From closing.
    AfterClose,
    /// From publishing.
    #[default]
    AfterPublish,
}

/// How a contest is counted; the name is also the `method` of `securevote tally`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Choose up to `max_choices`; with several seats, block voting.
    #[default]
    Plurality,
    Approval,
    Irv,
    StvScottish,
    StvMeek,
    Schulze,
    RankedPairs,
    Copeland,
    Borda,
    Score,
    Star,
}

/// The shape of a contest's part of a ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BallotForm {
    /// A set of choices: `[choice_id, ...]`.
    Choices,
    /// An order of preference: `{"ranking": [choice_id, ...]}`.
    Ranking,
    /// A score per choice: `{"scores": {"choice_id": n}}`.
    Scores,
}

macro_rules! column_names {
    ($type:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            /// The column has a CHECK constraint, so anything else is a corrupt row.
            pub fn from_column(value: &str) -> Option<Self> {
                match value { $($name => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

column_names!(ElectionState {
    Draft => "draft", Scheduled => "scheduled", Open => "open", Closed => "closed",
    Published => "published", Archived => "archived",
});
column_names!(Eligibility { Open => "open", Roll => "roll" });
column_names!(ResultsPolicy { Live => "live", AfterClose => "after_close", AfterPublish => "after_publish" });
column_names!(Method {
    Plurality => "plurality", Approval => "approval", Irv => "irv", StvScottish => "stv-scottish",
    StvMeek => "stv-meek", Schulze => "schulze", RankedPairs => "ranked-pairs", Copeland => "copeland",
    Borda => "borda", Score => "score", Star => "star",
});

impl Method {
    pub fn form(self) -> BallotForm {
        match self {
            Self::Plurality | Self::Approval => BallotForm::Choices,
            Self::Score | Self::Star => BallotForm::Scores,
            _ => BallotForm::Ranking,
        }
    }

    /// Methods that elect one winner only.
    pub fn single_winner(self) -> bool {
        matches!(
            self,
            Self::Irv | Self::Schulze | Self::RankedPairs | Self::Copeland | Self::Star
        )
    }

    /// Counted from per-choice counters kept with every ballot (no recount of the ballots).
    pub fn counted_incrementally(self) -> bool {
        self.form() == BallotForm::Choices
    }
}

/// A choice on a contest's ballot, in ballot order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Choice {
    pub id: Uuid,
    pub name: String,
    pub party: Option<String>,
    pub description: Option<String>,
}

/// One question on the ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contest {
    pub id: Uuid,
    pub title: String,
    pub method: Method,
    pub seats: u32,
    pub min_choices: u32,
    pub max_choices: u32,
    /// Highest score of a `score` or `star` contest (scores run from 0).
    pub max_score: Option<u32>,
    pub choices: Vec<Choice>,
}

/// An election as stored, with its state judged by the database's clock when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Election {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    /// IANA time zone in which the election's times are shown.
    pub timezone: String,
    #[serde(with = "crate::domain::records::rfc3339_utc_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::domain::records::rfc3339_utc_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<DateTime<Utc>>,
    /// `opens_at` in the election's time zone (RFC 3339 with its offset).
    pub opens_at_local: Option<String>,
    /// `closes_at` in the election's time zone.
    pub closes_at_local: Option<String>,
    pub eligibility: Eligibility,
    pub results: ResultsPolicy,
    /// With `live` results: fewer ballots than this and the results stay embargoed.
    pub live_min_ballots: u32,
    pub state: ElectionState,
    /// Whether `/api/options`, `/api/votes` and `/api/results` mean this election.
    pub is_default: bool,
    /// Only the election the migrations build from a database's existing candidates and votes:
    /// candidates may be added to its one contest while it is open, and one with votes is never
    /// changed or deleted. Every election created through the API is frozen from `scheduled`.
    pub ballot_editable: bool,
    /// SHA-256 of the roll's canonical form (see `crate::rolls`), fixed when a roll election is
    /// scheduled; anyone can check later that the roll did not change.
    pub roll_fingerprint: Option<String>,
    #[serde(with = "crate::domain::records::rfc3339_utc_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::domain::records::rfc3339_utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    pub contests: Vec<Contest>,
    /// Encrypted elections only: the trustees and threshold (shown by `GET /api/elections/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<super::encrypted::Encryption>,
    /// Encrypted elections only: the event hash of the board's last event, once it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_head: Option<String>,
}

impl Election {
    /// Fills in the times as shown in the election's time zone.
    pub fn localize(&mut self) {
        let zone: Option<chrono_tz::Tz> = self.timezone.parse().ok();
        let show = |at: Option<DateTime<Utc>>| {
            at.zip(zone).map(|(at, zone)| {
                at.with_timezone(&zone)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
            })
        };
        self.opens_at_local = show(self.opens_at);
        self.closes_at_local = show(self.closes_at);
    }

    pub fn contest(&self, id: Uuid) -> Option<&Contest> {
        self.contests.iter().find(|c| c.id == id)
    }

    /// Whether the ballot (contests and choices) may still change.
    pub fn is_frozen(&self) -> bool {
        self.state != ElectionState::Draft
    }
}

/// An election named in a path: by id or by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionKey {
    Id(Uuid),
    Slug(String),
}

impl ElectionKey {
    /// A UUID is an id; anything else is a slug (slugs can never be UUIDs).
    pub fn parse(raw: &str) -> Self {
        match Uuid::parse_str(raw) {
            Ok(id) => Self::Id(id),
            Err(_) => Self::Slug(raw.to_ascii_lowercase()),
        }
    }
}

/// A stored ballot's content and weight, for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBallot {
    pub selections: serde_json::Value,
    /// In nano-units (`crate::rolls::WEIGHT_SCALE` is a weight of 1).
    pub weight: u64,
}
