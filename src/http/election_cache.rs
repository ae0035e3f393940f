//! What the ballot and results routes keep in memory between requests.
//!
//! - The contests of a frozen election (every state but `draft`, except an election whose
//!   ballot stays editable, `ballot_editable`) never change, so a ballot is checked against a
//!   copy read once.
//!   The copy's state may be old; the ballot's own statement judges the state.
//! - The default election is read again after [`MAX_AGE`], so an admin's choice of another
//!   default reaches every instance within that time.
//! - An election's results answer (or its embargo) is at most [`MAX_AGE`] old. Every change of
//!   the answer over time shows more (open → closed → published; ballots only increase), so an
//!   old copy can only be more restrictive than the current one, never reveal more.
//! - The last answer of `GET /api/elections/{id}` for every public (non-draft) election is kept,
//!   so election pages still open (with an `Age` header) while no database node accepts
//!   connections; it is never served while the database answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Bytes;
use uuid::Uuid;

pub(crate) use super::read_cache::MAX_AGE;
use crate::elections::{Election, ElectionKey, ElectionState};
use crate::store::{Store, StoreError};

/// A results answer: the JSON, or why it is embargoed.
pub(crate) type ResultsAnswer = Result<Bytes, &'static str>;

/// A computed answer and whether it is final (shown, and voting is over: it never changes).
pub(crate) struct Computed {
    pub answer: ResultsAnswer,
    pub is_final: bool,
}

pub(crate) struct ElectionCache {
    store: Arc<dyn Store>,
    frozen: Mutex<HashMap<Uuid, Arc<Election>>>,
    default: Mutex<Option<(Instant, Option<Arc<Election>>)>>,
    /// One read of the default election at a time; readers that find it stale wait on it.
    default_refresh: tokio::sync::Mutex<()>,
    results: Mutex<HashMap<Uuid, (Instant, ResultsAnswer, bool)>>,
    /// Public elections as last read, by id, for outages.
    last_read: Mutex<HashMap<Uuid, (Instant, Arc<Election>)>>,
    /// One results computation at a time; readers that find a stale copy wait on it.
    results_refresh: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ElectionCache {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            frozen: Mutex::new(HashMap::new()),
            default: Mutex::new(None),
            default_refresh: tokio::sync::Mutex::new(()),
            results: Mutex::new(HashMap::new()),
            last_read: Mutex::new(HashMap::new()),
            results_refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The election's contests for checking a ballot: a kept copy when frozen, else read now.
    pub(crate) async fn ballot_of(&self, id: Uuid) -> Result<Option<Arc<Election>>, StoreError> {
        if let Some(election) = lock(&self.frozen).get(&id) {
            return Ok(Some(Arc::clone(election)));
        }
        let Some(election) = self.store.election(&ElectionKey::Id(id)).await? else {
            return Ok(None);
        };
        let election = Arc::new(election);
        if election.state != ElectionState::Draft && !election.ballot_editable {
            lock(&self.frozen).insert(id, Arc::clone(&election));
        }
        Ok(Some(election))
    }

    /// Keeps `election` (read at `read_at`) for [`Self::last_read`]; drafts are not kept.
    pub(crate) fn remember(&self, election: &Election, read_at: Instant) {
        if election.state != ElectionState::Draft {
            lock(&self.last_read).insert(election.id, (read_at, Arc::new(election.clone())));
        }
    }

    /// The last public copy of the election `key` names, with its age in whole seconds: for
    /// answering while the database cannot be reached.
    pub(crate) fn last_read(&self, key: &ElectionKey) -> Option<(Arc<Election>, u64)> {
        let kept = lock(&self.last_read);
        let (read_at, election) = match key {
            ElectionKey::Id(id) => kept.get(id)?,
            ElectionKey::Slug(slug) => kept.values().find(|(_, e)| &e.slug == slug)?,
        };
        Some((Arc::clone(election), read_at.elapsed().as_secs()))
    }

    /// The default election, at most [`MAX_AGE`] old.
    pub(crate) async fn default_election(&self) -> Result<Option<Arc<Election>>, StoreError> {
        let fresh = |cache: &Self| {
            lock(&cache.default)
                .as_ref()
                .filter(|(read_at, _)| read_at.elapsed() < MAX_AGE)
                .map(|(_, election)| election.clone())
        };
        if let Some(election) = fresh(self) {
            return Ok(election);
        }
        let _refreshing = self.default_refresh.lock().await;
        if let Some(election) = fresh(self) {
            return Ok(election);
        }
        let read_at = Instant::now();
        let election = self.store.default_election().await?.map(Arc::new);
        *lock(&self.default) = Some((read_at, election.clone()));
        Ok(election)
    }

    /// An admin changed which election is the default, through this instance.
    pub(crate) fn default_changed(&self) {
        *lock(&self.default) = None;
    }

    /// The election's result changed through this instance (an encrypted election's `result`
    /// event): the next read computes a new answer.
    pub(crate) fn results_changed(&self, id: Uuid) {
        lock(&self.results).remove(&id);
    }

    /// The election's results answer, at most [`MAX_AGE`] old (a final one is kept); `compute`
    /// makes a new one.
    pub(crate) async fn results<F, Fut>(
        &self,
        id: Uuid,
        compute: F,
    ) -> Result<ResultsAnswer, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Computed, StoreError>>,
    {
        let fresh = |cache: &Self| {
            lock(&cache.results)
                .get(&id)
                .filter(|(at, _, is_final)| *is_final || at.elapsed() < MAX_AGE)
                .map(|(_, answer, _)| answer.clone())
        };
        if let Some(answer) = fresh(self) {
            return Ok(answer);
        }
        let _refreshing = self.results_refresh.lock().await;
        if let Some(answer) = fresh(self) {
            return Ok(answer);
        }
        let started = Instant::now();
        let computed = compute().await?;
        lock(&self.results).insert(id, (started, computed.answer.clone(), computed.is_final));
        Ok(computed.answer)
    }
}
