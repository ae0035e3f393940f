//! [`ElectionStore`] on PostgreSQL. Times are judged by `now()`, the database's clock at the start
//! of the transaction (for a ballot: of its one statement), so no instance's clock matters.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use rand::Rng;
use serde_json::Value;
use tokio_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::security::write_audit;
use super::{Connection, PostgresStore, constraint, map_error};
use crate::elections::document::NewElection;
use crate::elections::{
    Action, Choice, Contest, Election, ElectionKey, ElectionState, Eligibility, Method,
    ResultsPolicy,
};
use crate::store::StoreError;
use crate::store::elections::{
    Actor, BallotRefusal, CastBallot, ElectionCounts, ElectionStore, NewBallot, Participation,
    StoredBallot, TALLY_SHARDS,
};
use crate::store::security::AuditRecord;

/// The election's state by the database's clock: a scheduled election is open from `opens_at`,
/// and an open or scheduled one is closed from `closes_at`.
pub(super) const EFFECTIVE_STATE: &str = "CASE
    WHEN e.state IN ('scheduled', 'open') AND e.closes_at IS NOT NULL AND e.closes_at <= now() THEN 'closed'
    WHEN e.state = 'scheduled' AND e.opens_at IS NOT NULL AND e.opens_at <= now() THEN 'open'
    ELSE e.state END";

/// The default election's first contest: what `/api/options`, `/api/votes` and `/api/results`
/// call the ballot.
pub(super) const DEFAULT_CONTEST: &str =
    "(SELECT co.id FROM contests co JOIN elections e ON e.id = co.election_id
    WHERE e.is_default ORDER BY co.position LIMIT 1)";

fn election_select(filter: &str) -> String {
    format!(
        "SELECT e.id, e.slug, e.title, e.description, e.timezone, e.opens_at, e.closes_at,
                e.eligibility, e.results, e.live_min_ballots, {EFFECTIVE_STATE}, e.is_default,
                e.ballot_editable, e.published_at, e.created_at, e.roll_fingerprint
         FROM elections e {filter}"
    )
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Internal(anyhow::anyhow!(
        "stored {what} {value:?} is not one the service writes"
    ))
}

fn election_from_row(row: &Row) -> Result<Election, StoreError> {
    let eligibility: String = row.get(7);
    let results: String = row.get(8);
    let state: String = row.get(10);
    let live_min: i32 = row.get(9);
    Ok(Election {
        id: row.get(0),
        slug: row.get(1),
        title: row.get(2),
        description: row.get(3),
        timezone: row.get(4),
        opens_at: row.get(5),
        closes_at: row.get(6),
        opens_at_local: None,
        closes_at_local: None,
        eligibility: Eligibility::from_column(&eligibility)
            .ok_or_else(|| corrupt("eligibility", &eligibility))?,
        results: ResultsPolicy::from_column(&results)
            .ok_or_else(|| corrupt("results policy", &results))?,
        live_min_ballots: u32::try_from(live_min).unwrap_or(0),
        state: ElectionState::from_column(&state).ok_or_else(|| corrupt("state", &state))?,
        is_default: row.get(11),
        ballot_editable: row.get(12),
        published_at: row.get(13),
        created_at: row.get(14),
        encryption: None,
        board_head: None,
        roll_fingerprint: row.get(15),
        contests: Vec::new(),
    })
}

/// Reads elections matching `filter` with their contests and choices, in the given order.
async fn load(
    client: &impl GenericClient,
    filter: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Election>, StoreError> {
    let rows = client
        .query(&election_select(filter), params)
        .await
        .map_err(map_error)?;
    let mut elections = rows
        .iter()
        .map(election_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if elections.is_empty() {
        return Ok(elections);
    }
    let ids: Vec<Uuid> = elections.iter().map(|e| e.id).collect();
    let rows = client
        .query(
            r#"SELECT co.election_id, co.id, co.title, co.method, co.seats, co.min_choices,
                      co.max_choices, co.max_score, ca.id, ca.name, ca.party, ca.description
               FROM contests co LEFT JOIN candidates ca ON ca.contest_id = co.id
               WHERE co.election_id = ANY($1)
               ORDER BY co.election_id, co.position, ca.position, lower(ca.name) COLLATE "C", ca.name COLLATE "C", ca.id"#,
            &[&ids],
        )
        .await
        .map_err(map_error)?;
    let mut contests: HashMap<Uuid, Vec<Contest>> = HashMap::new();
    for row in &rows {
        let election_id: Uuid = row.get(0);
        let list = contests.entry(election_id).or_default();
        let contest_id: Uuid = row.get(1);
        if list.last().map(|c| c.id) != Some(contest_id) {
            let method: String = row.get(3);
            let number = |i: usize| u32::try_from(row.get::<_, i32>(i)).unwrap_or(0);
            list.push(Contest {
                id: contest_id,
                title: row.get(2),
                method: Method::from_column(&method).ok_or_else(|| corrupt("method", &method))?,
                seats: number(4),
                min_choices: number(5),
                max_choices: number(6),
                max_score: row
                    .get::<_, Option<i32>>(7)
                    .and_then(|s| u32::try_from(s).ok()),
                choices: Vec::new(),
            });
        }
        if let (Some(contest), Some(id)) = (list.last_mut(), row.get::<_, Option<Uuid>>(8)) {
            contest.choices.push(Choice {
                id,
                name: row.get(9),
                party: row.get(10),
                description: row.get(11),
            });
        }
    }
    for election in &mut elections {
        election.contests = contests.remove(&election.id).unwrap_or_default();
        election.localize();
    }
    Ok(elections)
}

async fn load_one(
    client: &impl GenericClient,
    filter: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<Election>, StoreError> {
    Ok(load(client, filter, params).await?.into_iter().next())
}

/// The election, its row locked until the end of the transaction.
async fn for_update(tx: &Transaction<'_>, id: Uuid) -> Result<Election, StoreError> {
    load_one(&**tx, "WHERE e.id = $1 FOR UPDATE", &[&id])
        .await?
        .ok_or(StoreError::ElectionNotFound)
}

async fn insert_contests(
    tx: &Transaction<'_>,
    election_id: Uuid,
    election: &NewElection,
) -> Result<(), StoreError> {
    let contest_insert = tx
        .prepare_cached(
            "INSERT INTO contests (election_id, position, title, method, seats, min_choices,
                                   max_choices, max_score)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .await
        .map_err(map_error)?;
    let choice_insert = tx
        .prepare_cached(
            "INSERT INTO candidates (contest_id, position, name, party, description)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await
        .map_err(map_error)?;
    let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    for (position, contest) in election.contests.iter().enumerate() {
        let row = tx
            .query_one(
                &contest_insert,
                &[
                    &election_id,
                    &(position as i32),
                    &contest.title,
                    &contest.method.as_str(),
                    &int(contest.seats),
                    &int(contest.min_choices),
                    &int(contest.max_choices),
                    &contest.max_score.map(int),
                ],
            )
            .await
            .map_err(map_error)?;
        let contest_id: Uuid = row.get(0);
        for (position, choice) in contest.choices.iter().enumerate() {
            tx.execute(
                &choice_insert,
                &[
                    &contest_id,
                    &(position as i32),
                    &choice.name,
                    &choice.party,
                    &choice.description,
                ],
            )
            .await
            .map_err(map_error)?;
        }
    }
    Ok(())
}

fn slug_taken(error: tokio_postgres::Error) -> StoreError {
    match constraint(&error) {
        Some((code, Some("elections_slug_key"))) if *code == SqlState::UNIQUE_VIOLATION => {
            StoreError::SlugTaken
        }
        _ => map_error(error),
    }
}

#[async_trait]
impl ElectionStore for PostgresStore {
    async fn create_election(
        &self,
        actor: Actor,
        election: &NewElection,
    ) -> Result<Election, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let row = tx
            .query_one(
                "INSERT INTO elections (slug, title, description, timezone, opens_at, closes_at,
                                        eligibility, results, live_min_ballots, state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'draft') RETURNING id",
                &[
                    &election.slug,
                    &election.title,
                    &election.description,
                    &election.timezone,
                    &election.opens_at,
                    &election.closes_at,
                    &election.eligibility.as_str(),
                    &election.results.as_str(),
                    &i32::try_from(election.live_min_ballots).unwrap_or(i32::MAX),
                ],
            )
            .await
            .map_err(slug_taken)?;
        let id: Uuid = row.get(0);
        insert_contests(&tx, id, election).await?;
        let created = for_update(&tx, id).await?;
        write_audit(
            &tx,
            &AuditRecord::election(actor, "election.create", &created, None, Some(&created)),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(created)
    }

    async fn elections(&self) -> Result<Vec<Election>, StoreError> {
        let conn = self.connection().await?;
        load(&**conn, "ORDER BY e.created_at DESC, e.id", &[]).await
    }

    async fn election(&self, key: &ElectionKey) -> Result<Option<Election>, StoreError> {
        let conn = self.connection().await?;
        match key {
            ElectionKey::Id(id) => load_one(&**conn, "WHERE e.id = $1", &[id]).await,
            ElectionKey::Slug(slug) => load_one(&**conn, "WHERE e.slug = $1", &[slug]).await,
        }
    }

    async fn default_election(&self) -> Result<Option<Election>, StoreError> {
        let conn = self.connection().await?;
        load_one(&**conn, "WHERE e.is_default", &[]).await
    }

    async fn replace_draft(
        &self,
        actor: Actor,
        id: Uuid,
        election: &NewElection,
    ) -> Result<Election, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let before = for_update(&tx, id).await?;
        if before.state != ElectionState::Draft {
            return Err(StoreError::ElectionFrozen);
        }
        tx.execute(
            "UPDATE elections SET slug = $2, title = $3, description = $4, timezone = $5,
                    opens_at = $6, closes_at = $7, eligibility = $8, results = $9,
                    live_min_ballots = $10
             WHERE id = $1",
            &[
                &id,
                &election.slug,
                &election.title,
                &election.description,
                &election.timezone,
                &election.opens_at,
                &election.closes_at,
                &election.eligibility.as_str(),
                &election.results.as_str(),
                &i32::try_from(election.live_min_ballots).unwrap_or(i32::MAX),
            ],
        )
        .await
        .map_err(slug_taken)?;
        tx.execute("DELETE FROM contests WHERE election_id = $1", &[&id])
            .await
            .map_err(map_error)?;
        insert_contests(&tx, id, election).await?;
        let after = for_update(&tx, id).await?;
        write_audit(
            &tx,
            &AuditRecord::election(
                actor,
                "election.update",
                &after,
                Some(&before),
                Some(&after),
            ),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(after)
    }

    async fn delete_draft(&self, actor: Actor, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let before = for_update(&tx, id).await?;
        if before.state != ElectionState::Draft {
            return Err(StoreError::ElectionFrozen);
        }
        if before.is_default {
            return Err(StoreError::InvalidTransition(
                "the default election cannot be deleted; make another election the default first"
                    .into(),
            ));
        }
        tx.execute("DELETE FROM elections WHERE id = $1", &[&id])
            .await
            .map_err(map_error)?;
        write_audit(
            &tx,
            &AuditRecord::election(actor, "election.delete", &before, Some(&before), None),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(())
    }

    async fn transition(
        &self,
        actor: Actor,
        id: Uuid,
        action: Action,
        closes_at: Option<DateTime<Utc>>,
    ) -> Result<Election, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let before = for_update(&tx, id).await?;
        action
            .next(before.state)
            .map_err(StoreError::InvalidTransition)?;
        let (sql, refusal): (&str, &str) = match action {
            Action::Schedule => (
                "UPDATE elections SET state = 'scheduled', roll_fingerprint = $2
                 WHERE id = $1 AND (closes_at IS NULL OR closes_at > now())",
                "closes_at has already passed; change it before scheduling",
            ),
            Action::Open => (
                "UPDATE elections SET state = 'open', opens_at = now() WHERE id = $1",
                "",
            ),
            Action::Close => (
                "UPDATE elections SET state = 'closed', closes_at = now() WHERE id = $1",
                "",
            ),
            Action::Extend => (
                "UPDATE elections SET closes_at = $2
                 WHERE id = $1 AND $2 > now() AND (closes_at IS NULL OR $2 > closes_at)
                   AND (opens_at IS NULL OR $2 > opens_at)",
                "closes_at: must be later than now and than the current closing time",
            ),
            Action::Publish => (
                "UPDATE elections SET state = 'published', published_at = now() WHERE id = $1",
                "",
            ),
            Action::Archive => ("UPDATE elections SET state = 'archived' WHERE id = $1", ""),
        };
        let changed = if action == Action::Extend {
            let closes_at = closes_at.ok_or_else(|| {
                StoreError::InvalidTime("closes_at: required to extend an election".into())
            })?;
            tx.execute(sql, &[&id, &closes_at]).await
        } else if action == Action::Schedule {
            // The roll freezes with the ballot: its fingerprint is fixed here.
            let fingerprint = match before.eligibility {
                crate::elections::Eligibility::Open => None,
                crate::elections::Eligibility::Roll => {
                    let roll = super::rolls::entries(&*tx, id).await?;
                    if roll.is_empty() {
                        return Err(StoreError::InvalidTransition(
                            "the roll is empty: import the voters before scheduling".into(),
                        ));
                    }
                    Some(crate::rolls::fingerprint(&roll))
                }
            };
            tx.execute(sql, &[&id, &fingerprint]).await
        } else {
            tx.execute(sql, &[&id]).await
        }
        .map_err(map_error)?;
        if changed == 0 {
            return Err(if action == Action::Extend {
                StoreError::InvalidTime(refusal.into())
            } else {
                StoreError::InvalidTransition(refusal.into())
            });
        }
        let after = for_update(&tx, id).await?;
        let name = AuditRecord::election_action(action);
        write_audit(
            &tx,
            &AuditRecord::election_state(actor, name, &before, &after),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(after)
    }

    async fn set_default_election(&self, actor: Actor, id: Uuid) -> Result<Election, StoreError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(map_error)?;
        let before = for_update(&tx, id).await?;
        tx.execute(
            "UPDATE elections SET is_default = false WHERE is_default AND id <> $1",
            &[&id],
        )
        .await
        .map_err(map_error)?;
        tx.execute(
            "UPDATE elections SET is_default = true WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(map_error)?;
        let after = for_update(&tx, id).await?;
        write_audit(
            &tx,
            &AuditRecord::election_state(actor, "election.make_default", &before, &after),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(after)
    }

    async fn cast_ballot(&self, ballot: &NewBallot) -> Result<CastBallot, StoreError> {
        let conn = self.connection().await?;
        let copy = self.second_copy(&conn).await?;
        let cast = cast_on(&conn, ballot).await;
        // A new ballot, the same one sent again, or another one refused because the voter's
        // ballot is stored: each tells the voter a ballot is stored, so each waits for its copy.
        if matches!(
            cast,
            Ok(_) | Err(StoreError::AlreadyVoted | StoreError::IdempotencyKeyReused)
        ) {
            self.confirm_second_copy(&conn, copy).await?;
        }
        cast
    }

    async fn voted_elections(&self, user_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let rows = self
            .query(
                "SELECT election_id FROM participation WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn election_counts(&self, election: &Election) -> Result<ElectionCounts, StoreError> {
        let mut subjects = vec![election.id];
        for contest in election
            .contests
            .iter()
            .filter(|c| c.method.counted_incrementally())
        {
            subjects.extend(contest.choices.iter().map(|c| c.id));
        }
        let rows = self
            .query(
                "SELECT subject_id, SUM(n)::bigint, SUM(weight)::bigint FROM tallies
                 WHERE subject_id = ANY($1) GROUP BY subject_id",
                &[&subjects],
            )
            .await?;
        let mut counts = ElectionCounts::default();
        for row in &rows {
            let subject: Uuid = row.get(0);
            let n = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            let weight = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
            if subject == election.id {
                counts.ballots = n;
                counts.ballots_weight = weight;
            } else {
                counts.choices.insert(subject, n);
                counts.weights.insert(subject, weight);
            }
        }
        Ok(counts)
    }

    async fn ballot_selections(&self, election_id: Uuid) -> Result<Vec<StoredBallot>, StoreError> {
        let rows = self
            .query(
                // A ballot without `selections` names its one candidate in `candidate_id`.
                "SELECT COALESCE(v.selections, jsonb_build_object(ca.contest_id::text, jsonb_build_array(v.candidate_id))), v.weight
                 FROM ballot_box v LEFT JOIN candidates ca ON ca.id = v.candidate_id
                 WHERE v.election_id = $1 AND (v.selections IS NOT NULL OR v.candidate_id IS NOT NULL)",
                &[&election_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| StoredBallot {
                selections: row.get::<_, Value>(0),
                weight: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
            })
            .collect())
    }

    async fn seal_closed(&self) -> Result<u64, StoreError> {
        super::seal::seal_closed(self).await
    }
}

/// The default election's first contest, for the candidate admin routes (`/api/candidates`):
/// editable while that election is a draft, or always when its ballot is editable
/// (`ballot_editable`).
/// Locks the election row (shared) so it cannot be scheduled before the change commits.
pub(super) async fn editable_default_contest(tx: &Transaction<'_>) -> Result<Uuid, StoreError> {
    let row = tx
        .query_opt(
            "SELECT co.id, e.state = 'draft' OR e.ballot_editable
             FROM elections e JOIN contests co ON co.election_id = e.id
             WHERE e.is_default ORDER BY co.position LIMIT 1 FOR SHARE OF e",
            &[],
        )
        .await
        .map_err(map_error)?
        .ok_or(StoreError::ElectionNotFound)?;
    if row.get::<_, bool>(1) {
        Ok(row.get(0))
    } else {
        Err(StoreError::ElectionFrozen)
    }
}

/// [`ElectionStore::cast_ballot`]'s statements on one connection.
async fn cast_on(conn: &Connection, ballot: &NewBallot) -> Result<CastBallot, StoreError> {
    // One autocommit statement: the open check by the database's clock, the voter's
    // participation, the ballot (which names no voter) and its counts commit together (and,
    // like every commit, wait for the synchronous standby; no statement_timeout applies, so
    // that wait is never cancelled). The ballot is inserted only if the participation is.
    let insert = conn
        .prepare_cached(&format!(
            "WITH open_election AS (
               SELECT e.id, COALESCE(r.weight, 1000000000) AS weight FROM elections e
               LEFT JOIN roll_entries r ON e.eligibility = 'roll' AND r.election_id = e.id
                 AND r.email = (SELECT lower(u.email) FROM users u WHERE u.id = $2)
               WHERE e.id = $1 AND {EFFECTIVE_STATE} = 'open'
                 AND (e.eligibility = 'open' OR r.email IS NOT NULL)
                 AND ($3::uuid IS NULL OR EXISTS (
                   SELECT 1 FROM candidates ca JOIN contests co ON co.id = ca.contest_id
                   WHERE ca.id = $3 AND co.election_id = $1))
             ), voter AS (
               INSERT INTO participation (election_id, user_id, voted_at, key_hash, request_hash)
               SELECT id, $2, now(), $5, $8 FROM open_election
               ON CONFLICT (election_id, user_id) DO NOTHING
               RETURNING voted_at
             ), ballot AS (
               INSERT INTO ballot_box (id, election_id, candidate_id, selections, weight)
               SELECT $9, open_election.id, $3, $4, open_election.weight FROM open_election, voter
               RETURNING weight
             ), counted AS (
               INSERT INTO tallies (subject_id, shard, n, weight)
               SELECT subject, $7, 1, ballot.weight FROM ballot, unnest($6::uuid[]) AS subject
               ON CONFLICT (subject_id, shard)
               DO UPDATE SET n = tallies.n + 1, weight = tallies.weight + EXCLUDED.weight
             )
             SELECT voted_at FROM voter"
        ))
        .await
        .map_err(map_error)?;
    let (key_hash, request_hash) = ballot.retry_digests();
    let receipt = ballot.ballot_id();
    let shard: i16 = rand::thread_rng().gen_range(0..TALLY_SHARDS);
    let inserted = conn
        .query_opt(
            &insert,
            &[
                &ballot.election_id,
                &ballot.user_id,
                &ballot.candidate_id,
                &ballot.selections,
                &key_hash,
                &ballot.counted,
                &shard,
                &request_hash,
                &receipt,
            ],
        )
        .await;
    let inserted = match inserted {
        Ok(row) => row,
        Err(e) => {
            return Err(match constraint(&e) {
                Some((code, Some("participation_user_id_fkey")))
                    if *code == SqlState::FOREIGN_KEY_VIOLATION =>
                {
                    StoreError::UserNotFound
                }
                Some((code, Some("ballot_box_candidate_id_fkey")))
                    if *code == SqlState::FOREIGN_KEY_VIOLATION =>
                {
                    StoreError::CandidateNotFound
                }
                _ => map_error(e),
            });
        }
    };
    if let Some(row) = inserted {
        return Ok(CastBallot {
            receipt,
            election_id: ballot.election_id,
            candidate_id: ballot.candidate_id,
            created_at: row.get(0),
            replayed: false,
        });
    }
    // An existing ballot may be committed locally but still waiting for the synchronous
    // standby (PostgreSQL shows it before the standby confirms), so the participation is
    // read through a no-op UPDATE whose own commit waits for the standby: once it returns,
    // the earlier ballot is on the standby too (WAL is replayed in order). (Without a
    // synchronous standby, `SecondCopy::Confirm`, nothing waits here: the caller confirms.)
    let existing = conn
        .prepare_cached(
            "UPDATE participation SET voted_at = voted_at
             WHERE election_id = $1 AND user_id = $2
             RETURNING voted_at, key_hash, request_hash",
        )
        .await
        .map_err(map_error)?;
    if let Some(row) = conn
        .query_opt(&existing, &[&ballot.election_id, &ballot.user_id])
        .await
        .map_err(map_error)?
    {
        let stored = Participation {
            voted_at: row.get(0),
            key_hash: row.get(1),
            request_hash: row.get(2),
        };
        return stored.outcome(ballot.election_id, ballot);
    }
    let why = conn
        .query_opt(
            &format!(
                "SELECT {EFFECTIVE_STATE} = 'open',
                        e.eligibility = 'roll' AND NOT EXISTS (
                          SELECT 1 FROM roll_entries r WHERE r.election_id = e.id
                            AND r.email = (SELECT lower(u.email) FROM users u WHERE u.id = $3)),
                        ($2::uuid IS NULL OR EXISTS (
                          SELECT 1 FROM candidates ca JOIN contests co ON co.id = ca.contest_id
                          WHERE ca.id = $2 AND co.election_id = $1))
                 FROM elections e WHERE e.id = $1"
            ),
            &[&ballot.election_id, &ballot.candidate_id, &ballot.user_id],
        )
        .await
        .map_err(map_error)?;
    let refusal = match why {
        None => BallotRefusal {
            election_found: false,
            open: false,
            roll: false,
            candidate_found: false,
        },
        Some(row) => BallotRefusal {
            election_found: true,
            open: row.get(0),
            roll: row.get(1),
            candidate_found: row.get(2),
        },
    };
    Err(refusal.into_error())
}
