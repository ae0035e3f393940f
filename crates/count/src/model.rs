//! What a count takes: the contest (choices, seats) and its ballots, and which method to apply.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::decimal::Weight;

/// One choice (candidate or option). `id` is whatever the caller identifies it by (a database
/// id, or its number in a BLT file); `name` is what result sheets print. Names are unique within
/// a contest, since lots are drawn on them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub id: String,
    pub name: String,
}

impl Choice {
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Choice {
        Choice {
            id: id.into(),
            name: name.into(),
        }
    }
}

/// A contest to be counted. Choices are referred to by their index in `choices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contest {
    pub title: Option<String>,
    pub choices: Vec<Choice>,
    /// Seats to fill (1 for a single-winner contest).
    pub seats: usize,
    /// Choices withdrawn after ballots were printed: skipped on every ballot, never elected.
    pub withdrawn: Vec<usize>,
    /// Highest score on a score or STAR ballot (scores run from 0 to this).
    pub max_score: u32,
    /// Most choices a plurality (block) ballot may mark; `None` means `seats`.
    pub max_choices: Option<usize>,
}

impl Contest {
    /// A contest with choices named `names` (ids "1", "2", ... as in a BLT file).
    pub fn with_names<S: AsRef<str>>(names: &[S], seats: usize) -> Contest {
        Contest {
            title: None,
            choices: names
                .iter()
                .enumerate()
                .map(|(i, n)| Choice::new((i + 1).to_string(), n.as_ref()))
                .collect(),
            seats,
            withdrawn: Vec::new(),
            max_score: 5,
            max_choices: None,
        }
    }

    /// Index of the choice named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.choices.iter().position(|c| c.name == name)
    }
}

/// What a voter marked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BallotForm {
    /// An unordered set of choices (plurality, block and approval voting).
    Choices(Vec<usize>),
    /// Choices in order of preference, first preference first; later choices may be left out.
    Ranking(Vec<usize>),
    /// A score from 0 to the contest's `max_score` for some choices; unscored choices score 0.
    Scores(Vec<(usize, u32)>),
}

/// One ballot (or a bundle of identical ballots) with its weight from the roll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ballot {
    pub weight: Weight,
    pub form: BallotForm,
}

impl Ballot {
    pub fn ranking(order: Vec<usize>) -> Ballot {
        Ballot {
            weight: Weight::ONE,
            form: BallotForm::Ranking(order),
        }
    }

    pub fn weighted(weight: Weight, form: BallotForm) -> Ballot {
        Ballot { weight, form }
    }
}

/// The counting methods, by the names the CLI and the API use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
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

impl Method {
    pub const ALL: [Method; 11] = [
        Method::Plurality,
        Method::Approval,
        Method::Irv,
        Method::StvScottish,
        Method::StvMeek,
        Method::Schulze,
        Method::RankedPairs,
        Method::Copeland,
        Method::Borda,
        Method::Score,
        Method::Star,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Plurality => "plurality",
            Method::Approval => "approval",
            Method::Irv => "irv",
            Method::StvScottish => "stv-scottish",
            Method::StvMeek => "stv-meek",
            Method::Schulze => "schulze",
            Method::RankedPairs => "ranked-pairs",
            Method::Copeland => "copeland",
            Method::Borda => "borda",
            Method::Score => "score",
            Method::Star => "star",
        }
    }

    /// The rule this implementation follows, as printed on result sheets.
    pub fn rule(self) -> &'static str {
        match self {
            Method::Plurality => "plurality (block voting when more than one seat)",
            Method::Approval => "approval voting",
            Method::Irv => "instant-runoff voting",
            Method::StvScottish => {
                "single transferable vote, Scottish Local Government Elections Order 2007, Schedule 1, rules 45-52"
            }
            Method::StvMeek => {
                "single transferable vote, Meek's method (Proportional Representation Foundation reference rule)"
            }
            Method::Schulze => "Schulze method (winning votes)",
            Method::RankedPairs => "ranked pairs (Tideman, winning votes)",
            Method::Copeland => "Copeland's method (win 1, tie 1/2)",
            Method::Borda => "Borda count (n-1 points for a first preference, unranked 0)",
            Method::Score => "score voting (highest total score)",
            Method::Star => "STAR voting (score then automatic runoff)",
        }
    }

    /// Whether the method reads rankings (as opposed to sets of choices or scores).
    pub fn is_ranked(self) -> bool {
        matches!(
            self,
            Method::Irv
                | Method::StvScottish
                | Method::StvMeek
                | Method::Schulze
                | Method::RankedPairs
                | Method::Copeland
                | Method::Borda
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown method name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMethod(pub String);

impl fmt::Display for UnknownMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        write!(
            f,
            "unknown method '{}' (known: {})",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownMethod {}

impl FromStr for Method {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Why a count could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CountError {
    /// The contest itself is unusable (no choices, duplicate names, bad seat number...).
    InvalidContest(String),
    /// Ballot number `index` (0-based, in the order given) is malformed for this method.
    InvalidBallot { index: usize, reason: String },
    /// The method cannot count this contest (for example IRV with more than one seat).
    Unsupported(String),
}

impl fmt::Display for CountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountError::InvalidContest(m) => write!(f, "invalid contest: {m}"),
            CountError::InvalidBallot { index, reason } => {
                write!(f, "ballot {}: {reason}", index + 1)
            }
            CountError::Unsupported(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CountError {}
