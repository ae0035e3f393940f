//! [`BoardStore`] on PostgreSQL. An append locks the election's row (`FOR NO KEY UPDATE`) before
//! it reads the board's head, so appends to one board from any number of instances are
//! serialised; the primary key `(election_id, seq)` would refuse a fork even without the lock.

use std::collections::HashMap;

use async_trait::async_trait;
use securevote_crypto::Event;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::elections::EFFECTIVE_STATE;
use super::{Connection, PostgresStore, constraint, map_error};
use crate::store::StoreError;
use crate::store::board::{
    Appended, BoardAppend, BoardHead, BoardLine, BoardStore, CeremonyKind, CeremonyMessage,
    Encryption, TrackedLine, event_columns, next_line,
};

async fn head(
    client: &impl deadpool_postgres::GenericClient,
    election_id: Uuid,
) -> Result<Option<BoardHead>, StoreError> {
    let row = client
        .query_opt(
            "SELECT seq, hash FROM board_events WHERE election_id = $1 ORDER BY seq DESC LIMIT 1",
            &[&election_id],
        )
        .await
        .map_err(map_error)?;
    Ok(row.map(|row| BoardHead {
        seq: row.get::<_, i64>(0) as u64,
        hash: row.get(1),
    }))
}

#[async_trait]
impl BoardStore for PostgresStore {
    async fn set_encryption(
        &self,
        election_id: Uuid,
        encryption: Option<Encryption>,
    ) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let state = tx
            .query_opt(
                "SELECT state FROM elections WHERE id = $1 FOR UPDATE",
                &[&election_id],
            )
            .await
            .map_err(map_error)?
            .map(|row| row.get::<_, String>(0));
        match state.as_deref() {
            None => return Err(StoreError::ElectionNotFound),
            Some("draft") => {}
            Some(_) => return Err(StoreError::ElectionFrozen),
        }
        let messages: i64 = tx
            .query_one(
                "SELECT count(*) FROM ceremony_messages WHERE election_id = $1",
                &[&election_id],
            )
            .await
            .map_err(map_error)?
            .get(0);
        if messages > 0 {
            return Err(StoreError::InvalidTransition(
                "encryption: trustee keys are uploaded; the trustees and threshold can no longer change".into(),
            ));
        }
        tx.execute(
            "DELETE FROM election_encryption WHERE election_id = $1",
            &[&election_id],
        )
        .await
        .map_err(map_error)?;
        if let Some(e) = encryption {
            tx.execute(
                "INSERT INTO election_encryption (election_id, trustees, threshold) VALUES ($1, $2, $3)",
                &[&election_id, &(e.trustees as i32), &(e.threshold as i32)],
            )
            .await
            .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)
    }

    async fn encryption(&self, election_id: Uuid) -> Result<Option<Encryption>, StoreError> {
        let conn = self.connection().await?;
        let row = conn
            .query_opt(
                "SELECT trustees, threshold FROM election_encryption WHERE election_id = $1",
                &[&election_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.map(|row| Encryption {
            trustees: row.get::<_, i32>(0) as u64,
            threshold: row.get::<_, i32>(1) as u64,
        }))
    }

    async fn add_ceremony_message(
        &self,
        election_id: Uuid,
        kind: CeremonyKind,
        message: &CeremonyMessage,
    ) -> Result<bool, StoreError> {
        let conn = self.connection().await?;
        let inserted = conn
            .execute(
                "INSERT INTO ceremony_messages (election_id, kind, sender, recipient, body)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &election_id,
                    &kind.as_str(),
                    &(message.sender as i32),
                    &(message.recipient as i32),
                    &message.body,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(inserted == 1)
    }

    async fn ceremony_messages(
        &self,
        election_id: Uuid,
        kind: CeremonyKind,
    ) -> Result<Vec<CeremonyMessage>, StoreError> {
        let conn = self.connection().await?;
        let rows = conn
            .query(
                "SELECT sender, recipient, body FROM ceremony_messages
                 WHERE election_id = $1 AND kind = $2 ORDER BY sender, recipient",
                &[&election_id, &kind.as_str()],
            )
            .await
            .map_err(map_error)?;
        Ok(rows
            .iter()
            .map(|row| CeremonyMessage {
                sender: row.get::<_, i32>(0) as u64,
                recipient: row.get::<_, i32>(1) as u64,
                body: row.get(2),
            })
            .collect())
    }

    async fn append_board(&self, append: &BoardAppend) -> Result<Appended, StoreError> {
        let mut conn = self.connection().await?;
        let copy = self.second_copy(&conn).await?;
        let appended = append_on(&mut conn, append).await;
        // New lines, or a ballot already on the board (answered as its earlier line): either is
        // answered as stored.
        if matches!(appended, Ok(_) | Err(StoreError::TrackerOnBoard)) {
            self.confirm_second_copy(&conn, copy).await?;
        }
        appended
    }

    async fn board_lines(
        &self,
        election_id: Uuid,
        after: Option<u64>,
        limit: u64,
    ) -> Result<Vec<BoardLine>, StoreError> {
        let conn = self.connection().await?;
        let after = after.map_or(-1, |a| a.min(i64::MAX as u64) as i64);
        let limit = limit.min(i64::MAX as u64) as i64;
        let rows = conn
            .query(
                "SELECT seq, line, hash FROM board_events
                 WHERE election_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&election_id, &after, &limit],
            )
            .await
            .map_err(map_error)?;
        Ok(rows
            .iter()
            .map(|row| BoardLine {
                seq: row.get::<_, i64>(0) as u64,
                line: row.get(1),
                hash: row.get(2),
            })
            .collect())
    }

    async fn board_head(&self, election_id: Uuid) -> Result<Option<BoardHead>, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let found = head(&tx, election_id).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(found)
    }

    async fn board_line_by_tracker(
        &self,
        election_id: Uuid,
        tracker: &str,
    ) -> Result<Option<TrackedLine>, StoreError> {
        let conn = self.connection().await?;
        let row = conn
            .query_opt(
                "SELECT seq, line, hash, kind, pseudonym, NOT EXISTS (
                     SELECT 1 FROM board_events later
                     WHERE later.election_id = e.election_id AND later.pseudonym = e.pseudonym
                       AND later.seq > e.seq)
                 FROM board_events e WHERE election_id = $1 AND tracker = $2",
                &[&election_id, &tracker],
            )
            .await
            .map_err(map_error)?;
        Ok(row.map(|row| TrackedLine {
            line: BoardLine {
                seq: row.get::<_, i64>(0) as u64,
                line: row.get(1),
                hash: row.get(2),
            },
            kind: row.get(3),
            pseudonym: row.get(4),
            latest: row.get(5),
        }))
    }
}

/// The new events' `seq`, `kind`, `pseudonym` and `tracker` columns, for one multi-row insert.
type EventColumns<'a> = (
    Vec<i64>,
    Vec<&'a str>,
    Vec<Option<String>>,
    Vec<Option<String>>,
);

/// [`BoardStore::append_board`]'s transaction on one connection.
async fn append_on(conn: &mut Connection, append: &BoardAppend) -> Result<Appended, StoreError> {
    let tx = conn.transaction().await.map_err(map_error)?;
    let id = append.election_id;
    // The election's lock first; then, in statements of their own (READ COMMITTED: snapshots
    // taken after the lock, so they see the append that held it), whether the board is
    // closed, its head, and the last ballot of each pseudonym of this append. A ballot never
    // follows the board's `close` event (a statement's `now()` is its transaction's start,
    // which may precede a close appended while it waited for the lock). The three are sent
    // together (one round trip); the server runs them in order.
    let pseudonyms: Vec<String> = append
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Ballot(b) => Some(b.ballot.pseudonym.to_hex()),
            _ => None,
        })
        .collect();
    let lock = format!(
        "SELECT {EFFECTIVE_STATE} = 'open' FROM elections e WHERE e.id = $1 FOR NO KEY UPDATE"
    );
    let (lock, board, superseded) = tokio::try_join!(
        tx.prepare_cached(&lock),
        tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM board_events WHERE election_id = $1 AND kind = 'close'),
                    h.seq, h.hash
             FROM (SELECT 1) one
             LEFT JOIN LATERAL (
               SELECT seq, hash FROM board_events
               WHERE election_id = $1 ORDER BY seq DESC LIMIT 1
             ) h ON true",
        ),
        tx.prepare_cached(
            "SELECT DISTINCT ON (pseudonym) pseudonym, tracker FROM board_events
             WHERE election_id = $1 AND kind = 'ballot' AND pseudonym = ANY($2)
             ORDER BY pseudonym, seq DESC",
        ),
    )
    .map_err(map_error)?;
    let by_election: &[&(dyn ToSql + Sync)] = &[&id];
    let by_pseudonyms: &[&(dyn ToSql + Sync)] = &[&id, &pseudonyms];
    // All three answered before any is looked at: after a failed statement the later ones
    // fail only because the transaction is aborted, so the first error is the one to tell.
    let (open, board, superseded) = tokio::join!(
        tx.query_opt(&lock, by_election),
        tx.query_one(&board, by_election),
        tx.query(&superseded, by_pseudonyms),
    );
    let (open, board, superseded) = (
        open.map_err(map_error)?,
        board.map_err(map_error)?,
        superseded.map_err(map_error)?,
    );
    let Some(open) = open.map(|row| row.get::<_, bool>(0)) else {
        return Err(StoreError::ElectionNotFound);
    };
    if append.require_open && (!open || board.get::<_, bool>(0)) {
        return Err(StoreError::ElectionNotOpen);
    }
    let mut current = board.get::<_, Option<i64>>(1).map(|seq| BoardHead {
        seq: seq as u64,
        hash: board.get(2),
    });
    let len = current.as_ref().map_or(0, |h| h.seq + 1);
    if append.expect_len.is_some_and(|expected| expected != len) {
        return Err(StoreError::BoardConflict);
    }
    // Each ballot supersedes its pseudonym's last ballot: on the board, or earlier in this
    // append.
    let mut last_ballot: HashMap<String, String> = superseded
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut lines = Vec::with_capacity(append.events.len());
    let mut columns: EventColumns = Default::default();
    for event in &append.events {
        let mut event = event.clone();
        if let Event::Ballot(ballot) = &mut event {
            let pseudonym = ballot.ballot.pseudonym.to_hex();
            ballot.supersedes = last_ballot.insert(pseudonym, ballot.tracker.clone());
        }
        let line = next_line(current.as_ref(), &event)?;
        let (kind, pseudonym, tracker) = event_columns(&event);
        columns.0.push(line.seq as i64);
        columns.1.push(kind);
        columns.2.push(pseudonym);
        columns.3.push(tracker);
        current = Some(BoardHead {
            seq: line.seq,
            hash: line.hash.clone(),
        });
        lines.push(line);
    }
    let texts: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    let hashes: Vec<&str> = lines.iter().map(|l| l.hash.as_str()).collect();
    // The events and the voters' participation, sent together (one round trip). Without
    // voters the participation statement changes nothing.
    let (insert, participate) = tokio::try_join!(
        tx.prepare_cached(
            "INSERT INTO board_events (election_id, seq, kind, pseudonym, tracker, line, hash)
             SELECT $1::uuid, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[],
                                      $6::text[], $7::text[])",
        ),
        tx.prepare_cached(
            "INSERT INTO participation (election_id, user_id, voted_at)
             SELECT DISTINCT $1::uuid, voter, now() FROM unnest($2::uuid[]) AS voter
             ON CONFLICT (election_id, user_id) DO UPDATE SET voted_at = excluded.voted_at",
        ),
    )
    .map_err(map_error)?;
    let events: &[&(dyn ToSql + Sync)] = &[
        &id, &columns.0, &columns.1, &columns.2, &columns.3, &texts, &hashes,
    ];
    let voters: &[&(dyn ToSql + Sync)] = &[&id, &append.voters];
    let (inserted, participated) = tokio::join!(
        tx.execute(&insert, events),
        tx.execute(&participate, voters),
    );
    match inserted.and(participated) {
        Err(e)
            if constraint(&e).is_some_and(|(code, name)| {
                *code == SqlState::UNIQUE_VIOLATION && name == Some("board_events_tracker_idx")
            }) =>
        {
            return Err(StoreError::TrackerOnBoard);
        }
        other => other.map_err(map_error)?,
    };
    tx.commit().await.map_err(map_error)?;
    Ok(Appended { lines })
}
