//! [`ElectionStore`] on SQLite. The database's clock is `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`
//! (milliseconds, the width election times are stored at), read in the statement that uses it.
//! Every write runs in an IMMEDIATE transaction, so a check and the write that depends on it are
//! one atomic step.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;
use uuid::Uuid;

use super::security::write_audit;
use super::{SqliteStore, time_at, uuid_at};
use crate::elections::document::NewElection;
use crate::elections::{
    Action, Choice, Contest, Election, ElectionKey, ElectionState, Eligibility, Method,
    ResultsPolicy,
};
use crate::store::StoreError;
use crate::store::elections::{
    Actor, BallotRefusal, CastBallot, ElectionCounts, ElectionStore, NewBallot, Participation,
    StoredBallot,
};
use crate::store::security::AuditRecord;

/// The database's clock, in the stored width.
pub(super) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// The election's state by the database's clock (see the PostgreSQL store).
pub(super) const EFFECTIVE_STATE: &str = "CASE
    WHEN e.state IN ('scheduled', 'open') AND e.closes_at IS NOT NULL AND e.closes_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'closed'
    WHEN e.state = 'scheduled' AND e.opens_at IS NOT NULL AND e.opens_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'open'
    ELSE e.state END";

/// The default election's first contest: what `/api/options`, `/api/votes` and `/api/results`
/// call the ballot.
pub(super) const DEFAULT_CONTEST: &str =
    "(SELECT co.id FROM contests co JOIN elections e ON e.id = co.election_id
    WHERE e.is_default ORDER BY co.position LIMIT 1)";

/// Election instants as stored: RFC 3339 UTC to the millisecond.
pub(super) fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn corrupt(column: usize, what: &str, value: &str) -> rusqlite::Error {
    super::conversion_error(
        column,
        std::io::Error::other(format!(
            "stored {what} {value:?} is not one the service writes"
        )),
    )
}

fn optional_time(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<String>>(column)? {
        None => Ok(None),
        Some(_) => time_at(row, column).map(Some),
    }
}

fn election_from_row(row: &Row<'_>) -> rusqlite::Result<Election> {
    let eligibility: String = row.get(7)?;
    let results: String = row.get(8)?;
    let state: String = row.get(10)?;
    Ok(Election {
        id: uuid_at(row, 0)?,
        slug: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        timezone: row.get(4)?,
        opens_at: optional_time(row, 5)?,
        closes_at: optional_time(row, 6)?,
        opens_at_local: None,
        closes_at_local: None,
        eligibility: Eligibility::from_column(&eligibility)
            .ok_or_else(|| corrupt(7, "eligibility", &eligibility))?,
        results: ResultsPolicy::from_column(&results)
            .ok_or_else(|| corrupt(8, "results policy", &results))?,
        live_min_ballots: row.get(9)?,
        state: ElectionState::from_column(&state).ok_or_else(|| corrupt(10, "state", &state))?,
        is_default: row.get(11)?,
        ballot_editable: row.get(12)?,
        published_at: optional_time(row, 13)?,
        created_at: time_at(row, 14)?,
        encryption: None,
        board_head: None,
        roll_fingerprint: row.get(15)?,
        contests: Vec::new(),
    })
}

fn load(
    conn: &Connection,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<Election>> {
    let sql = format!(
        "SELECT e.id, e.slug, e.title, e.description, e.timezone, e.opens_at, e.closes_at,
                e.eligibility, e.results, e.live_min_ballots, {EFFECTIVE_STATE}, e.is_default,
                e.ballot_editable, e.published_at, e.created_at, e.roll_fingerprint
         FROM elections e {filter}"
    );
    let mut elections = conn
        .prepare_cached(&sql)?
        .query_map(params, election_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut contests_query = conn.prepare_cached(
        "SELECT co.id, co.title, co.method, co.seats, co.min_choices, co.max_choices, co.max_score,
                ca.id, ca.name, ca.party, ca.description
         FROM contests co LEFT JOIN candidates ca ON ca.contest_id = co.id
         WHERE co.election_id = ?1
         ORDER BY co.position, ca.position, lower(ca.name), ca.name, ca.id",
    )?;
    for election in &mut elections {
        election.localize();
        let mut rows = contests_query.query([election.id.to_string()])?;
        while let Some(row) = rows.next()? {
            let contest_id = uuid_at(row, 0)?;
            if election.contests.last().map(|c| c.id) != Some(contest_id) {
                let method: String = row.get(2)?;
                election.contests.push(Contest {
                    id: contest_id,
                    title: row.get(1)?,
                    method: Method::from_column(&method)
                        .ok_or_else(|| corrupt(2, "method", &method))?,
                    seats: row.get(3)?,
                    min_choices: row.get(4)?,
                    max_choices: row.get(5)?,
                    max_score: row.get(6)?,
                    choices: Vec::new(),
                });
            }
            if row.get::<_, Option<String>>(7)?.is_some()
                && let Some(contest) = election.contests.last_mut()
            {
                contest.choices.push(Choice {
                    id: uuid_at(row, 7)?,
                    name: row.get(8)?,
                    party: row.get(9)?,
                    description: row.get(10)?,
                });
            }
        }
    }
    Ok(elections)
}

fn load_one(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<Election>> {
    Ok(load(conn, "WHERE e.id = ?1", &[&id.to_string()])?
        .into_iter()
        .next())
}

fn insert_contests(
    conn: &Connection,
    election_id: Uuid,
    election: &NewElection,
) -> rusqlite::Result<()> {
    let mut contest_insert = conn.prepare_cached(
        "INSERT INTO contests (id, election_id, position, title, method, seats, min_choices,
                               max_choices, max_score)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut choice_insert = conn.prepare_cached(
        "INSERT INTO candidates (id, contest_id, position, name, party, description)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (position, contest) in election.contests.iter().enumerate() {
        let contest_id = Uuid::new_v4().to_string();
        contest_insert.execute(params![
            contest_id,
            election_id.to_string(),
            position as i64,
            contest.title,
            contest.method.as_str(),
            contest.seats,
            contest.min_choices,
            contest.max_choices,
            contest.max_score,
        ])?;
        for (position, choice) in contest.choices.iter().enumerate() {
            choice_insert.execute(params![
                Uuid::new_v4().to_string(),
                contest_id,
                position as i64,
                choice.name,
                choice.party,
                choice.description,
            ])?;
        }
    }
    Ok(())
}

fn is_slug_taken(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
        && error.to_string().contains("elections.slug")
}

/// The default election's first contest if the candidate admin routes (`/api/candidates`) may
/// change it.
pub(super) fn editable_default_contest(
    conn: &Connection,
) -> rusqlite::Result<Result<Uuid, StoreError>> {
    let row = conn
        .query_row(
            "SELECT co.id, e.state = 'draft' OR e.ballot_editable
             FROM elections e JOIN contests co ON co.election_id = e.id
             WHERE e.is_default ORDER BY co.position LIMIT 1",
            [],
            |row| Ok((uuid_at(row, 0)?, row.get::<_, bool>(1)?)),
        )
        .optional()?;
    Ok(match row {
        None => Err(StoreError::ElectionNotFound),
        Some((_, false)) => Err(StoreError::ElectionFrozen),
        Some((id, true)) => Ok(id),
    })
}

/// `?1` the id, then the election's settings in the column order of the INSERT and UPDATE.
fn election_params(id: Uuid, election: &NewElection) -> Vec<Box<dyn rusqlite::ToSql>> {
    vec![
        Box::new(id.to_string()),
        Box::new(election.slug.clone()),
        Box::new(election.title.clone()),
        Box::new(election.description.clone()),
        Box::new(election.timezone.clone()),
        Box::new(election.opens_at.map(millis)),
        Box::new(election.closes_at.map(millis)),
        Box::new(election.eligibility.as_str()),
        Box::new(election.results.as_str()),
        Box::new(election.live_min_ballots),
    ]
}

/// The voter's ballot in the election, or why none can be stored; inside the caller's
/// transaction (the vote writer's batch).
pub(super) fn cast_one(
    conn: &Connection,
    ballot: &NewBallot,
) -> rusqlite::Result<Result<CastBallot, StoreError>> {
    let existing = conn
        .query_row(
            "SELECT voted_at, key_hash, request_hash FROM participation
             WHERE election_id = ?1 AND user_id = ?2",
            [ballot.election_id.to_string(), ballot.user_id.to_string()],
            |row| {
                Ok(Participation {
                    voted_at: time_at(row, 0)?,
                    key_hash: row.get(1)?,
                    request_hash: row.get(2)?,
                })
            },
        )
        .optional()?;
    if let Some(existing) = existing {
        return Ok(existing.outcome(ballot.election_id, ballot));
    }
    let why = conn
        .query_row(
            &format!(
                "SELECT {EFFECTIVE_STATE} = 'open',
                        e.eligibility = 'roll' AND NOT EXISTS (
                          SELECT 1 FROM roll_entries r WHERE r.election_id = e.id
                            AND r.email = (SELECT lower(u.email) FROM users u WHERE u.id = ?3)),
                        (?2 IS NULL OR EXISTS (
                          SELECT 1 FROM candidates ca JOIN contests co ON co.id = ca.contest_id
                          WHERE ca.id = ?2 AND co.election_id = ?1))
                 FROM elections e WHERE e.id = ?1"
            ),
            params![
                ballot.election_id.to_string(),
                ballot.candidate_id.map(|c| c.to_string()),
                ballot.user_id.to_string()
            ],
            |row| {
                Ok(BallotRefusal {
                    election_found: true,
                    open: row.get(0)?,
                    roll: row.get(1)?,
                    candidate_found: row.get(2)?,
                })
            },
        )
        .optional()?;
    let refusal = why.unwrap_or(BallotRefusal {
        election_found: false,
        open: false,
        roll: false,
        candidate_found: false,
    });
    if !(refusal.open && !refusal.roll && refusal.candidate_found) {
        return Ok(Err(refusal.into_error()));
    }
    if !super::exists(conn, "SELECT 1 FROM users WHERE id = ?1", ballot.user_id)? {
        return Ok(Err(StoreError::UserNotFound));
    }
    let weight: i64 = conn.query_row(
        "SELECT COALESCE((SELECT r.weight FROM roll_entries r JOIN elections e ON e.id = r.election_id
                          WHERE e.eligibility = 'roll' AND r.election_id = ?1
                            AND r.email = (SELECT lower(u.email) FROM users u WHERE u.id = ?2)),
                         1000000000)",
        [ballot.election_id.to_string(), ballot.user_id.to_string()],
        |row| row.get(0),
    )?;
    let receipt = ballot.ballot_id();
    let created_at = Utc::now();
    let (key_hash, request_hash) = ballot.retry_digests();
    conn.prepare_cached(
        "INSERT INTO participation (election_id, user_id, voted_at, key_hash, request_hash)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        ballot.election_id.to_string(),
        ballot.user_id.to_string(),
        super::timestamp(created_at),
        key_hash,
        request_hash,
    ])?;
    conn.prepare_cached(
        "INSERT INTO ballot_box (id, election_id, candidate_id, selections, weight)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        receipt.to_string(),
        ballot.election_id.to_string(),
        ballot.candidate_id.map(|c| c.to_string()),
        ballot.selections.to_string(),
        weight,
    ])?;
    let mut count = conn.prepare_cached(
        "INSERT INTO tallies (subject_id, shard, n, weight) VALUES (?1, 0, 1, ?2)
         ON CONFLICT (subject_id, shard) DO UPDATE SET n = n + 1, weight = weight + excluded.weight",
    )?;
    for subject in &ballot.counted {
        count.execute(params![subject.to_string(), weight])?;
    }
    Ok(Ok(CastBallot {
        receipt,
        election_id: ballot.election_id,
        candidate_id: ballot.candidate_id,
        created_at,
        replayed: false,
    }))
}

impl SqliteStore {
    /// Runs `work` in an IMMEDIATE transaction on the election's row; `work` returns the
    /// audit record and the outcome, both committed together.
    async fn change_election<F>(&self, id: Uuid, work: F) -> Result<Election, StoreError>
    where
        F: FnOnce(&Connection, Election) -> rusqlite::Result<Result<AuditRecord, StoreError>>
            + Send
            + 'static,
    {
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(before) = load_one(&tx, id)? else {
                return Ok(Err(StoreError::ElectionNotFound));
            };
            let record = match work(&tx, before) {
                Ok(Ok(record)) => record,
                Ok(Err(refused)) => return Ok(Err(refused)),
                Err(e) if is_slug_taken(&e) => return Ok(Err(StoreError::SlugTaken)),
                Err(e) => return Err(e),
            };
            write_audit(&tx, &record)?;
            let after = load_one(&tx, id)?;
            tx.commit()?;
            Ok(after.ok_or(StoreError::ElectionNotFound))
        })
        .await
    }
}

#[async_trait]
impl ElectionStore for SqliteStore {
    async fn create_election(
        &self,
        actor: Actor,
        election: &NewElection,
    ) -> Result<Election, StoreError> {
        let election = election.clone();
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = Uuid::new_v4();
            let values = election_params(id, &election);
            let inserted = tx.execute(
                &format!(
                    "INSERT INTO elections (id, slug, title, description, timezone, opens_at,
                         closes_at, eligibility, results, live_min_ballots, state, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'draft', {NOW})"
                ),
                rusqlite::params_from_iter(values.iter()),
            );
            match inserted {
                Err(e) if is_slug_taken(&e) => return Ok(Err(StoreError::SlugTaken)),
                other => other?,
            };
            insert_contests(&tx, id, &election)?;
            let Some(created) = load_one(&tx, id)? else {
                return Ok(Err(StoreError::ElectionNotFound));
            };
            write_audit(
                &tx,
                &AuditRecord::election(actor, "election.create", &created, None, Some(&created)),
            )?;
            tx.commit()?;
            Ok(Ok(created))
        })
        .await
    }

    async fn elections(&self) -> Result<Vec<Election>, StoreError> {
        self.with_conn(|conn| load(conn, "ORDER BY e.created_at DESC, e.id", &[]))
            .await
    }

    async fn election(&self, key: &ElectionKey) -> Result<Option<Election>, StoreError> {
        let (filter, value) = match key {
            ElectionKey::Id(id) => ("WHERE e.id = ?1", id.to_string()),
            ElectionKey::Slug(slug) => ("WHERE e.slug = ?1", slug.clone()),
        };
        self.with_conn(move |conn| Ok(load(conn, filter, &[&value])?.into_iter().next()))
            .await
    }

    async fn default_election(&self) -> Result<Option<Election>, StoreError> {
        self.with_conn(|conn| Ok(load(conn, "WHERE e.is_default", &[])?.into_iter().next()))
            .await
    }

    async fn replace_draft(
        &self,
        actor: Actor,
        id: Uuid,
        election: &NewElection,
    ) -> Result<Election, StoreError> {
        let election = election.clone();
        self.change_election(id, move |conn, before| {
            if before.state != ElectionState::Draft {
                return Ok(Err(StoreError::ElectionFrozen));
            }
            let values = election_params(id, &election);
            conn.execute(
                "UPDATE elections SET slug = ?2, title = ?3, description = ?4, timezone = ?5,
                        opens_at = ?6, closes_at = ?7, eligibility = ?8, results = ?9,
                        live_min_ballots = ?10
                 WHERE id = ?1",
                rusqlite::params_from_iter(values.iter()),
            )?;
            conn.execute(
                "DELETE FROM contests WHERE election_id = ?1",
                [id.to_string()],
            )?;
            insert_contests(conn, id, &election)?;
            let after = load_one(conn, id)?;
            Ok(Ok(AuditRecord::election(
                actor,
                "election.update",
                &before,
                Some(&before),
                after.as_ref(),
            )))
        })
        .await
    }

    async fn delete_draft(&self, actor: Actor, id: Uuid) -> Result<(), StoreError> {
        self.with_conn_outcome(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(before) = load_one(&tx, id)? else {
                return Ok(Err(StoreError::ElectionNotFound));
            };
            if before.state != ElectionState::Draft {
                return Ok(Err(StoreError::ElectionFrozen));
            }
            if before.is_default {
                return Ok(Err(StoreError::InvalidTransition(
                    "the default election cannot be deleted; make another election the default first".into(),
                )));
            }
            tx.execute("DELETE FROM elections WHERE id = ?1", [id.to_string()])?;
            write_audit(&tx, &AuditRecord::election(actor, "election.delete", &before, Some(&before), None))?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
    }

    async fn transition(
        &self,
        actor: Actor,
        id: Uuid,
        action: Action,
        closes_at: Option<DateTime<Utc>>,
    ) -> Result<Election, StoreError> {
        self.change_election(id, move |conn, before| {
            if let Err(why) = action.next(before.state) {
                return Ok(Err(StoreError::InvalidTransition(why)));
            }
            let id_text = id.to_string();
            let changed = match action {
                Action::Schedule => {
                    // The roll freezes with the ballot: its fingerprint is fixed here.
                    let fingerprint = match before.eligibility {
                        crate::elections::Eligibility::Open => None,
                        crate::elections::Eligibility::Roll => {
                            let roll = super::rolls::entries(conn, id)?;
                            if roll.is_empty() {
                                return Ok(Err(StoreError::InvalidTransition(
                                    "the roll is empty: import the voters before scheduling".into(),
                                )));
                            }
                            Some(crate::rolls::fingerprint(&roll))
                        }
                    };
                    conn.execute(
                        &format!("UPDATE elections SET state = 'scheduled', roll_fingerprint = ?2 WHERE id = ?1 AND (closes_at IS NULL OR closes_at > {NOW})"),
                        params![&id_text, fingerprint],
                    )?
                }
                Action::Open => conn.execute(
                    &format!("UPDATE elections SET state = 'open', opens_at = {NOW} WHERE id = ?1"),
                    [&id_text],
                )?,
                Action::Close => conn.execute(
                    &format!("UPDATE elections SET state = 'closed', closes_at = {NOW} WHERE id = ?1"),
                    [&id_text],
                )?,
                Action::Extend => {
                    let Some(closes_at) = closes_at else {
                        return Ok(Err(StoreError::InvalidTime("closes_at: required to extend an election".into())));
                    };
                    conn.execute(
                        &format!(
                            "UPDATE elections SET closes_at = ?2
                             WHERE id = ?1 AND ?2 > {NOW} AND (closes_at IS NULL OR ?2 > closes_at)
                               AND (opens_at IS NULL OR ?2 > opens_at)"
                        ),
                        [&id_text, &millis(closes_at)],
                    )?
                }
                Action::Publish => conn.execute(
                    &format!("UPDATE elections SET state = 'published', published_at = {NOW} WHERE id = ?1"),
                    [&id_text],
                )?,
                Action::Archive => conn.execute(
                    "UPDATE elections SET state = 'archived' WHERE id = ?1",
                    [&id_text],
                )?,
            };
            if changed == 0 {
                return Ok(Err(match action {
                    Action::Extend => StoreError::InvalidTime(
                        "closes_at: must be later than now and than the current closing time".into(),
                    ),
                    _ => StoreError::InvalidTransition(
                        "closes_at has already passed; change it before scheduling".into(),
                    ),
                }));
            }
            let after = load_one(conn, id)?.unwrap_or_else(|| before.clone());
            Ok(Ok(AuditRecord::election_state(actor, AuditRecord::election_action(action), &before, &after)))
        })
        .await
    }

    async fn set_default_election(&self, actor: Actor, id: Uuid) -> Result<Election, StoreError> {
        self.change_election(id, move |conn, before| {
            conn.execute(
                "UPDATE elections SET is_default = 0 WHERE is_default AND id <> ?1",
                [id.to_string()],
            )?;
            conn.execute(
                "UPDATE elections SET is_default = 1 WHERE id = ?1",
                [id.to_string()],
            )?;
            let after = load_one(conn, id)?.unwrap_or_else(|| before.clone());
            Ok(Ok(AuditRecord::election_state(
                actor,
                "election.make_default",
                &before,
                &after,
            )))
        })
        .await
    }

    async fn cast_ballot(&self, ballot: &NewBallot) -> Result<CastBallot, StoreError> {
        self.votes.cast(ballot).await
    }

    async fn voted_elections(&self, user_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached("SELECT election_id FROM participation WHERE user_id = ?1")?
                .query_map([user_id.to_string()], |row| uuid_at(row, 0))?
                .collect()
        })
        .await
    }

    async fn election_counts(&self, election: &Election) -> Result<ElectionCounts, StoreError> {
        let election_id = election.id;
        let subjects: Vec<Uuid> = election
            .contests
            .iter()
            .filter(|c| c.method.counted_incrementally())
            .flat_map(|c| c.choices.iter().map(|choice| choice.id))
            .collect();
        self.with_conn(move |conn| {
            let mut query = conn
                .prepare_cached("SELECT SUM(n), SUM(weight) FROM tallies WHERE subject_id = ?1")?;
            let mut count = |id: Uuid| -> rusqlite::Result<(u64, u64)> {
                let (n, w): (Option<i64>, Option<i64>) =
                    query.query_row([id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))?;
                let unsigned = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
                Ok((unsigned(n), unsigned(w)))
            };
            let (ballots, ballots_weight) = count(election_id)?;
            let mut counts = ElectionCounts {
                ballots,
                ballots_weight,
                ..ElectionCounts::default()
            };
            for id in subjects {
                let (n, w) = count(id)?;
                counts.choices.insert(id, n);
                counts.weights.insert(id, w);
            }
            Ok(counts)
        })
        .await
    }

    async fn ballot_selections(&self, election_id: Uuid) -> Result<Vec<StoredBallot>, StoreError> {
        self.with_conn(move |conn| {
            let mut query = conn.prepare_cached(
                // A ballot without `selections` names its one candidate in `candidate_id`.
                "SELECT COALESCE(v.selections, json_object(ca.contest_id, json_array(v.candidate_id))), v.weight
                 FROM ballot_box v LEFT JOIN candidates ca ON ca.id = v.candidate_id
                 WHERE v.election_id = ?1 AND (v.selections IS NOT NULL OR v.candidate_id IS NOT NULL)",
            )?;
            let rows = query.query_map([election_id.to_string()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (text, weight) = row?;
                out.push(StoredBallot {
                    selections: serde_json::from_str::<Value>(&text)
                        .map_err(|e| super::conversion_error(0, e))?,
                    weight: u64::try_from(weight).unwrap_or(0),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn seal_closed(&self) -> Result<u64, StoreError> {
        self.with_conn(super::seal::seal_closed).await
    }
}
