//! The two public reads everyone polls on election day, GET /api/options (and /api/candidates)
//! and GET /api/results, served from memory as ready-made JSON.
//!
//! Freshness rules:
//! - Both answers are at most [`MAX_AGE`] old: every vote committed (by any instance) before
//!   the answer's database query started is in it. A read that finds its copy older waits for
//!   one refresh query (one at a time; concurrent readers share it), so the bound holds even
//!   under load.
//! - When the database cannot be reached, the results are a 503 (they must be current), but
//!   the ballot is served from the last copy with an `Age` header (seconds since its query):
//!   nobody can change the ballot while no database node accepts connections, so the copy is
//!   what a voter needs to see. While the outage lasts one reader at a time tries the database
//!   again; the others are answered from the copy at once.
//! - A vote cast through this instance is added to its cached tally at once (when the cached
//!   tally was read before the vote began, so it cannot be in it already): a voter who votes and
//!   then looks at the results on the same instance sees the vote. Votes through other
//!   instances appear within [`MAX_AGE`].
//! - [`ReadCache::candidates_changed`] (called by the admin routes that change the ballot)
//!   drops both copies at once; a change made elsewhere (another instance, `securevote
//!   candidates import`) is seen within [`MAX_AGE`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::domain::{Candidate, Tally};
use crate::store::{Store, StoreError};

/// Oldest answer served while the database answers: results "may be cached for at most 1 s".
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// One cached answer.
#[derive(Clone)]
struct Copy<T> {
    value: T,
    /// When the query that produced it started: its age is measured from here.
    queried_at: Instant,
    /// When the query's answer arrived: a vote that began later cannot be in it.
    answered_at: Instant,
    /// The ballot's generation the copy belongs to; an older one is not served.
    generation: u64,
}

/// An answer as served: the copy, and whether it is older than [`MAX_AGE`] (database outage).
struct Served<T> {
    copy: Copy<T>,
    stale: bool,
}

/// A value kept for [`MAX_AGE`] and refreshed by one query at a time.
struct Cached<T> {
    copy: Mutex<Option<Copy<T>>>,
    /// One refresh query at a time; readers that find a stale copy wait on it.
    refresh: tokio::sync::Mutex<()>,
    /// The last refresh found the database unreachable (only for values served stale).
    outage: AtomicBool,
}

impl<T: Clone> Cached<T> {
    fn new() -> Self {
        Self {
            copy: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            outage: AtomicBool::new(false),
        }
    }

    fn fresh(&self, generation: u64) -> Option<Copy<T>> {
        lock(&self.copy)
            .as_ref()
            .filter(|c| c.generation == generation && c.queried_at.elapsed() < MAX_AGE)
            .cloned()
    }

    fn last(&self, generation: u64) -> Option<Copy<T>> {
        lock(&self.copy)
            .as_ref()
            .filter(|c| c.generation == generation)
            .cloned()
    }

    /// The copy, refreshed by `query` when older than [`MAX_AGE`]; the new copy is stamped with
    /// `stamp` (the generation its inputs belong to). With `stale_on_outage`, an unreachable
    /// database serves the last copy of the current generation instead of an error.
    async fn get<F, Fut>(
        &self,
        generation: u64,
        stamp: u64,
        stale_on_outage: bool,
        query: F,
    ) -> Result<Served<T>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        if let Some(copy) = self.fresh(generation) {
            return Ok(Served { copy, stale: false });
        }
        let stale = |error: StoreError| match (&error, self.last(generation)) {
            (StoreError::Unavailable(_), Some(copy)) if stale_on_outage => {
                self.outage.store(true, Ordering::Release);
                Ok(Served { copy, stale: true })
            }
            _ => Err(error),
        };
        let _refreshing = if stale_on_outage && self.outage.load(Ordering::Acquire) {
            match self.refresh.try_lock() {
                Ok(guard) => guard,
                // Another reader is trying the database: answer from the copy meanwhile.
                Err(_) => {
                    return stale(StoreError::Unavailable(anyhow::anyhow!(
                        "the database is being retried"
                    )));
                }
            }
        } else {
            self.refresh.lock().await
        };
        // Whoever held the lock before us may just have refreshed it.
        if let Some(copy) = self.fresh(generation) {
            return Ok(Served { copy, stale: false });
        }
        let queried_at = Instant::now();
        let value = match query().await {
            Ok(value) => value,
            Err(error) => return stale(error),
        };
        self.outage.store(false, Ordering::Release);
        let copy = Copy {
            value,
            queried_at,
            answered_at: Instant::now(),
            generation: stamp,
        };
        *lock(&self.copy) = Some(copy.clone());
        Ok(Served { copy, stale: false })
    }
}

#[derive(Clone)]
struct CandidatesValue {
    json: Bytes,
    /// Position of each candidate in name order (the tally's tie-break).
    name_rank: Arc<HashMap<Uuid, usize>>,
}

#[derive(Clone)]
struct ResultsValue {
    json: Bytes,
    tally: Tally,
    name_rank: Arc<HashMap<Uuid, usize>>,
}

impl ResultsValue {
    /// Adds one vote for `candidate_id` and re-orders (votes descending, then name order, as
    /// the stores' query does). `false` when the candidate is unknown to this copy.
    fn add_vote(&mut self, candidate_id: Uuid) -> bool {
        let Some(row) = self
            .tally
            .results
            .iter_mut()
            .find(|row| row.candidate_id == candidate_id)
        else {
            return false;
        };
        row.votes += 1;
        self.tally.total_votes += 1;
        let rank = |id: &Uuid| self.name_rank.get(id).copied().unwrap_or(usize::MAX);
        self.tally.results.sort_by(|a, b| {
            b.votes
                .cmp(&a.votes)
                .then_with(|| rank(&a.candidate_id).cmp(&rank(&b.candidate_id)))
        });
        match serde_json::to_vec(&self.tally) {
            Ok(json) => {
                self.json = Bytes::from(json);
                true
            }
            Err(_) => false,
        }
    }
}

/// A cached JSON answer and, when it comes from an older copy, its age.
pub(crate) struct CachedJson {
    pub json: Bytes,
    /// Whole seconds since the copy's query started, when served past [`MAX_AGE`].
    pub age: Option<u64>,
}

impl IntoResponse for CachedJson {
    fn into_response(self) -> Response {
        let mut response = json_response(self.json);
        if let Some(age) = self.age {
            response
                .headers_mut()
                .insert(header::AGE, HeaderValue::from(age));
        }
        response
    }
}

/// Cached candidate list and results; cheap to share (`Arc`).
pub(crate) struct ReadCache {
    store: Arc<dyn Store>,
    /// Bumped when the ballot changes; a copy of an older generation is not served.
    generation: AtomicU64,
    candidates: Cached<CandidatesValue>,
    results: Cached<ResultsValue>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A JSON answer from cached bytes (what `Json` would send, without serialising again).
pub(crate) fn json_response(json: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

impl ReadCache {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            generation: AtomicU64::new(0),
            candidates: Cached::new(),
            results: Cached::new(),
        }
    }

    /// The ballot changed through this instance: neither copy may be served again.
    pub(crate) fn candidates_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn current_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// GET /api/options: all candidates ordered by name, as JSON; from the last copy, with its
    /// age, while the database cannot be reached.
    pub(crate) async fn candidates_json(&self) -> Result<CachedJson, StoreError> {
        let served = self.candidates_served(true).await?;
        let age = served
            .stale
            .then(|| served.copy.queried_at.elapsed().as_secs());
        Ok(CachedJson {
            json: served.copy.value.json,
            age,
        })
    }

    async fn candidates_served(
        &self,
        stale_on_outage: bool,
    ) -> Result<Served<CandidatesValue>, StoreError> {
        let generation = self.current_generation();
        self.candidates
            .get(generation, generation, stale_on_outage, || async {
                let candidates = self.store.candidates().await?;
                Ok(CandidatesValue {
                    json: to_json(&candidates)?,
                    name_rank: Arc::new(name_ranks(&candidates)),
                })
            })
            .await
    }

    /// GET /api/results: the tally, as JSON (never older than [`MAX_AGE`]).
    pub(crate) async fn results_json(&self) -> Result<Bytes, StoreError> {
        let generation = self.current_generation();
        if let Some(copy) = self.results.fresh(generation) {
            return Ok(copy.value.json);
        }
        let candidates = self.candidates_served(false).await?.copy;
        // The name order comes from a query made no earlier than MAX_AGE ago; if the ballot
        // changed in between, a candidate is missing from it and deltas are not applied.
        let served = self
            .results
            .get(generation, candidates.generation, false, || async {
                let tally = self.store.tally().await?;
                Ok(ResultsValue {
                    json: to_json(&tally)?,
                    tally,
                    name_rank: candidates.value.name_rank,
                })
            })
            .await?;
        Ok(served.copy.value.json)
    }

    /// A vote for `candidate_id`, whose request began at `began`, was stored by this instance.
    pub(crate) fn vote_recorded(&self, candidate_id: Uuid, began: Instant) {
        let mut results = lock(&self.results.copy);
        let Some(copy) = results.as_mut() else {
            return;
        };
        // A copy read while the vote was in flight may or may not hold it: leave that copy as
        // it is (at worst one vote behind until it expires) rather than risk counting twice.
        if copy.answered_at > began {
            return;
        }
        let mut updated = copy.value.clone();
        if updated.add_vote(candidate_id) {
            copy.value = updated;
        } else {
            // A candidate this copy does not know: the ballot changed; read it again.
            *results = None;
        }
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| StoreError::Internal(e.into()))
}

fn name_ranks(candidates: &[Candidate]) -> HashMap<Uuid, usize> {
    candidates
        .iter()
        .enumerate()
        .map(|(rank, candidate)| (candidate.id, rank))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CandidateTally;

    fn copy_with(rows: &[(&str, i64)]) -> (ResultsValue, Vec<Uuid>) {
        let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::new_v4()).collect();
        // Name order is the order given here.
        let name_rank = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut results: Vec<CandidateTally> = rows
            .iter()
            .zip(&ids)
            .map(|((name, votes), id)| CandidateTally {
                candidate_id: *id,
                name: (*name).to_owned(),
                party: None,
                votes: *votes,
            })
            .collect();
        results.sort_by_key(|r| std::cmp::Reverse(r.votes));
        let tally = Tally::from_counts(results);
        let copy = ResultsValue {
            json: to_json(&tally).unwrap(),
            tally,
            name_rank: Arc::new(name_rank),
        };
        (copy, ids)
    }

    fn order(copy: &ResultsValue) -> Vec<(String, i64)> {
        let json: serde_json::Value = serde_json::from_slice(&copy.json).unwrap();
        assert_eq!(json["total_votes"], copy.tally.total_votes);
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["votes"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn an_added_vote_reorders_by_votes_then_name() {
        let (mut copy, ids) = copy_with(&[("Alex", 0), ("Chris", 1), ("Jane", 0), ("John", 1)]);
        assert!(copy.add_vote(ids[2]));
        assert_eq!(
            order(&copy),
            [
                ("Chris".into(), 1),
                ("Jane".into(), 1),
                ("John".into(), 1),
                ("Alex".into(), 0)
            ]
        );
        assert!(copy.add_vote(ids[2]));
        assert_eq!(order(&copy)[0], ("Jane".into(), 2));
        assert_eq!(copy.tally.total_votes, 4);
        assert!(!copy.add_vote(Uuid::new_v4()), "unknown candidate");
    }
}
