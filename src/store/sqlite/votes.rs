//! Ballots on SQLite through one writer with group commit.
//!
//! SQLite has one write lock per database. With a vote per transaction on pooled connections,
//! simultaneous voters would queue on that lock inside SQLite's busy handler, which sleeps (1,
//! 2, 5, 10 ... 100 ms) between attempts, so latency grows and the CPU idles while voters
//! wait. Instead every vote goes to one thread with its own connection, which takes whatever
//! votes are waiting (up to [`MAX_BATCH`]) and stores them in one transaction: one fsync for
//! the lot, and nobody sleeps on the lock. Each vote keeps its own outcome (a savepoint each),
//! and no vote is answered before the transaction holding it has committed (synchronous=FULL),
//! so a confirmed vote is durable.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::elections::cast_one;
use super::{BUSY_TIMEOUT, PER_CONNECTION_PRAGMAS, map_error};
use crate::store::{CastBallot, NewBallot, StoreError};

/// Most votes in one transaction; keeps a batch's latency and its transaction small.
const MAX_BATCH: usize = 512;
/// Votes waiting for the writer; beyond, voters wait to enqueue (back-pressure, bounded memory).
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<CastBallot, StoreError>>;

/// Hands votes to the writer thread. The thread ends when the store (and so this) is dropped.
pub(super) struct VoteWriter {
    queue: mpsc::Sender<(NewBallot, Reply)>,
}

impl VoteWriter {
    /// Opens the writer's connection and starts its thread.
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = open(path).map_err(map_error)?;
        let (queue, jobs) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-votes".into())
            .spawn(move || write_votes(conn, jobs))
            .map_err(|e| StoreError::Internal(e.into()))?;
        Ok(Self { queue })
    }

    pub(super) async fn cast(&self, ballot: &NewBallot) -> Result<CastBallot, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let gone = || StoreError::Internal(anyhow::anyhow!("the SQLite vote writer has stopped"));
        self.queue
            .send((ballot.clone(), reply))
            .await
            .map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(PathBuf::from(path))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(PER_CONNECTION_PRAGMAS)?;
    Ok(conn)
}

fn write_votes(mut conn: Connection, mut jobs: mpsc::Receiver<(NewBallot, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Waits for a first vote, then takes every vote already queued behind it.
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match store_batch(&mut conn, &batch) {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                // Nothing of the batch was committed: every voter gets the error.
                let error = map_error(error);
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(copy_error(&error)));
                }
            }
        }
    }
}

/// The outcome of each vote of the batch, after the batch's transaction has committed.
fn store_batch(
    conn: &mut Connection,
    batch: &[(NewBallot, Reply)],
) -> rusqlite::Result<Vec<Result<CastBallot, StoreError>>> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (ballot, _) in batch {
        let savepoint = tx.savepoint()?;
        match cast_one(&savepoint, ballot) {
            Ok(outcome) => {
                savepoint.commit()?;
                outcomes.push(outcome);
            }
            Err(error) => {
                // This vote alone fails (dropping the savepoint rolls it back); the others of
                // the batch go on.
                drop(savepoint);
                outcomes.push(Err(map_error(error)));
            }
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// The same failure for every voter of a failed batch (`StoreError` is not `Clone`).
fn copy_error(error: &StoreError) -> StoreError {
    let cause = anyhow::anyhow!("{}", crate::store::error_chain(error));
    match error {
        StoreError::Unavailable(_) => StoreError::Unavailable(cause),
        _ => StoreError::Internal(cause),
    }
}
