//! [`RollStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::SqliteStore;
use super::security::write_audit;
use crate::elections::ElectionState;
use crate::rolls::{ImportReport, RollEntry};
use crate::store::StoreError;
use crate::store::elections::Actor;
use crate::store::rolls::{
    RollStatus, RollStore, RollTurnout, add_to_turnout, join_groups, report, split_groups,
};
use crate::store::security::AuditRecord;

/// Whether the roll entry's voter has cast a ballot in its election (an account with its email).
pub(super) const VOTED: &str =
    "EXISTS (SELECT 1 FROM users u JOIN participation v ON v.user_id = u.id
    WHERE lower(u.email) = r.email AND v.election_id = r.election_id)";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<RollEntry> {
    let groups: String = row.get(4)?;
    Ok(RollEntry {
        email: row.get(0)?,
        name: row.get(1)?,
        external_id: row.get(2)?,
        weight: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
        groups: split_groups(&groups),
    })
}

/// Every entry of the roll, by email.
pub(super) fn entries(conn: &Connection, election_id: Uuid) -> rusqlite::Result<Vec<RollEntry>> {
    conn.prepare_cached(
        "SELECT email, name, external_id, weight, groups FROM roll_entries
         WHERE election_id = ?1 ORDER BY email",
    )?
    .query_map([election_id.to_string()], entry_from_row)?
    .collect()
}

#[async_trait]
impl RollStore for SqliteStore {
    async fn replace_roll(
        &self,
        actor: Actor,
        election_id: Uuid,
        new: &[RollEntry],
        dry_run: bool,
    ) -> Result<ImportReport, StoreError> {
        let new = new.to_vec();
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM elections WHERE id = ?1",
                    [election_id.to_string()],
                    |row| row.get(0),
                )
                .optional()?;
            match state.as_deref().and_then(ElectionState::from_column) {
                None => return Ok(Err(StoreError::ElectionNotFound)),
                Some(ElectionState::Draft) => {}
                Some(_) => return Ok(Err(StoreError::ElectionFrozen)),
            }
            let current = entries(&tx, election_id)?;
            let outcome = report(&current, &new, dry_run);
            if dry_run {
                return Ok(Ok(outcome));
            }
            tx.execute(
                "DELETE FROM roll_entries WHERE election_id = ?1",
                [election_id.to_string()],
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO roll_entries (election_id, email, name, external_id, weight, groups)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for entry in &new {
                insert.execute(params![
                    election_id.to_string(),
                    entry.email,
                    entry.name,
                    entry.external_id,
                    i64::try_from(entry.weight).unwrap_or(i64::MAX),
                    join_groups(&entry.groups),
                ])?;
            }
            drop(insert);
            write_audit(&tx, &AuditRecord::roll_import(actor, election_id, &outcome))?;
            tx.commit()?;
            Ok(Ok(outcome))
        })
        .await
    }

    async fn roll_page(
        &self,
        election_id: Uuid,
        after: Option<&str>,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RollStatus>, StoreError> {
        let after = after.map(str::to_owned);
        let pattern = search.map(|s| format!("%{}%", s.to_lowercase().replace(['%', '_'], "")));
        self.with_conn(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT r.email, r.name, r.external_id, r.weight, r.groups, {VOTED},
                        (SELECT state FROM outbox o WHERE o.election_id = r.election_id AND o.email = r.email
                         ORDER BY o.created_at DESC, o.rowid DESC LIMIT 1),
                        (SELECT last_error FROM outbox o WHERE o.election_id = r.election_id AND o.email = r.email
                         ORDER BY o.created_at DESC, o.rowid DESC LIMIT 1)
                 FROM roll_entries r
                 WHERE r.election_id = ?1 AND (?2 IS NULL OR r.email > ?2)
                   AND (?3 IS NULL OR r.email LIKE ?3 OR lower(r.name) LIKE ?3)
                 ORDER BY r.email LIMIT ?4"
            ))?
            .query_map(
                params![election_id.to_string(), after, pattern, limit],
                |row| {
                    Ok(RollStatus {
                        entry: entry_from_row(row)?,
                        voted: row.get(5)?,
                        invitation: row.get(6)?,
                        invitation_error: row.get(7)?,
                    })
                },
            )?
            .collect()
        })
        .await
    }

    async fn roll_turnout(&self, election_id: Uuid) -> Result<RollTurnout, StoreError> {
        self.with_conn(move |conn| {
            let mut turnout = RollTurnout::default();
            let mut query = conn.prepare_cached(&format!(
                "SELECT r.groups, {VOTED} FROM roll_entries r WHERE r.election_id = ?1"
            ))?;
            let mut rows = query.query([election_id.to_string()])?;
            while let Some(row) = rows.next()? {
                let groups: String = row.get(0)?;
                add_to_turnout(&mut turnout, &groups, row.get(1)?);
            }
            Ok(turnout)
        })
        .await
    }
}
