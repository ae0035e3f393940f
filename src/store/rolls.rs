//! The store's roll side: an election's roll, replaced whole by an import while the election
//! is a draft, and read back with each voter's participation (voted or not, never how).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use super::StoreError;
use super::elections::Actor;
use crate::rolls::{ImportReport, RollEntry};

/// A roll entry with whether its voter has cast a ballot in the election.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RollStatus {
    #[serde(flatten)]
    pub entry: RollEntry,
    pub voted: bool,
    /// The latest message to this voter: `queued`, `sending`, `sent` or `failed`; null before
    /// any was queued.
    pub invitation: Option<String>,
    /// The SMTP server's reply to that message's last failed attempt.
    pub invitation_error: Option<String>,
}

/// Eligible voters and those who voted: in all, and per group label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollTurnout {
    pub eligible: u64,
    pub voted: u64,
    pub groups: BTreeMap<String, (u64, u64)>,
}

#[async_trait]
pub trait RollStore: Send + Sync {
    /// Replaces the draft election's roll with `entries` in one transaction (all or nothing),
    /// audited; with `dry_run`, only reports what would change.
    async fn replace_roll(
        &self,
        actor: Actor,
        election_id: Uuid,
        entries: &[RollEntry],
        dry_run: bool,
    ) -> Result<ImportReport, StoreError>;
    /// Entries ordered by email, after `after` (the previous page's last email), optionally
    /// only those whose email or name contains `search`.
    async fn roll_page(
        &self,
        election_id: Uuid,
        after: Option<&str>,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RollStatus>, StoreError>;
    async fn roll_turnout(&self, election_id: Uuid) -> Result<RollTurnout, StoreError>;
}

/// `groups` as stored: sorted labels joined by ';'.
pub(super) fn join_groups(groups: &[String]) -> String {
    groups.join(";")
}

pub(super) fn split_groups(stored: &str) -> Vec<String> {
    stored
        .split(';')
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The report of replacing `current` with `entries`.
pub(super) fn report(current: &[RollEntry], entries: &[RollEntry], dry_run: bool) -> ImportReport {
    let (added, updated, unchanged, removed) = crate::rolls::diff(current, entries);
    ImportReport {
        dry_run,
        added,
        updated,
        unchanged,
        removed,
        rejected: Vec::new(),
        fingerprint: crate::rolls::fingerprint(entries),
    }
}

/// Adds each voter to their groups' counts.
pub(super) fn add_to_turnout(turnout: &mut RollTurnout, groups: &str, voted: bool) {
    turnout.eligible += 1;
    turnout.voted += u64::from(voted);
    for group in split_groups(groups) {
        let counts = turnout.groups.entry(group).or_insert((0, 0));
        counts.0 += 1;
        counts.1 += u64::from(voted);
    }
}
