//! Sealing a closed election on PostgreSQL: after it, neither the tables, nor their files, nor
//! the write-ahead log kept by the server link a participation row to a ballot.
//!
//! While voting, a ballot and its voter's participation are written by one transaction, so
//! they share `xmin`, sit at neighbouring places in the tables' files (ctid) and follow each
//! other in the WAL; the counter rows a ballot updated carry the same `xmin` until the next
//! ballot updates them. The seal removes each of those links:
//! 1. one transaction per election rewrites its ballots as new rows with new random ids in
//!    random order (all with the seal's `xmin`), rewrites its counter rows (the seal's `xmin`
//!    again), rewrites its participation rows in random order with their times cut to the day
//!    and without retry digests (an encrypted election's board keeps its ballots in the order
//!    cast, and its ballot events share `xmin` with the participation rows until this), and
//!    records `sealed_at`;
//! 2. `VACUUM (FULL)` of the ballot box, the counters and the participation writes new files
//!    without the dead row versions and rebuilds their indexes (whose page splits otherwise
//!    follow insertion order), then `CHECKPOINT`, `pg_switch_wal()` and `CHECKPOINT` let the
//!    server remove the WAL segments of the voting period (with `wal_recycle = off` they are
//!    deleted rather than renamed for reuse with their old content); `purged_at` is recorded.
//!
//! Each step is idempotent and judged by what the election row records, so a crash between
//! them leaves the next call to finish the work, never a lost or duplicated ballot (step 1 is
//! one transaction). WAL archives and base backups taken during voting are outside the
//! database and keep the link (README, threat model).

use tokio_postgres::Client;
use uuid::Uuid;

use super::elections::EFFECTIVE_STATE;
use super::{PostgresStore, map_error};
use crate::store::StoreError;

pub(super) async fn seal_closed(store: &PostgresStore) -> Result<u64, StoreError> {
    let mut conn = store.connection().await?;
    let pending = ids(
        &conn,
        &format!(
            "SELECT e.id FROM elections e
             WHERE e.sealed_at IS NULL AND {EFFECTIVE_STATE} IN ('closed', 'published', 'archived')"
        ),
    )
    .await?;
    let mut sealed = 0;
    for id in pending {
        let tx = conn.transaction().await.map_err(map_error)?;
        // Waits for ballots being stored to commit and holds new ones back until this commits,
        // so none is stored after its election's ballots were rewritten; self-conflicting, so
        // two instances sealing at once take turns.
        tx.batch_execute("LOCK TABLE participation IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(map_error)?;
        let due = tx
            .query_opt(
                &format!(
                    "SELECT 1 FROM elections e WHERE e.id = $1 AND e.sealed_at IS NULL
                       AND {EFFECTIVE_STATE} IN ('closed', 'published', 'archived')
                     FOR UPDATE"
                ),
                &[&id],
            )
            .await
            .map_err(map_error)?;
        if due.is_none() {
            continue;
        }
        tx.execute(
            "WITH old AS (
               DELETE FROM ballot_box WHERE election_id = $1
               RETURNING candidate_id, selections, weight
             )
             INSERT INTO ballot_box (id, election_id, candidate_id, selections, weight)
             SELECT gen_random_uuid(), $1, candidate_id, selections, weight
             FROM old ORDER BY random()",
            &[&id],
        )
        .await
        .map_err(map_error)?;
        tx.execute(
            "UPDATE tallies SET n = n WHERE subject_id = $1 OR subject_id IN (
               SELECT ca.id FROM candidates ca JOIN contests co ON co.id = ca.contest_id
               WHERE co.election_id = $1)",
            &[&id],
        )
        .await
        .map_err(map_error)?;
        // Participation rewritten in random order (the seal's xmin), times cut to the day,
        // retry digests gone: neither its order, nor its xmin, nor its times follow the order
        // of voting, which an encrypted election's board shows (its ballots are in the order
        // cast, each written with its voter's participation).
        tx.execute(
            "WITH old AS (
               DELETE FROM participation WHERE election_id = $1 RETURNING user_id, voted_at
             )
             INSERT INTO participation (election_id, user_id, voted_at)
             SELECT $1, user_id, date_trunc('day', voted_at, 'UTC') FROM old ORDER BY random()",
            &[&id],
        )
        .await
        .map_err(map_error)?;
        tx.execute(
            "UPDATE elections SET sealed_at = now() WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        tracing::info!(election_id = %id, "election sealed: ballots rewritten");
        sealed += 1;
    }
    let unpurged = ids(
        &conn,
        "SELECT id FROM elections WHERE sealed_at IS NOT NULL AND purged_at IS NULL",
    )
    .await?;
    if unpurged.is_empty() {
        return Ok(sealed);
    }
    conn.batch_execute("VACUUM (FULL) ballot_box, tallies, participation")
        .await
        .map_err(map_error)?;
    // CHECKPOINT and pg_switch_wal() need the pg_checkpoint role and a grant on the function
    // (or a superuser); without them the WAL of the voting period is removed by the server's
    // own checkpoints instead, which the log says.
    if let Err(e) = conn
        .batch_execute("CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT")
        .await
    {
        tracing::warn!(error = %e, "sealed elections: could not force a WAL switch; old WAL goes at the server's next checkpoints");
    }
    conn.execute(
        "UPDATE elections SET purged_at = now() WHERE id = ANY($1)",
        &[&unpurged],
    )
    .await
    .map_err(map_error)?;
    tracing::info!(
        elections = unpurged.len(),
        "sealed elections purged from the table files"
    );
    Ok(sealed)
}

/// The first column of every row the query returns.
async fn ids(conn: &Client, sql: &str) -> Result<Vec<Uuid>, StoreError> {
    let rows = conn.query(sql, &[]).await.map_err(map_error)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
