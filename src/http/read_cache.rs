//! The two public reads everyone polls on election day, GET /api/options (and /api/candidates)
//! and GET /api/results, served from memory as ready-made JSON.
//!
//! Freshness rules:
//! - Both answers are at most [`MAX_AGE`] old: every vote committed (by any instance) before
//!   the answer's database query started is in it. A read that finds its copy older waits for
//!   one refresh query (one at a time; concurrent readers share it), so the bound holds even
//!   under load, and a database outage is a 503 after at most that long, never stale data.
//! - A vote cast through this instance is added to its cached tally at once (when the cached
//!   tally was read before the vote began, so it cannot be in it already): a voter who votes and
//!   then looks at the results on the same instance sees the vote. Votes through other
//!   instances appear within [`MAX_AGE`].
//! - [`ReadCache::candidates_changed`] (called by the admin routes that change the ballot)
//!   drops both copies at once; a change made elsewhere (another instance, `securevote
//!   candidates import`) is seen within [`MAX_AGE`].
//!
//! Without this, each read was a database round trip (on SQLite, also a hop to a blocking
//! thread) plus JSON serialisation; the profile in bench/results/ shows where that went.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::domain::{Candidate, Tally};
use crate::store::{Store, StoreError};

/// Oldest answer served. Issue 6: results "may be cached for at most 1 s".
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// A cached JSON answer.
#[derive(Clone)]
struct CandidatesCopy {
    json: Bytes,
    /// When the query that produced it started: its age is measured from here.
    queried_at: Instant,
    generation: u64,
    /// Position of each candidate in name order (the tally's tie-break).
    name_rank: Arc<HashMap<Uuid, usize>>,
}

#[derive(Clone)]
struct ResultsCopy {
    json: Bytes,
    tally: Tally,
    queried_at: Instant,
    /// When the query's answer arrived: a vote that began later cannot be in it.
    answered_at: Instant,
    generation: u64,
    name_rank: Arc<HashMap<Uuid, usize>>,
}

impl ResultsCopy {
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

/// Cached candidate list and results; cheap to share (`Arc`).
pub struct ReadCache {
    store: Arc<dyn Store>,
    /// Bumped when the ballot changes; a copy of an older generation is not served.
    generation: AtomicU64,
    candidates: Mutex<Option<CandidatesCopy>>,
    results: Mutex<Option<ResultsCopy>>,
    /// One refresh query at a time per answer; readers that find a stale copy wait on it.
    candidates_refresh: tokio::sync::Mutex<()>,
    results_refresh: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A JSON answer from cached bytes (what `Json` would send, without serialising again).
pub fn json_response(json: Bytes) -> Response {
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
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            generation: AtomicU64::new(0),
            candidates: Mutex::new(None),
            results: Mutex::new(None),
            candidates_refresh: tokio::sync::Mutex::new(()),
            results_refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The ballot changed through this instance: neither copy may be served again.
    pub fn candidates_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn current_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn fresh_candidates(&self) -> Option<CandidatesCopy> {
        let generation = self.current_generation();
        lock(&self.candidates)
            .as_ref()
            .filter(|c| c.generation == generation && c.queried_at.elapsed() < MAX_AGE)
            .cloned()
    }

    fn fresh_results(&self) -> Option<Bytes> {
        let generation = self.current_generation();
        lock(&self.results)
            .as_ref()
            .filter(|r| r.generation == generation && r.queried_at.elapsed() < MAX_AGE)
            .map(|r| r.json.clone())
    }

    /// GET /api/options: all candidates ordered by name, as JSON.
    pub async fn candidates_json(&self) -> Result<Bytes, StoreError> {
        Ok(self.candidates_copy().await?.json)
    }

    async fn candidates_copy(&self) -> Result<CandidatesCopy, StoreError> {
        if let Some(copy) = self.fresh_candidates() {
            return Ok(copy);
        }
        let _refreshing = self.candidates_refresh.lock().await;
        // Whoever held the lock before us may just have refreshed it.
        if let Some(copy) = self.fresh_candidates() {
            return Ok(copy);
        }
        let generation = self.current_generation();
        let queried_at = Instant::now();
        let candidates = self.store.candidates().await?;
        let copy = CandidatesCopy {
            json: to_json(&candidates)?,
            queried_at,
            generation,
            name_rank: Arc::new(name_ranks(&candidates)),
        };
        *lock(&self.candidates) = Some(copy.clone());
        Ok(copy)
    }

    /// GET /api/results: the tally, as JSON.
    pub async fn results_json(&self) -> Result<Bytes, StoreError> {
        if let Some(json) = self.fresh_results() {
            return Ok(json);
        }
        let _refreshing = self.results_refresh.lock().await;
        if let Some(json) = self.fresh_results() {
            return Ok(json);
        }
        let candidates = self.candidates_copy().await?;
        let queried_at = Instant::now();
        let tally = self.store.tally().await?;
        let copy = ResultsCopy {
            json: to_json(&tally)?,
            tally,
            queried_at,
            answered_at: Instant::now(),
            // The name order comes from a query made no earlier than MAX_AGE ago; if the ballot
            // changed in between, a candidate is missing from it and deltas are not applied.
            generation: candidates.generation,
            name_rank: candidates.name_rank,
        };
        let json = copy.json.clone();
        *lock(&self.results) = Some(copy);
        Ok(json)
    }

    /// A vote for `candidate_id`, whose request began at `began`, was stored by this instance.
    pub fn vote_recorded(&self, candidate_id: Uuid, began: Instant) {
        let mut results = lock(&self.results);
        let Some(copy) = results.as_mut() else {
            return;
        };
        // A copy read while the vote was in flight may or may not hold it: leave that copy as
        // it is (at worst one vote behind until it expires) rather than risk counting twice.
        if copy.answered_at > began {
            return;
        }
        let mut updated = copy.clone();
        if updated.add_vote(candidate_id) {
            *copy = updated;
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

    fn copy_with(rows: &[(&str, i64)]) -> (ResultsCopy, Vec<Uuid>) {
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
        let now = Instant::now();
        let copy = ResultsCopy {
            json: to_json(&tally).unwrap(),
            tally,
            queried_at: now,
            answered_at: now,
            generation: 0,
            name_rank: Arc::new(name_rank),
        };
        (copy, ids)
    }

    fn order(copy: &ResultsCopy) -> Vec<(String, i64)> {
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
