//! [`BoardStore`] on SQLite. Every write runs in an IMMEDIATE transaction, which holds the
//! database's one write lock from its start: an append reads the head and writes after it with
//! no other writer in between.

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use securevote_crypto::Event;
use uuid::Uuid;

use super::SqliteStore;
use super::elections::EFFECTIVE_STATE;
use crate::store::StoreError;
use crate::store::board::{
    Appended, BoardAppend, BoardHead, BoardLine, BoardStore, CeremonyKind, CeremonyMessage,
    Encryption, TrackedLine, event_columns, next_line,
};

fn head(conn: &Connection, election_id: &str) -> rusqlite::Result<Option<BoardHead>> {
    conn.query_row(
        "SELECT seq, hash FROM board_events WHERE election_id = ?1 ORDER BY seq DESC LIMIT 1",
        [election_id],
        |row| {
            Ok(BoardHead {
                seq: row.get::<_, i64>(0)? as u64,
                hash: row.get(1)?,
            })
        },
    )
    .optional()
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

#[async_trait]
impl BoardStore for SqliteStore {
    async fn set_encryption(
        &self,
        election_id: Uuid,
        encryption: Option<Encryption>,
    ) -> Result<(), StoreError> {
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = election_id.to_string();
            let state: Option<String> = tx
                .query_row("SELECT state FROM elections WHERE id = ?1", [&id], |row| {
                    row.get(0)
                })
                .optional()?;
            match state.as_deref() {
                None => return Ok(Err(StoreError::ElectionNotFound)),
                Some("draft") => {}
                Some(_) => return Ok(Err(StoreError::ElectionFrozen)),
            }
            let keys: i64 = tx.query_row(
                "SELECT count(*) FROM ceremony_messages WHERE election_id = ?1",
                [&id],
                |row| row.get(0),
            )?;
            if keys > 0 {
                return Ok(Err(StoreError::InvalidTransition(
                    "encryption: trustee keys are uploaded; the trustees and threshold can no longer change".into(),
                )));
            }
            tx.execute("DELETE FROM election_encryption WHERE election_id = ?1", [&id])?;
            if let Some(e) = encryption {
                tx.execute(
                    "INSERT INTO election_encryption (election_id, trustees, threshold) VALUES (?1, ?2, ?3)",
                    params![&id, e.trustees as i64, e.threshold as i64],
                )?;
            }
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
    }

    async fn encryption(&self, election_id: Uuid) -> Result<Option<Encryption>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "SELECT trustees, threshold FROM election_encryption WHERE election_id = ?1",
            )?
            .query_row([election_id.to_string()], |row| {
                Ok(Encryption {
                    trustees: row.get::<_, i64>(0)? as u64,
                    threshold: row.get::<_, i64>(1)? as u64,
                })
            })
            .optional()
        })
        .await
    }

    async fn add_ceremony_message(
        &self,
        election_id: Uuid,
        kind: CeremonyKind,
        message: &CeremonyMessage,
    ) -> Result<bool, StoreError> {
        let message = message.clone();
        self.with_conn(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO ceremony_messages (election_id, kind, sender, recipient, body)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![
                    election_id.to_string(),
                    kind.as_str(),
                    message.sender as i64,
                    message.recipient as i64,
                    message.body
                ],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn ceremony_messages(
        &self,
        election_id: Uuid,
        kind: CeremonyKind,
    ) -> Result<Vec<CeremonyMessage>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "SELECT sender, recipient, body FROM ceremony_messages
                 WHERE election_id = ?1 AND kind = ?2 ORDER BY sender, recipient",
            )?
            .query_map(params![election_id.to_string(), kind.as_str()], |row| {
                Ok(CeremonyMessage {
                    sender: row.get::<_, i64>(0)? as u64,
                    recipient: row.get::<_, i64>(1)? as u64,
                    body: row.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn append_board(&self, append: &BoardAppend) -> Result<Appended, StoreError> {
        let append = append.clone();
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = append.election_id.to_string();
            let open: Option<bool> = tx
                .query_row(
                    &format!("SELECT {EFFECTIVE_STATE} = 'open' FROM elections e WHERE e.id = ?1"),
                    [&id],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(open) = open else {
                return Ok(Err(StoreError::ElectionNotFound));
            };
            // A ballot never follows the board's `close` event.
            let closed_board: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM board_events WHERE election_id = ?1 AND kind = 'close')",
                [&id],
                |row| row.get(0),
            )?;
            if append.require_open && (!open || closed_board) {
                return Ok(Err(StoreError::ElectionNotOpen));
            }
            let mut current = head(&tx, &id)?;
            let len = current.as_ref().map_or(0, |h| h.seq + 1);
            if append.expect_len.is_some_and(|expected| expected != len) {
                return Ok(Err(StoreError::BoardConflict));
            }
            let mut lines = Vec::with_capacity(append.events.len());
            for event in &append.events {
                let mut event = event.clone();
                if let Event::Ballot(ballot) = &mut event {
                    ballot.supersedes = tx
                        .query_row(
                            "SELECT tracker FROM board_events
                             WHERE election_id = ?1 AND pseudonym = ?2 AND kind = 'ballot'
                             ORDER BY seq DESC LIMIT 1",
                            params![&id, ballot.ballot.pseudonym.to_hex()],
                            |row| row.get(0),
                        )
                        .optional()?;
                }
                let line = match next_line(current.as_ref(), &event) {
                    Ok(line) => line,
                    Err(e) => return Ok(Err(e)),
                };
                let (kind, pseudonym, tracker) = event_columns(&event);
                let inserted = tx.execute(
                    "INSERT INTO board_events (election_id, seq, kind, pseudonym, tracker, line, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![&id, line.seq as i64, kind, pseudonym, tracker, line.line, line.hash],
                );
                match inserted {
                    Err(e) if is_unique_violation(&e) && tracker.is_some() => {
                        return Ok(Err(StoreError::TrackerOnBoard));
                    }
                    other => other?,
                };
                current = Some(BoardHead {
                    seq: line.seq,
                    hash: line.hash.clone(),
                });
                lines.push(line);
            }
            let now = super::timestamp(chrono::Utc::now());
            for voter in &append.voters {
                tx.execute(
                    "INSERT INTO participation (election_id, user_id, voted_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (election_id, user_id) DO UPDATE SET voted_at = excluded.voted_at",
                    params![&id, voter.to_string(), now],
                )?;
            }
            tx.commit()?;
            Ok(Ok(Appended { lines }))
        })
        .await
    }

    async fn board_lines(
        &self,
        election_id: Uuid,
        after: Option<u64>,
        limit: u64,
    ) -> Result<Vec<BoardLine>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "SELECT seq, line, hash FROM board_events
                 WHERE election_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?
            .query_map(
                params![
                    election_id.to_string(),
                    after.map_or(-1, |a| a.min(i64::MAX as u64) as i64),
                    limit.min(i64::MAX as u64) as i64
                ],
                |row| {
                    Ok(BoardLine {
                        seq: row.get::<_, i64>(0)? as u64,
                        line: row.get(1)?,
                        hash: row.get(2)?,
                    })
                },
            )?
            .collect()
        })
        .await
    }

    async fn board_head(&self, election_id: Uuid) -> Result<Option<BoardHead>, StoreError> {
        self.with_conn(move |conn| head(conn, &election_id.to_string()))
            .await
    }

    async fn board_line_by_tracker(
        &self,
        election_id: Uuid,
        tracker: &str,
    ) -> Result<Option<TrackedLine>, StoreError> {
        let tracker = tracker.to_owned();
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "SELECT seq, line, hash, kind, pseudonym, NOT EXISTS (
                     SELECT 1 FROM board_events later
                     WHERE later.election_id = e.election_id AND later.pseudonym = e.pseudonym
                       AND later.seq > e.seq)
                 FROM board_events e WHERE election_id = ?1 AND tracker = ?2",
            )?
            .query_row(params![election_id.to_string(), tracker], |row| {
                Ok(TrackedLine {
                    line: BoardLine {
                        seq: row.get::<_, i64>(0)? as u64,
                        line: row.get(1)?,
                        hash: row.get(2)?,
                    },
                    kind: row.get(3)?,
                    pseudonym: row.get(4)?,
                    latest: row.get(5)?,
                })
            })
            .optional()
        })
        .await
    }
}
