//! [`RollStore`] on PostgreSQL.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::security::write_audit;
use super::{PostgresStore, map_error};
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

fn entry_from_row(row: &Row) -> RollEntry {
    let weight: i64 = row.get(3);
    RollEntry {
        email: row.get(0),
        name: row.get(1),
        external_id: row.get(2),
        weight: u64::try_from(weight).unwrap_or(0),
        groups: split_groups(row.get(4)),
    }
}

/// Every entry of the roll, by email.
pub(super) async fn entries(
    client: &impl tokio_postgres::GenericClient,
    election_id: Uuid,
) -> Result<Vec<RollEntry>, StoreError> {
    let rows = client
        .query(
            "SELECT email, name, external_id, weight, groups FROM roll_entries
             WHERE election_id = $1 ORDER BY email",
            &[&election_id],
        )
        .await
        .map_err(map_error)?;
    Ok(rows.iter().map(entry_from_row).collect())
}

#[async_trait]
impl RollStore for PostgresStore {
    async fn replace_roll(
        &self,
        actor: Actor,
        election_id: Uuid,
        new: &[RollEntry],
        dry_run: bool,
    ) -> Result<ImportReport, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let state: Option<String> = tx
            .query_opt(
                "SELECT state FROM elections WHERE id = $1 FOR UPDATE",
                &[&election_id],
            )
            .await
            .map_err(map_error)?
            .map(|row| row.get(0));
        match state.as_deref().and_then(ElectionState::from_column) {
            None => return Err(StoreError::ElectionNotFound),
            Some(ElectionState::Draft) => {}
            Some(_) => return Err(StoreError::ElectionFrozen),
        }
        let current = entries(&*tx, election_id).await?;
        let outcome = report(&current, new, dry_run);
        if dry_run {
            return Ok(outcome);
        }
        tx.execute(
            "DELETE FROM roll_entries WHERE election_id = $1",
            &[&election_id],
        )
        .await
        .map_err(map_error)?;
        // One multi-row statement per chunk: a 100,000-voter roll is a few dozen round trips.
        for chunk in new.chunks(5000) {
            let emails: Vec<&str> = chunk.iter().map(|e| e.email.as_str()).collect();
            let names: Vec<Option<&str>> = chunk.iter().map(|e| e.name.as_deref()).collect();
            let ids: Vec<Option<&str>> = chunk.iter().map(|e| e.external_id.as_deref()).collect();
            let weights: Vec<i64> = chunk
                .iter()
                .map(|e| i64::try_from(e.weight).unwrap_or(i64::MAX))
                .collect();
            let groups: Vec<String> = chunk.iter().map(|e| join_groups(&e.groups)).collect();
            tx.execute(
                "INSERT INTO roll_entries (election_id, email, name, external_id, weight, groups)
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])",
                &[&election_id, &emails, &names, &ids, &weights, &groups],
            )
            .await
            .map_err(map_error)?;
        }
        write_audit(&tx, &AuditRecord::roll_import(actor, election_id, &outcome)).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(outcome)
    }

    async fn roll_page(
        &self,
        election_id: Uuid,
        after: Option<&str>,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RollStatus>, StoreError> {
        let pattern = search.map(|s| format!("%{}%", s.to_lowercase().replace(['%', '_'], "")));
        let rows = self
            .query(
                &format!(
                    "SELECT r.email, r.name, r.external_id, r.weight, r.groups, {VOTED}, o.state, o.last_error
                     FROM roll_entries r
                     LEFT JOIN LATERAL (SELECT state, last_error FROM outbox
                       WHERE election_id = r.election_id AND email = r.email
                       ORDER BY created_at DESC LIMIT 1) o ON true
                     WHERE r.election_id = $1 AND ($2::text IS NULL OR r.email > $2)
                       AND ($3::text IS NULL OR r.email LIKE $3 OR lower(r.name) LIKE $3)
                     ORDER BY r.email LIMIT $4"
                ),
                &[&election_id, &after, &pattern, &i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| RollStatus {
                entry: entry_from_row(row),
                voted: row.get(5),
                invitation: row.get(6),
                invitation_error: row.get(7),
            })
            .collect())
    }

    async fn roll_turnout(&self, election_id: Uuid) -> Result<RollTurnout, StoreError> {
        let rows = self
            .query(
                &format!("SELECT r.groups, {VOTED} FROM roll_entries r WHERE r.election_id = $1"),
                &[&election_id],
            )
            .await?;
        let mut turnout = RollTurnout::default();
        for row in &rows {
            add_to_turnout(&mut turnout, row.get(0), row.get(1));
        }
        Ok(turnout)
    }
}
