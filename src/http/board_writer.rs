//! Group commit of encrypted ballots. A board is a hash chain, so its appends are serialised by
//! the database (the election's row lock) and each waits for its commit, synchronous standby
//! included, while holding that lock: one ballot per commit would cap an election at one ballot
//! per commit latency. Instead the ballots that arrive while an append is running wait for it,
//! and the next append writes all of them in one transaction (each its own event, in arrival
//! order, with its voter's participation); every waiting request gets its own line once that
//! transaction commits, so "acknowledged ⇒ on the board" holds as before.
//!
//! The writer of a batch is whichever waiting request takes the election's lane first; the
//! append itself runs as its own task, so a request cancelled mid-write (a client gone, a
//! timeout) never leaves the others without their answer. If a batch of several fails (one of
//! them a replay, the election just closed, the database lost), each ballot is appended again
//! on its own, so each gets its own answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use securevote_crypto::Event;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::store::board::{BoardAppend, BoardLine};
use crate::store::{Store, StoreError};

/// Ballots one transaction writes at most.
const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<Result<BoardLine, StoreError>>;

struct Pending {
    event: Event,
    voter: Uuid,
    reply: Reply,
}

#[derive(Default)]
struct Lane {
    queue: Mutex<Vec<Pending>>,
    writer: tokio::sync::Mutex<()>,
}

#[derive(Default)]
pub(crate) struct BoardWriter {
    lanes: Mutex<HashMap<Uuid, Arc<Lane>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BoardWriter {
    /// Appends a `ballot` event to the open election's board with its voter's participation,
    /// grouped with the ballots arriving meanwhile; its line once committed.
    pub(crate) async fn append_ballot(
        &self,
        store: &Arc<dyn Store>,
        election_id: Uuid,
        event: Event,
        voter: Uuid,
    ) -> Result<BoardLine, StoreError> {
        let lane = Arc::clone(lock(&self.lanes).entry(election_id).or_default());
        let (reply, mut answer) = oneshot::channel();
        lock(&lane.queue).push(Pending {
            event,
            voter,
            reply,
        });
        loop {
            let _writing = lane.writer.lock().await;
            match answer.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(StoreError::Unavailable(anyhow::anyhow!(
                        "the board append of this ballot was interrupted; retry it"
                    )));
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Not answered and the lane is ours: the ballot is still queued. Write what waits.
            let batch: Vec<Pending> = {
                let mut queue = lock(&lane.queue);
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            let store = Arc::clone(store);
            let written = tokio::spawn(write(store, election_id, batch)).await;
            if let Err(e) = written {
                tracing::error!(error = %e, "board append task failed");
            }
        }
    }
}

/// Appends the batch in one transaction, or each on its own if that fails; answers every one.
async fn write(store: Arc<dyn Store>, election_id: Uuid, batch: Vec<Pending>) {
    if batch.len() > 1 {
        let append = BoardAppend {
            election_id,
            expect_len: None,
            require_open: true,
            voters: batch.iter().map(|p| p.voter).collect(),
            events: batch.iter().map(|p| p.event.clone()).collect(),
        };
        match store.append_board(&append).await {
            Ok(appended) if appended.lines.len() == batch.len() => {
                for (pending, line) in batch.into_iter().zip(appended.lines) {
                    let _ = pending.reply.send(Ok(line));
                }
                return;
            }
            // One of them is already on the board (a retry, a replay): each on its own.
            Err(StoreError::TrackerOnBoard) => {}
            Ok(_) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(StoreError::Internal(anyhow::anyhow!(
                        "a board append wrote fewer lines than events"
                    ))));
                }
                return;
            }
            // The same for every ballot of the batch (closed, database lost): said to each.
            Err(e) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(same_error(&e)));
                }
                return;
            }
        }
    }
    for pending in batch {
        let append = BoardAppend {
            election_id,
            expect_len: None,
            require_open: true,
            voters: vec![pending.voter],
            events: vec![pending.event],
        };
        let result = store.append_board(&append).await.and_then(|appended| {
            appended
                .lines
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("no line appended")))
        });
        let _ = pending.reply.send(result);
    }
}

/// The error of a batch, for each of its ballots.
fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::ElectionNotOpen => StoreError::ElectionNotOpen,
        StoreError::ElectionNotFound => StoreError::ElectionNotFound,
        StoreError::Unavailable(cause) => StoreError::Unavailable(anyhow::anyhow!("{cause:#}")),
        other => StoreError::Internal(anyhow::anyhow!("{other:?}")),
    }
}
