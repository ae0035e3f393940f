//! The store's security side: roles, admin changes with their audit records, and the counters
//! behind the abuse limits. A separate trait (a supertrait of [`super::Store`]) so the two
//! backends implement it in their own files.
//!
//! Counters live in the database, not in memory, so every instance behind the load balancer
//! sees the same numbers: ten failed logins spread over two instances are still ten.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{Candidate, Email, NewCandidate, User};
use crate::elections::Election;

/// Which audit entries to read: one action, or every action under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFilter {
    Action(String),
    /// Ends in a dot, e.g. `election.`.
    Prefix(String),
}

impl AuditFilter {
    /// `election.` is a prefix; anything else one action.
    pub fn parse(raw: &str) -> Self {
        if raw.ends_with('.') {
            Self::Prefix(raw.to_owned())
        } else {
            Self::Action(raw.to_owned())
        }
    }

    /// The exact action and the LIKE pattern the stores' query binds (one of them set).
    pub fn sql_params(filter: Option<&Self>) -> (Option<String>, Option<String>) {
        match filter {
            None => (None, None),
            Some(Self::Action(action)) => (Some(action.clone()), None),
            // Actions hold only [a-z0-9_.]: `_` is LIKE's wildcard, so it is escaped.
            Some(Self::Prefix(prefix)) => (None, Some(format!("{}%", prefix.replace('_', "\\_")))),
        }
    }
}

/// What a user may do. Admins are made only on the command line (`securevote admin create`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Voter,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voter => "voter",
            Self::Admin => "admin",
        }
    }

    /// The column has a CHECK constraint; anything else is a corrupt row, read as the lesser role.
    pub fn from_column(value: &str) -> Self {
        if value == "admin" {
            Self::Admin
        } else {
            Self::Voter
        }
    }
}

/// The outcome of `securevote admin create` for an existing account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    Promoted(Uuid),
    AlreadyAdmin(Uuid),
}

/// A partial update of a candidate: `None` leaves a field as it is; for the optional fields
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandidatePatch {
    pub name: Option<String>,
    pub party: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

impl CandidatePatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.party.is_none() && self.description.is_none()
    }

    pub fn apply(&self, before: &Candidate) -> Candidate {
        Candidate {
            id: before.id,
            name: self.name.clone().unwrap_or_else(|| before.name.clone()),
            party: self.party.clone().unwrap_or_else(|| before.party.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| before.description.clone()),
        }
    }
}

/// Counts for GET /api/admin/stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminStats {
    pub registered_users: i64,
    pub votes_cast: i64,
}

/// One row of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Increasing; the pagination cursor (`before`).
    pub id: i64,
    #[serde(with = "crate::domain::records::rfc3339_utc")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// The admin who made the change; null for changes made with the command line.
    pub actor_id: Option<Uuid>,
    /// The actor's email, when the account still exists.
    pub actor_email: Option<String>,
    /// `candidate.create`, `candidate.update`, `candidate.delete`, `user.create_admin`,
    /// `user.promote`, `user.logout_everywhere`.
    pub action: String,
    /// `candidate` or `user`.
    pub target_type: String,
    pub target_id: Option<String>,
    /// The target before the change (null for a creation).
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The target after the change (null for a deletion).
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// An audit record to write inside the transaction of the change it describes.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor_id: Option<Uuid>,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditRecord {
    pub fn candidate(
        actor_id: Uuid,
        action: &'static str,
        id: Uuid,
        before: Option<&Candidate>,
        after: Option<&Candidate>,
    ) -> Self {
        Self {
            actor_id: Some(actor_id),
            action,
            target_type: "candidate",
            target_id: id.to_string(),
            before: before.map(candidate_json),
            after: after.map(candidate_json),
        }
    }

    /// A role change made on the command line (no actor).
    pub fn user_role(action: &'static str, user: Uuid, email: &str, before: Option<Role>) -> Self {
        Self {
            actor_id: None,
            action,
            target_type: "user",
            target_id: user.to_string(),
            before: before.map(|role| serde_json::json!({"email": email, "role": role})),
            after: Some(serde_json::json!({"email": email, "role": Role::Admin})),
        }
    }
}

impl AuditRecord {
    /// An election created, replaced or deleted: the whole election before and after.
    pub fn election(
        actor: crate::store::elections::Actor,
        action: &'static str,
        target: &Election,
        before: Option<&Election>,
        after: Option<&Election>,
    ) -> Self {
        Self {
            actor_id: actor.id(),
            action,
            target_type: "election",
            target_id: target.id.to_string(),
            before: before.and_then(|e| serde_json::to_value(e).ok()),
            after: after.and_then(|e| serde_json::to_value(e).ok()),
        }
    }

    /// A change of an election's state, schedule or default flag: those fields before and after.
    pub fn election_state(
        actor: crate::store::elections::Actor,
        action: &'static str,
        before: &Election,
        after: &Election,
    ) -> Self {
        let summary = |e: &Election| {
            serde_json::json!({
                "state": e.state,
                "opens_at": e.opens_at,
                "closes_at": e.closes_at,
                "published_at": e.published_at,
                "is_default": e.is_default,
                "roll_fingerprint": e.roll_fingerprint,
            })
        };
        Self {
            actor_id: actor.id(),
            action,
            target_type: "election",
            target_id: before.id.to_string(),
            before: Some(summary(before)),
            after: Some(summary(after)),
        }
    }

    /// Candidates added to the default election's contest by `securevote candidates import`
    /// (or the demo ballot of a new embedded database): no account is the actor.
    pub fn candidates_import(contest: Uuid, candidates: &[NewCandidate]) -> Self {
        Self {
            actor_id: None,
            action: "candidate.import",
            target_type: "contest",
            target_id: contest.to_string(),
            before: None,
            after: Some(serde_json::json!(
                candidates
                    .iter()
                    .map(|c| serde_json::json!({"name": c.name, "party": c.party, "description": c.description}))
                    .collect::<Vec<_>>()
            )),
        }
    }

    /// A roll imported into a draft election: the counts and the new fingerprint.
    pub fn roll_import(
        actor: crate::store::elections::Actor,
        election: Uuid,
        report: &crate::rolls::ImportReport,
    ) -> Self {
        Self {
            actor_id: actor.id(),
            action: "roll.import",
            target_type: "election",
            target_id: election.to_string(),
            before: None,
            after: serde_json::to_value(report).ok(),
        }
    }

    /// Messages queued for an election's roll.
    pub fn mail_queued(
        actor: crate::store::elections::Actor,
        election: Uuid,
        kind: crate::store::outbox::MailKind,
        recipients: &crate::store::outbox::Recipients,
        queued: u64,
    ) -> Self {
        use crate::store::outbox::Recipients;
        let to = match recipients {
            Recipients::NotInvited => serde_json::json!("not_invited"),
            Recipients::NotVoted => serde_json::json!("not_voted"),
            Recipients::One(email) => serde_json::json!({ "email": email }),
        };
        Self {
            actor_id: actor.id(),
            action: "mail.queue",
            target_type: "election",
            target_id: election.to_string(),
            before: None,
            after: Some(serde_json::json!({"kind": kind, "recipients": to, "queued": queued})),
        }
    }

    /// The audit action of an admin's election action.
    pub fn election_action(action: crate::elections::Action) -> &'static str {
        use crate::elections::Action;
        match action {
            Action::Schedule => "election.schedule",
            Action::Open => "election.open",
            Action::Close => "election.close",
            Action::Extend => "election.extend",
            Action::Publish => "election.publish",
            Action::Archive => "election.archive",
        }
    }
}

fn candidate_json(candidate: &Candidate) -> Value {
    serde_json::json!({
        "id": candidate.id,
        "name": candidate.name,
        "party": candidate.party,
        "description": candidate.description,
    })
}

/// Progressive lockout after repeated failed logins for one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failed attempts allowed per window; 0 turns the lockout off.
    pub max_failures: i64,
    pub window_secs: i64,
    /// The first lockout; each further one doubles, up to `max_lock_secs`.
    pub base_lock_secs: i64,
    pub max_lock_secs: i64,
}

/// How long an account's earlier lockouts count towards the next one's length.
pub(super) const LOCKOUT_MEMORY_SECS: i64 = 24 * 60 * 60;

impl LockoutPolicy {
    pub fn lock_secs(&self, lockout_number: i64) -> i64 {
        let doublings = u32::try_from((lockout_number - 1).clamp(0, 30)).unwrap_or(30);
        self.base_lock_secs
            .saturating_mul(1i64 << doublings)
            .min(self.max_lock_secs)
            .max(1)
    }
}

/// Whether a login attempt may go on to the (expensive) password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginGate {
    Open,
    Locked { retry_after_secs: u64 },
}

/// One account's row in `login_lockouts`; all times are Unix seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockoutState {
    pub window_start: i64,
    pub failures: i64,
    pub locked_until: i64,
    pub lockouts: i64,
}

impl LockoutState {
    /// Decides one attempt and returns the state to store. The attempt is counted as a failure
    /// *before* the password is checked (a success clears the count): check and count are one
    /// atomic step, so simultaneous attempts on several instances can never exceed the limit.
    pub fn attempt(mut self, now: i64, policy: &LockoutPolicy) -> (Self, LoginGate) {
        if self.locked_until > now {
            let retry = u64::try_from(self.locked_until - now).unwrap_or(1).max(1);
            return (
                self,
                LoginGate::Locked {
                    retry_after_secs: retry,
                },
            );
        }
        if self.lockouts > 0 && now - self.locked_until >= LOCKOUT_MEMORY_SECS {
            self.lockouts = 0;
        }
        if now >= self.window_start.saturating_add(policy.window_secs) {
            self.window_start = now;
            self.failures = 0;
        }
        if self.failures >= policy.max_failures {
            self.lockouts += 1;
            let lock = policy.lock_secs(self.lockouts);
            self.locked_until = now + lock;
            self.window_start = now;
            self.failures = 0;
            return (
                self,
                LoginGate::Locked {
                    retry_after_secs: u64::try_from(lock).unwrap_or(1),
                },
            );
        }
        self.failures += 1;
        (self, LoginGate::Open)
    }
}

#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// `None` when the user does not exist (any more).
    async fn user_role(&self, user_id: Uuid) -> Result<Option<Role>, StoreError>;
    /// Makes an existing account an admin (audited); `None` when there is no such account.
    async fn promote_to_admin(&self, email: &Email) -> Result<Option<Promotion>, StoreError>;
    /// Creates an admin account (audited); [`StoreError::EmailTaken`] when it exists.
    async fn create_admin(&self, email: &Email, password_hash: &str) -> Result<User, StoreError>;

    /// Each of these writes its audit record in the transaction of the change.
    async fn create_candidate(
        &self,
        actor: Uuid,
        candidate: &NewCandidate,
    ) -> Result<Candidate, StoreError>;
    async fn update_candidate(
        &self,
        actor: Uuid,
        id: Uuid,
        patch: &CandidatePatch,
    ) -> Result<Candidate, StoreError>;
    /// [`StoreError::CandidateHasVotes`] when a vote references it: ballots never vanish.
    async fn delete_candidate(&self, actor: Uuid, id: Uuid) -> Result<Candidate, StoreError>;

    async fn admin_stats(&self) -> Result<AdminStats, StoreError>;
    /// Newest first, at most `limit` entries with an id below `before`.
    async fn audit_log(
        &self,
        limit: u32,
        before: Option<i64>,
        filter: Option<&AuditFilter>,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Adds one hit to the fixed-window counter and returns the window's total.
    async fn count_hit(&self, scope: &str, key: &str, window_start: i64)
    -> Result<i64, StoreError>;
    /// Decides (and counts) a login attempt for `account` with [`LockoutState::attempt`].
    async fn login_attempt(
        &self,
        account: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LoginGate, StoreError>;
    /// A successful login clears the account's failures and lockout history.
    async fn login_succeeded(&self, account: &str) -> Result<(), StoreError>;
    /// Deletes counters that no longer affect any decision; returns how many rows went.
    async fn sweep_limits(&self, now: i64, policy: &LockoutPolicy) -> Result<u64, StoreError>;
}

/// Counter windows older than this are dead (every window is one minute long).
pub const HIT_WINDOW_SECS: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        max_failures: 10,
        window_secs: 60,
        base_lock_secs: 60,
        max_lock_secs: 3600,
    };

    fn run(state: LockoutState, now: i64, attempts: usize) -> (LockoutState, Vec<LoginGate>) {
        let mut state = state;
        let mut gates = Vec::new();
        for _ in 0..attempts {
            let (next, gate) = state.attempt(now, &POLICY);
            state = next;
            gates.push(gate);
        }
        (state, gates)
    }

    #[test]
    fn the_eleventh_attempt_within_the_window_is_locked_out() {
        let (state, gates) = run(LockoutState::default(), 1_000, 11);
        assert!(gates[..10].iter().all(|g| *g == LoginGate::Open));
        assert_eq!(
            gates[10],
            LoginGate::Locked {
                retry_after_secs: 60
            }
        );
        assert_eq!(state.locked_until, 1_060);
        let (_, gate) = state.attempt(1_030, &POLICY);
        assert_eq!(
            gate,
            LoginGate::Locked {
                retry_after_secs: 30
            }
        );
    }

    #[test]
    fn failures_in_an_old_window_are_forgotten() {
        let (state, _) = run(LockoutState::default(), 1_000, 10);
        let (_, gate) = state.attempt(1_060, &POLICY);
        assert_eq!(gate, LoginGate::Open);
    }

    #[test]
    fn lockouts_double_up_to_the_maximum_and_are_forgotten_after_a_day() {
        let lengths: Vec<i64> = (1..=8).map(|n| POLICY.lock_secs(n)).collect();
        assert_eq!(lengths, [60, 120, 240, 480, 960, 1920, 3600, 3600]);

        let (first, _) = run(LockoutState::default(), 0, 11);
        let (second, gates) = run(first, first.locked_until, 11);
        assert_eq!(
            gates[10],
            LoginGate::Locked {
                retry_after_secs: 120
            }
        );
        let later = second.locked_until + LOCKOUT_MEMORY_SECS;
        let (_, gates) = run(second, later, 11);
        assert_eq!(
            gates[10],
            LoginGate::Locked {
                retry_after_secs: 60
            }
        );
    }
}
