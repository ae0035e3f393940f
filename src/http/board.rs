//! Encrypted elections over HTTP, the board's side: the public bulletin board (paged, and the
//! whole record as a download), encrypted ballots, and the trustees' partial decryptions. The
//! board's events are appended by the store (`crate::store::board`) in the transaction that
//! checks what they depend on; events derived from the board alone (setup, close, tally) are
//! appended by whichever request first needs them, with the board's length as the condition,
//! so every instance appends the same line once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use securevote_crypto::{
    Ballot, BallotEvent, Bytes32, CloseEvent, ElectionContext, Event, PartialDecryption,
    ResultEvent, SetupEvent, TallyDecryption, TrusteePublicKey, TrusteeSet, aggregate,
    verify_ballot,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AdminUser, AppJson, AppPath, AppQuery, AuthUser};
use crate::elections::encrypted::{BoardSummary, pseudonym, record_election};
use crate::elections::{Election, ElectionKey, ElectionState};
use crate::store::board::{BoardAppend, BoardLine};
use crate::store::{CeremonyKind, Encryption, StoreError};

/// Lines per page of `GET /board` by default, and at most.
const DEFAULT_PAGE: u64 = 100;
const MAX_PAGE: u64 = 1000;
/// Attempts at an append conditioned on the board's length before giving up (409).
const APPEND_ATTEMPTS: usize = 8;

/// An election's setup event with what verifying its ballots needs.
pub(crate) struct Setup {
    pub event: SetupEvent,
    pub election_hash: Bytes32,
    pub context: ElectionContext,
    pub roll: HashSet<Bytes32>,
}

/// This instance's copies of what never changes once an election is out of draft: whether it
/// is encrypted, and its setup event.
#[derive(Default)]
pub(crate) struct EncryptedElections {
    settings: Mutex<HashMap<Uuid, Option<Encryption>>>,
    setups: Mutex<HashMap<Uuid, Arc<Setup>>>,
    checks: ProofChecks,
}

/// Ballot proofs are checked on the blocking pool, at most two checks per CPU core at a time
/// (one running, one ready to take over): more would only time-slice the cores between them,
/// each ballot waiting longer, and crowd out the runtime's threads that carry the board appends'
/// database round trips (bench/run: 0.76 → 0.95 of the ceiling at concurrency 16).
struct ProofChecks(tokio::sync::Semaphore);

impl Default for ProofChecks {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self(tokio::sync::Semaphore::new(cores * 2))
    }
}

impl ProofChecks {
    async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _turn = self
            .0
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| ApiError::Internal(e.into()))
    }
}

pub(crate) fn coded(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::Coded(status, code, message.into())
}

fn invalid_proof(message: impl std::fmt::Display) -> ApiError {
    coded(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ballot_proof",
        format!("ballot: {message}"),
    )
}

/// The election's encryption settings, `None` for a plain election.
pub(crate) async fn encryption_of(
    state: &AppState,
    election: &Election,
) -> Result<Option<Encryption>, StoreError> {
    if let Some(known) = state
        .encrypted
        .settings
        .lock()
        .expect("settings lock")
        .get(&election.id)
    {
        return Ok(*known);
    }
    let settings = state.store.encryption(election.id).await?;
    if election.state != ElectionState::Draft {
        state
            .encrypted
            .settings
            .lock()
            .expect("settings lock")
            .insert(election.id, settings);
    }
    Ok(settings)
}

/// The whole board, in order.
pub(crate) async fn board_lines(
    state: &AppState,
    election_id: Uuid,
) -> Result<Vec<BoardLine>, StoreError> {
    let mut lines: Vec<BoardLine> = Vec::new();
    loop {
        let after = lines.last().map(|l| l.seq);
        let page = state
            .store
            .board_lines(election_id, after, MAX_PAGE)
            .await?;
        let full = page.len() as u64 == MAX_PAGE;
        lines.extend(page);
        if !full {
            return Ok(lines);
        }
    }
}

fn summary_of(lines: &[BoardLine]) -> Result<BoardSummary, StoreError> {
    BoardSummary::read(lines.iter().map(|l| l.line.as_str()))
        .map_err(|e| StoreError::Internal(anyhow::anyhow!("stored board does not parse: {e}")))
}

/// The election's setup, from this instance's copy or the board's first line.
pub(crate) async fn setup_of(
    state: &AppState,
    election_id: Uuid,
) -> Result<Option<Arc<Setup>>, StoreError> {
    if let Some(setup) = state
        .encrypted
        .setups
        .lock()
        .expect("setups lock")
        .get(&election_id)
    {
        return Ok(Some(Arc::clone(setup)));
    }
    let Some(first) = state
        .store
        .board_lines(election_id, None, 1)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let summary = summary_of(std::slice::from_ref(&first))?;
    let Some((event, election_hash)) = summary.setup else {
        return Err(StoreError::Internal(anyhow::anyhow!(
            "the board's first event is not its setup"
        )));
    };
    let context = event
        .context(election_hash)
        .map_err(|e| StoreError::Internal(anyhow::anyhow!("stored setup: {e}")))?;
    let setup = Arc::new(Setup {
        roll: event.roll.iter().copied().collect(),
        event,
        election_hash,
        context,
    });
    state
        .encrypted
        .setups
        .lock()
        .expect("setups lock")
        .insert(election_id, Arc::clone(&setup));
    Ok(Some(setup))
}

/// The trustees' public keys, by index.
pub(crate) async fn trustee_keys(
    state: &AppState,
    election_id: Uuid,
) -> Result<Vec<TrusteePublicKey>, StoreError> {
    state
        .store
        .ceremony_messages(election_id, CeremonyKind::Key)
        .await?
        .iter()
        .map(|m| serde_json::from_str(&m.body).map_err(|e| StoreError::Internal(e.into())))
        .collect()
}

/// Every email on the election's roll.
async fn roll_emails(state: &AppState, election_id: Uuid) -> Result<Vec<String>, StoreError> {
    let mut emails: Vec<String> = Vec::new();
    loop {
        let page = state
            .store
            .roll_page(election_id, emails.last().map(String::as_str), None, 1000)
            .await?;
        let full = page.len() == 1000;
        emails.extend(page.into_iter().map(|s| s.entry.email));
        if !full {
            return Ok(emails);
        }
    }
}

/// Why an encrypted election cannot be scheduled yet, if it cannot.
pub(crate) async fn schedule_refusal(
    state: &AppState,
    election: &Election,
    encryption: &Encryption,
) -> Result<Option<ApiError>, StoreError> {
    if let Some(why) =
        crate::elections::encrypted::unsupported(election, encryption).or_else(|| {
            crate::elections::encrypted::ballot_too_large(election, state.security.max_body_bytes)
        })
    {
        return Ok(Some(coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_encryption",
            why,
        )));
    }
    let keys = trustee_keys(state, election.id).await?;
    if (keys.len() as u64) < encryption.trustees {
        return Ok(Some(coded(
            StatusCode::CONFLICT,
            "ceremony_incomplete",
            format!(
                "encryption: {} of {} trustee public keys are uploaded; all are needed before the election is scheduled",
                keys.len(),
                encryption.trustees
            ),
        )));
    }
    Ok(None)
}

/// Appends the setup event (§6.3) if the board is empty: the election document, the trustees'
/// keys and the frozen roll's pseudonyms. Call only once the roll is frozen (scheduled).
pub(crate) async fn ensure_setup(
    state: &AppState,
    election: &Election,
    encryption: &Encryption,
) -> Result<(), ApiError> {
    if election.state == ElectionState::Draft
        || state.store.board_head(election.id).await?.is_some()
    {
        return Ok(());
    }
    let keys = trustee_keys(state, election.id).await?;
    if (keys.len() as u64) != encryption.trustees {
        return Err(coded(
            StatusCode::CONFLICT,
            "ceremony_incomplete",
            "encryption: the trustees' public keys are not all uploaded",
        ));
    }
    let id = election.id.to_string();
    let roll = roll_emails(state, election.id)
        .await?
        .iter()
        .map(|email| pseudonym(&state.pseudonym_key, &id, email))
        .collect();
    let setup = SetupEvent::new(record_election(election), encryption.threshold, keys, roll)
        .map_err(|e| {
            coded(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_encryption",
                e.to_string(),
            )
        })?;
    let appended = state
        .store
        .append_board(&BoardAppend {
            election_id: election.id,
            expect_len: Some(0),
            require_open: false,
            voters: Vec::new(),
            events: vec![Event::Setup(setup)],
        })
        .await;
    match appended {
        Ok(_) | Err(StoreError::BoardConflict) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether the board's last event is the tally or follows it (`close` and `tally` are
/// appended together), read from the last line alone.
async fn tally_on_board(state: &AppState, election_id: Uuid) -> Result<bool, StoreError> {
    let Some(head) = state.store.board_head(election_id).await? else {
        return Ok(false);
    };
    let last = state
        .store
        .board_lines(election_id, head.seq.checked_sub(1), 1)
        .await?;
    Ok(last.first().is_some_and(|l| {
        ["tally", "partial_decryption", "result"]
            .iter()
            .any(|kind| l.line.contains(&format!("\"type\":\"{kind}\"")))
    }))
}

/// Makes sure a closed election's board has its `close` and `tally` events, reading the whole
/// board only when they are missing.
pub(crate) async fn ensure_closed(state: &AppState, election: &Election) -> Result<(), StoreError> {
    let voting_over = matches!(
        election.state,
        ElectionState::Closed | ElectionState::Published | ElectionState::Archived
    );
    if voting_over && !tally_on_board(state, election.id).await? {
        ensure_tally(state, election).await?;
    }
    Ok(())
}

/// Appends `close` and `tally` (§6.6–6.7) once the election is closed, if they are not on the
/// board yet. Returns the board as it is then.
pub(crate) async fn ensure_tally(
    state: &AppState,
    election: &Election,
) -> Result<Vec<BoardLine>, StoreError> {
    let voting_over = matches!(
        election.state,
        ElectionState::Closed | ElectionState::Published | ElectionState::Archived
    );
    for _ in 0..APPEND_ATTEMPTS {
        if !voting_over || tally_on_board(state, election.id).await? {
            return board_lines(state, election.id).await;
        }
        let lines = board_lines(state, election.id).await?;
        if lines.is_empty() {
            return Ok(lines);
        }
        let summary = summary_of(&lines)?;
        if summary.closed {
            return Ok(lines);
        }
        let Some(setup) = setup_of(state, election.id).await? else {
            return Ok(lines);
        };
        let counted: Vec<Ballot> = summary.last_ballots.values().cloned().collect();
        let worker = Arc::clone(&setup);
        let tally = tokio::task::spawn_blocking(move || {
            let verified = counted
                .iter()
                .map(|b| verify_ballot(&worker.context, b, None))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, securevote_crypto::BallotError>(aggregate(&worker.context, verified.iter()))
        })
        .await
        .map_err(|e| StoreError::Internal(e.into()))?
        .map_err(|e| StoreError::Internal(anyhow::anyhow!("a stored ballot: {e}")))?;
        let appended = state
            .store
            .append_board(&BoardAppend {
                election_id: election.id,
                expect_len: Some(summary.len),
                require_open: false,
                voters: Vec::new(),
                events: vec![
                    Event::Close(CloseEvent {
                        ballots: summary.ballots,
                        counted: summary.last_ballots.len() as u64,
                    }),
                    Event::Tally(tally),
                ],
            })
            .await;
        match appended {
            Ok(_) | Err(StoreError::BoardConflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::BoardConflict)
}

/// An encrypted ballot (the crypto crate's `Ballot`, §4.4) under `encrypted`.
#[derive(Serialize, ToSchema)]
pub(super) struct EncryptedReceipt {
    /// The ballot's tracker (§4.5): the voter finds it on the board.
    tracker: String,
    election_id: Uuid,
    /// The ballot's event on the board, and that event's hash (the board's head then).
    seq: u64,
    hash: String,
}

/// Casts an encrypted ballot: verified against the election and the voter's pseudonym, then
/// appended to the board with the voter's participation. A later ballot supersedes this one.
pub(super) async fn cast_encrypted(
    state: &AppState,
    user: &AuthUser,
    election: &Election,
    encryption: &Encryption,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    if user.election.is_some_and(|scope| scope != election.id) {
        return Err(ApiError::NotEligible);
    }
    let Some(body) = body else {
        return Err(ApiError::InvalidRequest(
            "encrypted: this election takes encrypted ballots (docs/election-record.md §4.4)"
                .into(),
        ));
    };
    // This instance's copy of the setup, once it has one, spares the board's head per ballot.
    let setup = match setup_of(state, election.id).await? {
        Some(setup) => setup,
        None => {
            ensure_setup(state, election, encryption).await?;
            setup_of(state, election.id)
                .await?
                .ok_or(ApiError::ElectionNotOpen)?
        }
    };
    let ballot: Ballot = serde_json::from_value(body).map_err(invalid_proof)?;
    let mine = pseudonym(&state.pseudonym_key, &election.id.to_string(), &user.email);
    let tracker = verified_tracker(state, &setup, &ballot, mine).await?;
    let appended = state
        .board_writer
        .append_ballot(
            &state.store,
            election.id,
            Event::Ballot(BallotEvent {
                ballot,
                tracker: tracker.clone(),
                supersedes: None,
            }),
            user.id,
        )
        .await;
    let (line, replayed) = match appended {
        Ok(line) => (line, false),
        // The tracker hashes the whole ballot, whose proofs are bound to this voter: the same
        // tracker under the same pseudonym, still the voter's last ballot, is this voter's
        // retry of a ballot already stored, and gets its original answer (whatever
        // Idempotency-Key it carries). A superseded one is not made current again: refused.
        Err(StoreError::TrackerOnBoard) => match state
            .store
            .board_line_by_tracker(election.id, &tracker)
            .await?
        {
            Some(found)
                if found.kind == "ballot"
                    && found.latest
                    && found.pseudonym.as_deref() == Some(mine.to_hex().as_str()) =>
            {
                (found.line, true)
            }
            _ => return Err(StoreError::TrackerOnBoard.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let mut response = (
        StatusCode::CREATED,
        Json(EncryptedReceipt {
            tracker,
            election_id: election.id,
            seq: line.seq,
            hash: line.hash,
        }),
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert(super::IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    } else {
        // No voter in this line: a log must not link a voter to a ballot.
        tracing::info!(election_id = %election.id, "encrypted ballot cast");
        ::metrics::counter!(crate::metric_names::VOTES_CAST_TOTAL).increment(1);
    }
    Ok(response)
}

/// The tracker of `ballot` cast under the pseudonym `mine`: refused unless `mine` is on the
/// frozen roll and every proof verifies (bound to `mine`), checked on the proof checks' pool.
async fn verified_tracker(
    state: &AppState,
    setup: &Arc<Setup>,
    ballot: &Ballot,
    mine: Bytes32,
) -> Result<String, ApiError> {
    if !setup.roll.contains(&mine) {
        return Err(ApiError::NotEligible);
    }
    let worker = Arc::clone(setup);
    let checked = ballot.clone();
    let verified = state
        .encrypted
        .checks
        .run(move || verify_ballot(&worker.context, &checked, Some(&mine)))
        .await?
        .map_err(invalid_proof)?;
    Ok(verified.tracker.display())
}

/// bench/run's ceiling of casting an encrypted ballot (`BENCH_CEILING_ROUTE` only): what the
/// casting route does with the CPU — the election and its setup from this instance's copies,
/// the body parsed the same way, the pseudonym checked against the frozen roll and every proof
/// verified by the same call on the same blocking pool — and nothing of what it asks of the
/// database beyond the token's check (the append): answers the tracker, stores nothing.
pub(crate) async fn verify_without_storing(
    state: &AppState,
    election_id: Uuid,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    let election = state
        .elections
        .ballot_of(election_id)
        .await?
        .ok_or(ApiError::ElectionNotFound)?;
    encryption_of(state, &election)
        .await?
        .ok_or_else(not_encrypted)?;
    let Some(body) = body else {
        return Err(ApiError::InvalidRequest("encrypted: missing".into()));
    };
    let setup = setup_of(state, election.id)
        .await?
        .ok_or(ApiError::ElectionNotOpen)?;
    let ballot: Ballot = serde_json::from_value(body).map_err(invalid_proof)?;
    let tracker = verified_tracker(state, &setup, &ballot, ballot.pseudonym).await?;
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "tracker": tracker })),
    )
        .into_response())
}

/// An election named in a path, if it is encrypted and visible to the caller.
pub(crate) async fn encrypted_election(
    state: &AppState,
    raw: &str,
    is_admin: bool,
) -> Result<(Election, Encryption), ApiError> {
    let election = state
        .store
        .election(&ElectionKey::parse(raw))
        .await?
        .ok_or(ApiError::ElectionNotFound)?;
    if election.state == ElectionState::Draft && !is_admin {
        return Err(ApiError::ElectionNotFound);
    }
    let encryption = encryption_of(state, &election)
        .await?
        .ok_or_else(not_encrypted)?;
    Ok((election, encryption))
}

pub(crate) fn not_encrypted() -> ApiError {
    coded(
        StatusCode::CONFLICT,
        "not_encrypted",
        "this election is not encrypted",
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// Lines with a `seq` greater than this; from the first line without it.
    after: Option<u64>,
    /// Lines per page, 1 to 1000 (default 100).
    limit: Option<u64>,
}

/// One line of the board: its number, the line exactly as hashed, and its event hash.
#[derive(Serialize, ToSchema)]
pub(super) struct BoardLineBody {
    seq: u64,
    /// The event as a JSON text (docs/election-record.md §6): hash these bytes, never a
    /// re-serialisation.
    line: String,
    hash: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct BoardHeadBody {
    seq: u64,
    hash: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct BoardPage {
    election_id: Uuid,
    lines: Vec<BoardLineBody>,
    /// The board's last event, `null` while the board is empty.
    head: Option<BoardHeadBody>,
    /// Whether the board ends with the `result` event.
    complete: bool,
}

/// A page of the election's bulletin board (public).
#[utoipa::path(
    get,
    path = "/api/elections/{id}/board",
    tag = "encrypted elections",
    params(("id" = String, Path, description = "election id or slug"), PageQuery),
    responses(
        (status = 200, description = "Lines in order, and the head", body = BoardPage),
        (status = 400, description = "`invalid_request`: limit out of range", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`", body = ErrorBody),
    )
)]
pub(super) async fn board(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<BoardPage>, ApiError> {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit: must be between 1 and {MAX_PAGE}"
        )));
    }
    let (election, _) = encrypted_election(&state, &id, false).await?;
    ensure_closed(&state, &election).await?;
    let head = state.store.board_head(election.id).await?;
    let complete = match &head {
        Some(head) => state
            .store
            .board_lines(election.id, head.seq.checked_sub(1), 1)
            .await?
            .first()
            .is_some_and(|l| l.line.contains("\"type\":\"result\"")),
        None => false,
    };
    let head = head.map(|h| BoardHeadBody {
        seq: h.seq,
        hash: h.hash,
    });
    let lines = state
        .store
        .board_lines(election.id, page.after, limit)
        .await?
        .into_iter()
        .map(|l| BoardLineBody {
            seq: l.seq,
            line: l.line,
            hash: l.hash,
        })
        .collect();
    Ok(Json(BoardPage {
        election_id: election.id,
        lines,
        head,
        complete,
    }))
}

/// The whole election record as JSON Lines, one event per line (public): what `securevote
/// verify` checks.
#[utoipa::path(
    get,
    path = "/api/elections/{id}/board/archive",
    tag = "encrypted elections",
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "The record (`application/x-ndjson`), as a download", content_type = "application/x-ndjson", body = String),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`", body = ErrorBody),
    )
)]
pub(super) async fn archive(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let (election, _) = encrypted_election(&state, &id, false).await?;
    let lines = ensure_tally(&state, &election).await?;
    let mut text = String::new();
    for line in &lines {
        text.push_str(&line.line);
        text.push('\n');
    }
    let disposition = format!("attachment; filename=\"{}-record.jsonl\"", election.slug);
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// What a partial decryption upload did.
#[derive(Serialize, ToSchema)]
pub(super) struct DecryptionReceipt {
    trustee: u64,
    /// The trustees whose partial decryptions are on the board.
    trustees_in: Vec<u64>,
    /// Once `threshold` are in: the result per contest and choice (the `result` event).
    result: Option<Vec<Vec<u64>>>,
}

/// Uploads a trustee's partial decryption of the tally (`securevote trustee decrypt`), verified
/// with its proofs; the one that reaches the threshold also appends the result.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/decryptions",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body(content = Object, description = "A `PartialDecryption` (docs/election-record.md §6.8): `{\"trustee\", \"contests\"}`"),
    responses(
        (status = 201, description = "On the board", body = DecryptionReceipt),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`, `election_not_closed`, `partial_decryption_exists`, `decryption_complete` or `board_conflict`", body = ErrorBody),
        (status = 422, description = "`invalid_decryption_proof`, naming the trustee or contest", body = ErrorBody),
    )
)]
pub(super) async fn decrypt(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<Value>,
) -> Result<(StatusCode, Json<DecryptionReceipt>), ApiError> {
    let (election, _) = encrypted_election(&state, &id, true).await?;
    let partial: PartialDecryption = serde_json::from_value(body).map_err(|e| {
        coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_decryption_proof",
            format!("partial_decryption: {e}"),
        )
    })?;
    for _ in 0..APPEND_ATTEMPTS {
        let lines = ensure_tally(&state, &election).await?;
        let summary = summary_of(&lines)?;
        let (Some(tally), Some(setup)) =
            (summary.tally.clone(), setup_of(&state, election.id).await?)
        else {
            return Err(coded(
                StatusCode::CONFLICT,
                "election_not_closed",
                "the tally is decrypted once voting is closed",
            ));
        };
        if summary.result.is_some() {
            return Err(coded(
                StatusCode::CONFLICT,
                "decryption_complete",
                "the result is published: no more partial decryptions are taken",
            ));
        }
        if summary
            .partials
            .iter()
            .any(|p| p.trustee == partial.trustee)
        {
            return Err(coded(
                StatusCode::CONFLICT,
                "partial_decryption_exists",
                format!(
                    "trustee: trustee {} has already uploaded a partial decryption",
                    partial.trustee
                ),
            ));
        }
        let trustees = TrusteeSet::new(&setup.event.ceremony_params(), &setup.event.trustees)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored setup: {e}")))?;
        let mut decryption = TallyDecryption::new(setup.election_hash, trustees, tally)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored tally: {e}")))?;
        for earlier in &summary.partials {
            decryption
                .add(earlier)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored partial: {e}")))?;
        }
        decryption.add(&partial).map_err(|e| {
            coded(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_decryption_proof",
                format!("partial_decryption: {e}"),
            )
        })?;
        let mut events = vec![Event::PartialDecryption(partial.clone())];
        let result = if decryption.has_threshold() {
            let result = decryption
                .combine(setup.context.contests())
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("combining: {e}")))?;
            events.push(Event::Result(ResultEvent {
                contests: result.clone(),
            }));
            Some(result)
        } else {
            None
        };
        let appended = state
            .store
            .append_board(&BoardAppend {
                election_id: election.id,
                expect_len: Some(summary.len),
                require_open: false,
                voters: Vec::new(),
                events,
            })
            .await;
        match appended {
            Ok(_) => {
                state.elections.results_changed(election.id);
                return Ok((
                    StatusCode::CREATED,
                    Json(DecryptionReceipt {
                        trustee: partial.trustee,
                        trustees_in: decryption.trustees_in(),
                        result,
                    }),
                ));
            }
            Err(StoreError::BoardConflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::BoardConflict.into())
}

/// The result of an encrypted election, from its board: `(counted ballots, T per contest and
/// choice)` once the `result` event is on it.
pub(crate) async fn board_result(
    state: &AppState,
    election: &Election,
) -> Result<Option<(u64, Vec<Vec<u64>>)>, StoreError> {
    let lines = ensure_tally(state, election).await?;
    let summary = summary_of(&lines)?;
    Ok(summary
        .result
        .map(|result| (summary.last_ballots.len() as u64, result)))
}

/// What the voter's client encrypts a ballot for: the voter's pseudonym and the election hash
/// (the board's setup event, whose line gives the public key and contests).
#[derive(Serialize, ToSchema)]
pub(super) struct VoterCredential {
    election_id: Uuid,
    /// The voter's pseudonym (docs/election-record.md §4.1), hex.
    pseudonym: String,
    /// The event hash of the board's setup event (§4.2), hex.
    election_hash: String,
    /// The setup event's line (§6.3).
    setup: String,
}

/// The signed-in voter's pseudonym and the election's setup, for encrypting a ballot.
#[utoipa::path(
    get,
    path = "/api/elections/{id}/pseudonym",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "The voter's pseudonym and the setup", body = VoterCredential),
        (status = 403, description = "`not_eligible`: not on the roll", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted` or `election_not_open` (no setup yet)", body = ErrorBody),
    )
)]
pub(super) async fn voter_credential(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<VoterCredential>, ApiError> {
    let (election, encryption) = encrypted_election(&state, &id, false).await?;
    if user.election.is_some_and(|scope| scope != election.id) {
        return Err(ApiError::NotEligible);
    }
    ensure_setup(&state, &election, &encryption).await?;
    let first = state
        .store
        .board_lines(election.id, None, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::ElectionNotOpen)?;
    let setup = setup_of(&state, election.id)
        .await?
        .ok_or(ApiError::ElectionNotOpen)?;
    let mine = pseudonym(&state.pseudonym_key, &election.id.to_string(), &user.email);
    if !setup.roll.contains(&mine) {
        return Err(ApiError::NotEligible);
    }
    Ok(Json(VoterCredential {
        election_id: election.id,
        pseudonym: mine.to_hex(),
        election_hash: setup.election_hash.to_hex(),
        setup: first.line,
    }))
}

/// A challenged ballot with what it encrypts (docs/election-record.md §4.6).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SpoilBody {
    /// The encrypted ballot the client showed (§4.4).
    #[schema(value_type = Object)]
    ballot: Value,
    /// Its values and nonces (§4.6): `{"tracker", "contests": [{"values", "nonces"}]}`.
    #[schema(value_type = Object)]
    reveal: Value,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SpoiledReceipt {
    tracker: String,
    /// What the ballot encrypted, per contest and choice.
    values: Vec<Vec<u64>>,
    seq: u64,
    hash: String,
}

/// Spoils a challenged ballot (a Benaloh challenge): its reveal is checked and published on
/// the board as a `spoiled` event; that ballot can never be cast.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/spoiled",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body = SpoilBody,
    responses(
        (status = 201, description = "On the board as `spoiled`, with the values it encrypts", body = SpoiledReceipt),
        (status = 403, description = "`not_eligible`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted` or `election_not_open`", body = ErrorBody),
        (status = 422, description = "`invalid_ballot_proof` (the ballot, or already on the board) or `invalid_reveal`", body = ErrorBody),
    )
)]
pub(super) async fn spoil(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<SpoilBody>,
) -> Result<(StatusCode, Json<SpoiledReceipt>), ApiError> {
    let (election, encryption) = encrypted_election(&state, &id, false).await?;
    if user.election.is_some_and(|scope| scope != election.id) {
        return Err(ApiError::NotEligible);
    }
    if election.state == ElectionState::Draft {
        return Err(ApiError::ElectionNotOpen);
    }
    ensure_setup(&state, &election, &encryption).await?;
    let setup = setup_of(&state, election.id)
        .await?
        .ok_or(ApiError::ElectionNotOpen)?;
    let ballot: Ballot = serde_json::from_value(body.ballot).map_err(invalid_proof)?;
    let invalid_reveal = |e: String| {
        coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reveal",
            format!("reveal: {e}"),
        )
    };
    let reveal: securevote_crypto::Reveal =
        serde_json::from_value(body.reveal).map_err(|e| invalid_reveal(e.to_string()))?;
    let mine = pseudonym(&state.pseudonym_key, &election.id.to_string(), &user.email);
    if !setup.roll.contains(&mine) {
        return Err(ApiError::NotEligible);
    }
    let worker = Arc::clone(&setup);
    let (checked_ballot, checked_reveal) = (ballot.clone(), reveal.clone());
    let checked = state
        .encrypted
        .checks
        .run(move || {
            let verified = verify_ballot(&worker.context, &checked_ballot, Some(&mine))
                .map_err(invalid_proof)?;
            let values =
                securevote_crypto::verify_reveal(&worker.context, &checked_ballot, &checked_reveal)
                    .map_err(|e| invalid_reveal(e.to_string()))?;
            Ok::<_, ApiError>((verified.tracker.display(), values))
        })
        .await?;
    let (tracker, values) = checked?;
    let appended = state
        .store
        .append_board(&BoardAppend {
            election_id: election.id,
            expect_len: None,
            require_open: true,
            voters: Vec::new(),
            events: vec![Event::Spoiled(securevote_crypto::SpoiledEvent {
                ballot,
                tracker: tracker.clone(),
                reveal,
            })],
        })
        .await?;
    let line = appended
        .lines
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no line appended")))?;
    Ok((
        StatusCode::CREATED,
        Json(SpoiledReceipt {
            tracker,
            values,
            seq: line.seq,
            hash: line.hash,
        }),
    ))
}
