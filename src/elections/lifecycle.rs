//! The one state machine of an election, and when its results may be shown. Pure rules: the
//! stores apply them inside the transaction that reads the election's current state (judged by
//! the database's clock), so every instance decides alike.
//!
//! ```text
//!   draft ──schedule──▶ scheduled ──(opens_at, or open)──▶ open ──(closes_at, or close)──▶ closed
//!     │                                                   │  ▲                              │
//!   delete                                             extend┘                           publish
//!                                                                                           ▼
//!                                          archived ◀──archive── published ◀────────────────┘
//!                                              ▲                                            │
//!                                              └───────────────archive (from closed)────────┘
//! ```

use serde::Deserialize;
use utoipa::ToSchema;

use super::model::{Election, ElectionState, ResultsPolicy};

/// A state change an admin asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Freeze the ballot and wait for `opens_at` (or an admin's `open`).
    Schedule,
    /// Open now, before `opens_at`.
    Open,
    /// Close now, before `closes_at`.
    Close,
    /// Move `closes_at` later while open.
    Extend,
    /// Show the results to everyone. Cannot be undone.
    Publish,
    /// Put a closed or published election away; its record stays.
    Archive,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Open => "open",
            Self::Close => "close",
            Self::Extend => "extend",
            Self::Publish => "publish",
            Self::Archive => "archive",
        }
    }

    /// The state the election is in after the action, or why the action is refused.
    pub fn next(self, from: ElectionState) -> Result<ElectionState, String> {
        use ElectionState as S;
        let to = match (self, from) {
            (Self::Schedule, S::Draft) => S::Scheduled,
            (Self::Open, S::Scheduled) => S::Open,
            (Self::Close, S::Open) => S::Closed,
            (Self::Extend, S::Open) => S::Open,
            (Self::Publish, S::Closed) => S::Published,
            (Self::Archive, S::Closed | S::Published) => S::Archived,
            _ => {
                return Err(format!(
                    "cannot {} an election that is {}",
                    self.as_str(),
                    from.as_str()
                ));
            }
        };
        Ok(to)
    }
}

/// Why the results of an election are not shown yet, or `None` when they may be.
pub fn embargo(election: &Election, ballots: u64) -> Option<&'static str> {
    use ElectionState as S;
    let was_published = election.published_at.is_some();
    match (election.results, election.state) {
        (_, S::Draft | S::Scheduled) => Some("voting has not started"),
        (ResultsPolicy::Live, S::Open) if ballots < u64::from(election.live_min_ballots) => {
            Some("too few ballots are cast to show live results without revealing votes")
        }
        (ResultsPolicy::Live, _) => None,
        (ResultsPolicy::AfterClose, S::Open) => Some("results are shown once voting closes"),
        (ResultsPolicy::AfterClose, _) => None,
        (ResultsPolicy::AfterPublish, S::Published) => None,
        (ResultsPolicy::AfterPublish, S::Archived) if was_published => None,
        (ResultsPolicy::AfterPublish, _) => Some("results are shown once they are published"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ElectionState as S;

    const ALL: [ElectionState; 6] = [
        S::Draft,
        S::Scheduled,
        S::Open,
        S::Closed,
        S::Published,
        S::Archived,
    ];

    #[test]
    fn only_the_diagram_s_arrows_are_allowed() {
        let allowed = [
            (Action::Schedule, S::Draft, S::Scheduled),
            (Action::Open, S::Scheduled, S::Open),
            (Action::Close, S::Open, S::Closed),
            (Action::Extend, S::Open, S::Open),
            (Action::Publish, S::Closed, S::Published),
            (Action::Archive, S::Closed, S::Archived),
            (Action::Archive, S::Published, S::Archived),
        ];
        for action in [
            Action::Schedule,
            Action::Open,
            Action::Close,
            Action::Extend,
            Action::Publish,
            Action::Archive,
        ] {
            for from in ALL {
                let expected = allowed
                    .iter()
                    .find(|(a, f, _)| *a == action && *f == from)
                    .map(|t| t.2);
                assert_eq!(action.next(from).ok(), expected, "{action:?} from {from:?}");
            }
        }
        assert_eq!(
            Action::Publish.next(S::Open).unwrap_err(),
            "cannot publish an election that is open"
        );
    }
}
