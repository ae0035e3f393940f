//! Sealing a closed election on SQLite: after it, neither the database file nor its WAL link a
//! participation row to a ballot.
//!
//! While voting, a ballot and its voter's participation are written by one transaction, so the
//! WAL holds their pages in the same commit, and a ballot keeps the id its voter was given.
//! The seal, in one IMMEDIATE transaction per election (which waits for the vote writer's batch
//! in progress; a later batch finds the election closed), rewrites the election's ballots with
//! new random ids in random order, rewrites its participation rows in random order with their
//! times cut to the day and without retry digests (an encrypted election's board keeps its
//! ballots in the order cast, so participation's rowid order and times must not), and records
//! `sealed_at`. Then `VACUUM` rebuilds the file without free pages and
//! `wal_checkpoint(TRUNCATE)` empties the WAL; `purged_at` records it. The ballot box is
//! WITHOUT ROWID (ordered by its random ids) and `secure_delete` is on, so neither a rowid nor
//! a freed page keeps the order of arrival. Each step is idempotent and judged by what the
//! election row records, so a crash between them leaves the next call to finish the work.

use rand::seq::SliceRandom;
use rusqlite::{Connection, TransactionBehavior, params};
use uuid::Uuid;

use super::elections::EFFECTIVE_STATE;

pub(super) fn seal_closed(conn: &mut Connection) -> rusqlite::Result<u64> {
    let pending = ids(
        conn,
        &format!(
            "SELECT e.id FROM elections e
             WHERE e.sealed_at IS NULL AND {EFFECTIVE_STATE} IN ('closed', 'published', 'archived')"
        ),
    )?;
    let mut sealed = 0;
    for id in pending {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let due: bool = tx.query_row(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM elections e WHERE e.id = ?1 AND e.sealed_at IS NULL
                   AND {EFFECTIVE_STATE} IN ('closed', 'published', 'archived'))"
            ),
            [&id],
            |row| row.get(0),
        )?;
        if !due {
            continue;
        }
        let mut ballots: Vec<(Option<String>, Option<String>, i64)> = tx
            .prepare(
                "SELECT candidate_id, selections, weight FROM ballot_box WHERE election_id = ?1",
            )?
            .query_map([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        ballots.shuffle(&mut rand::thread_rng());
        tx.execute("DELETE FROM ballot_box WHERE election_id = ?1", [&id])?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO ballot_box (id, election_id, candidate_id, selections, weight)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (candidate, selections, weight) in &ballots {
                insert.execute(params![
                    Uuid::new_v4().to_string(),
                    id,
                    candidate,
                    selections,
                    weight
                ])?;
            }
        }
        // Participation rewritten in random order, times cut to the day, retry digests gone:
        // neither its order nor its times follow the order of voting, which an encrypted
        // election's board shows (its ballots are in the order cast).
        let mut voters: Vec<(String, String)> = tx
            .prepare("SELECT user_id, voted_at FROM participation WHERE election_id = ?1")?
            .query_map([&id], |row| {
                let voted_at = super::time_at(row, 1)?;
                let day = voted_at
                    .date_naive()
                    .and_time(chrono::NaiveTime::MIN)
                    .and_utc();
                Ok((row.get(0)?, super::timestamp(day)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        voters.shuffle(&mut rand::thread_rng());
        tx.execute("DELETE FROM participation WHERE election_id = ?1", [&id])?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO participation (election_id, user_id, voted_at) VALUES (?1, ?2, ?3)",
            )?;
            for (user, day) in &voters {
                insert.execute(params![id, user, day])?;
            }
        }
        tx.execute(
            "UPDATE elections SET sealed_at = ?2 WHERE id = ?1",
            params![id, super::timestamp(chrono::Utc::now())],
        )?;
        tx.commit()?;
        tracing::info!(election_id = %id, "election sealed: ballots rewritten");
        sealed += 1;
    }
    let unpurged = ids(
        conn,
        "SELECT id FROM elections WHERE sealed_at IS NOT NULL AND purged_at IS NULL",
    )?;
    if unpurged.is_empty() {
        return Ok(sealed);
    }
    conn.execute_batch("VACUUM")?;
    if !truncate_wal(conn)? {
        tracing::warn!("sealed elections: the WAL is in use; it is emptied at the next seal");
        return Ok(sealed);
    }
    for id in &unpurged {
        conn.execute(
            "UPDATE elections SET purged_at = ?2 WHERE id = ?1",
            params![id, super::timestamp(chrono::Utc::now())],
        )?;
    }
    truncate_wal(conn)?;
    tracing::info!(
        elections = unpurged.len(),
        "sealed elections purged from the file and its WAL"
    );
    Ok(sealed)
}

/// The first column of every row the query returns (election ids, stored as text).
fn ids(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(sql)?
        .query_map([], |row| row.get(0))?
        .collect()
}

/// Copies the WAL into the database and empties it; false when a reader kept it from finishing.
fn truncate_wal(conn: &Connection) -> rusqlite::Result<bool> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    Ok(busy == 0)
}
