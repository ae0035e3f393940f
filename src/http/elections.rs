//! Elections over HTTP: admins create, edit (in draft), schedule, open, close, extend, publish
//! and archive them; voters list them, cast one ballot each, and read results once the
//! election's policy releases them. Every rule is decided in `crate::elections` and the store;
//! this file maps requests and answers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::election_cache::{Computed, ResultsAnswer};
use super::error::{ApiError, ErrorBody};
use super::extract::{AdminUser, AppJson, AppPath, AuthUser, MaybeUser};
use super::read_cache::json_response;
use super::{AppState, IDEMPOTENT_REPLAYED};
use crate::domain::IdempotencyKey;
use crate::elections::counting;
use crate::elections::document::ContestDocument;
use crate::elections::lifecycle::embargo;
use crate::elections::{
    Action, BallotContent, Election, ElectionDocument, ElectionKey, ElectionState, Eligibility,
    Method,
};
use crate::store::{Actor, CastBallot, NewBallot, StoreError};

/// Seconds after closing from which a released result is kept for good (see compute_results).
const FINAL_AFTER_SECS: i64 = 60;

/// The embargo text that stands for "no such election" in a cached results answer.
const NO_SUCH_ELECTION: &str = "no such election";

/// The election named in the path, as the caller may see it: drafts are admins' only.
async fn find(state: &AppState, raw: &str, is_admin: bool) -> Result<Election, ApiError> {
    let election = state
        .store
        .election(&ElectionKey::parse(raw))
        .await?
        .ok_or(ApiError::ElectionNotFound)?;
    if election.state == ElectionState::Draft && !is_admin {
        return Err(ApiError::ElectionNotFound);
    }
    Ok(election)
}

fn visible_in_list(election: &Election, is_admin: bool) -> bool {
    is_admin
        || !matches!(
            election.state,
            ElectionState::Draft | ElectionState::Archived
        )
}

/// Creates an election with its contests, as `draft`.
#[utoipa::path(
    post,
    path = "/api/elections",
    tag = "elections",
    security(("bearer" = [])),
    request_body = ElectionDocument,
    responses(
        (status = 201, description = "Created as draft", body = Election),
        (status = 400, description = "`invalid_request`, naming the field", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 409, description = "`slug_taken`", body = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    admin: AdminUser,
    AppJson(document): AppJson<ElectionDocument>,
) -> Result<(StatusCode, Json<Election>), ApiError> {
    let election = document.parse().map_err(ApiError::InvalidRequest)?;
    let created = state
        .store
        .create_election(Actor::Admin(admin.id), &election)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Elections, newest first: scheduled, open, closed and published ones for everyone; drafts and
/// archived ones for admins too.
#[utoipa::path(
    get,
    path = "/api/elections",
    tag = "elections",
    responses((status = 200, description = "The elections", body = [Election]))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    viewer: MaybeUser,
) -> Result<Json<Vec<Election>>, ApiError> {
    let elections = state.store.elections().await?;
    Ok(Json(
        elections
            .into_iter()
            .filter(|e| visible_in_list(e, viewer.is_admin))
            .collect(),
    ))
}

/// One election with its contests and choices, by id or slug.
#[utoipa::path(
    get,
    path = "/api/elections/{id}",
    tag = "elections",
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "The election; while the database cannot be reached, the last copy of a public election with an `Age` header", body = Election,
            headers(("Age" = Option<u64>, description = "seconds since the copy was read, when served during a database outage"))),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn get_one(
    State(state): State<AppState>,
    viewer: MaybeUser,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let read_at = std::time::Instant::now();
    match find(&state, &id, viewer.is_admin).await {
        Ok(mut election) => {
            if let Some(encryption) = super::board::encryption_of(&state, &election).await? {
                election.encryption = Some(encryption);
                election.board_head = state.store.board_head(election.id).await?.map(|h| h.hash);
            }
            state.elections.remember(&election, read_at);
            Ok(Json(election).into_response())
        }
        // No node accepts connections: the last public copy, with its age.
        Err(ApiError::Unavailable(cause)) => {
            match state.elections.last_read(&ElectionKey::parse(&id)) {
                Some((election, age)) => Ok((
                    [(header::AGE, HeaderValue::from(age))],
                    Json(election.as_ref().clone()),
                )
                    .into_response()),
                None => Err(ApiError::Unavailable(cause)),
            }
        }
        Err(error) => Err(error),
    }
}

/// A draft election's fields to change; contests, when given, replace all contests (and their
/// choices get new ids).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ElectionPatch {
    slug: Option<String>,
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    timezone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    opens_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    closes_at: Option<Option<DateTime<Utc>>>,
    eligibility: Option<Eligibility>,
    results: Option<crate::elections::ResultsPolicy>,
    live_min_ballots: Option<u32>,
    contests: Option<Vec<ContestDocument>>,
}

/// A field that is present (even as null) is `Some`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The document that would create `election` as it is now.
fn document_of(election: &Election) -> ElectionDocument {
    use crate::elections::document::ChoiceDocument;
    ElectionDocument {
        slug: election.slug.clone(),
        title: election.title.clone(),
        description: election.description.clone(),
        timezone: Some(election.timezone.clone()),
        opens_at: election.opens_at,
        closes_at: election.closes_at,
        eligibility: Some(election.eligibility),
        results: Some(election.results),
        live_min_ballots: Some(election.live_min_ballots),
        contests: election
            .contests
            .iter()
            .map(|c| ContestDocument {
                title: c.title.clone(),
                method: Some(c.method),
                seats: Some(c.seats),
                min_choices: Some(c.min_choices),
                max_choices: Some(c.max_choices),
                max_score: c.max_score,
                choices: c
                    .choices
                    .iter()
                    .map(|choice| ChoiceDocument {
                        name: choice.name.clone(),
                        party: choice.party.clone(),
                        description: choice.description.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Changes a draft election (409 `election_frozen` from `scheduled` on).
#[utoipa::path(
    patch,
    path = "/api/elections/{id}",
    tag = "elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body = ElectionPatch,
    responses(
        (status = 200, description = "The changed election", body = Election),
        (status = 400, description = "`invalid_request`, naming the field", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`election_frozen` or `slug_taken`", body = ErrorBody),
    )
)]
pub(super) async fn update(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(patch): AppJson<ElectionPatch>,
) -> Result<Json<Election>, ApiError> {
    let current = find(&state, &id, true).await?;
    if current.is_frozen() {
        return Err(ApiError::ElectionFrozen);
    }
    let mut document = document_of(&current);
    if let Some(slug) = patch.slug {
        document.slug = slug;
    }
    if let Some(title) = patch.title {
        document.title = title;
    }
    if let Some(description) = patch.description {
        document.description = description;
    }
    if let Some(timezone) = patch.timezone {
        document.timezone = Some(timezone);
    }
    if let Some(opens_at) = patch.opens_at {
        document.opens_at = opens_at;
    }
    if let Some(closes_at) = patch.closes_at {
        document.closes_at = closes_at;
    }
    if let Some(eligibility) = patch.eligibility {
        document.eligibility = Some(eligibility);
    }
    if let Some(results) = patch.results {
        document.results = Some(results);
    }
    if let Some(live_min) = patch.live_min_ballots {
        document.live_min_ballots = Some(live_min);
    }
    if let Some(contests) = patch.contests {
        document.contests = contests;
    }
    let election = document.parse().map_err(ApiError::InvalidRequest)?;
    let changed = state
        .store
        .replace_draft(Actor::Admin(admin.id), current.id, &election)
        .await?;
    Ok(Json(changed))
}

/// Deletes a draft election (409 `election_frozen` from `scheduled` on).
#[utoipa::path(
    delete,
    path = "/api/elections/{id}",
    tag = "elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`election_frozen`, or `invalid_transition` for the default election", body = ErrorBody),
    )
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let current = find(&state, &id, true).await?;
    state
        .store
        .delete_draft(Actor::Admin(admin.id), current.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn act(
    state: &AppState,
    admin: AdminUser,
    id: &str,
    action: Action,
    closes_at: Option<DateTime<Utc>>,
) -> Result<Json<Election>, ApiError> {
    let current = find(state, id, true).await?;
    let encryption = super::board::encryption_of(state, &current).await?;
    if let (Some(encryption), Action::Schedule) = (&encryption, action)
        && let Some(refusal) = super::board::schedule_refusal(state, &current, encryption).await?
    {
        return Err(refusal);
    }
    let changed = state
        .store
        .transition(Actor::Admin(admin.id), current.id, action, closes_at)
        .await?;
    if let Some(encryption) = &encryption {
        // The roll and the trustees' keys are frozen from `scheduled` on: the setup event can
        // be written (by whichever request gets there first), and once closed the tally.
        super::board::ensure_setup(state, &changed, encryption).await?;
        super::board::ensure_closed(state, &changed).await?;
    }
    if matches!(
        changed.state,
        ElectionState::Closed | ElectionState::Published | ElectionState::Archived
    ) {
        // In its own task, so a dropped request does not stop it halfway (each step is
        // restartable anyway). The close is committed either way; a seal that fails here is
        // done by the next periodic seal (see `App::run_until`).
        let store = Arc::clone(&state.store);
        match tokio::spawn(async move { store.seal_closed().await }).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::store::error_chain(&e), "sealing closed elections failed");
            }
            Err(e) => tracing::warn!(error = %e, "sealing closed elections failed"),
        }
    }
    Ok(Json(changed))
}

macro_rules! transition_route {
    ($name:ident, $action:expr, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            post,
            path = $path,
            tag = "elections",
            security(("bearer" = [])),
            params(("id" = String, Path, description = "election id or slug")),
            responses(
                (status = 200, description = "The election after the change", body = Election),
                (status = 404, description = "`election_not_found`", body = ErrorBody),
                (status = 409, description = "`invalid_transition`", body = ErrorBody),
            )
        )]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            admin: AdminUser,
            AppPath(id): AppPath<String>,
        ) -> Result<Json<Election>, ApiError> {
            act(&state, admin, &id, $action, None).await
        }
    };
}

transition_route!(
    schedule,
    Action::Schedule,
    "/api/elections/{id}/schedule",
    "Freezes a draft's ballot; it opens at `opens_at` (or when an admin opens it)."
);
transition_route!(
    open,
    Action::Open,
    "/api/elections/{id}/open",
    "Opens a scheduled election now."
);
transition_route!(
    close,
    Action::Close,
    "/api/elections/{id}/close",
    "Closes an open election now."
);
transition_route!(
    publish,
    Action::Publish,
    "/api/elections/{id}/publish",
    "Publishes a closed election's results to everyone. Cannot be undone."
);
transition_route!(
    archive,
    Action::Archive,
    "/api/elections/{id}/archive",
    "Archives a closed or published election."
);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtendBody {
    /// The new closing time: later than now and than the current one.
    #[schema(value_type = String, format = DateTime)]
    closes_at: DateTime<Utc>,
}

/// Moves an open election's closing time later.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/extend",
    tag = "elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body = ExtendBody,
    responses(
        (status = 200, description = "The election after the change", body = Election),
        (status = 400, description = "`invalid_request`: closes_at not later", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: not open", body = ErrorBody),
    )
)]
pub(super) async fn extend(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ExtendBody>,
) -> Result<Json<Election>, ApiError> {
    let closes_at = crate::elections::document::to_millis(body.closes_at);
    act(&state, admin, &id, Action::Extend, Some(closes_at)).await
}

/// Makes the election the one `/api/options`, `/api/votes` and `/api/results` mean.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/default",
    tag = "elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "The new default election", body = Election),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn make_default(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<Election>, ApiError> {
    let current = find(&state, &id, true).await?;
    let changed = state
        .store
        .set_default_election(Actor::Admin(admin.id), current.id)
        .await?;
    state.elections.default_changed();
    state.reads.candidates_changed();
    Ok(Json(changed))
}

/// A ballot: one entry per contest of the election, keyed by contest id.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BallotBody {
    /// Plurality and approval: `["choice_id", ...]`; ranked methods: `{"ranking": [...]}`,
    /// most preferred first; score and STAR: `{"scores": {"choice_id": n}}`.
    #[schema(value_type = Option<Object>)]
    selections: Option<Map<String, Value>>,
    /// Encrypted elections only, instead of `selections`: the encrypted ballot with its proofs
    /// (docs/election-record.md §4.4), made by the browser or `securevote ballot cast`.
    #[schema(value_type = Option<Object>)]
    encrypted: Option<Value>,
}

/// What the voter gets back: a receipt to quote later.
#[derive(Serialize, ToSchema)]
pub(super) struct Receipt {
    /// The ballot's id.
    receipt: Uuid,
    election_id: Uuid,
    #[serde(with = "crate::domain::records::rfc3339_utc")]
    #[schema(value_type = String, format = DateTime)]
    cast_at: DateTime<Utc>,
}

/// What casting answers: a receipt, or in an encrypted election the ballot's tracker.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum CastAnswer {
    Plain(Receipt),
    Encrypted(super::board::EncryptedReceipt),
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let raw = value
        .to_str()
        .map_err(|_| ApiError::InvalidRequest("Idempotency-Key must be printable ASCII".into()))?;
    Ok(Some(
        IdempotencyKey::parse(raw).map_err(|e| ApiError::InvalidRequest(e.0.into()))?,
    ))
}

/// Stores a checked ballot in its own task: if the request is dropped (timeout, client gone)
/// the statement still runs to its end, including the wait for the synchronous standby.
pub(crate) async fn store_ballot(
    state: &AppState,
    user: &AuthUser,
    election: &Election,
    ballot: NewBallot,
) -> Result<CastBallot, ApiError> {
    if user.election.is_some_and(|scope| scope != election.id) {
        return Err(ApiError::NotEligible);
    }
    let store = Arc::clone(&state.store);
    let began = std::time::Instant::now();
    let cast = tokio::spawn(async move { store.cast_ballot(&ballot).await })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    if !cast.replayed {
        if election.is_default
            && let Some(candidate) = cast.candidate_id
        {
            // This instance's cached results of the default election (`/api/results`) count
            // the ballot at once.
            state.reads.vote_recorded(candidate, began);
        }
        // No voter in this line: a log must not link a voter to a ballot.
        tracing::info!(election_id = %election.id, "ballot cast");
        ::metrics::counter!(crate::metric_names::VOTES_CAST_TOTAL).increment(1);
    }
    Ok(cast)
}

/// Casts the voter's one ballot in the election. With an `Idempotency-Key`, a retry of the same
/// request gets the original 201 back.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/ballots",
    tag = "elections",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "election id or slug"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$",
            description = "1 to 255 printable ASCII characters without spaces; a retry with the same key gets the original answer"),
    ),
    request_body = BallotBody,
    responses(
        (status = 201, description = "Ballot stored (or replayed for a retried key); in an encrypted election, on the board with its tracker (a later ballot of the voter supersedes it), and a retry of the voter's last ballot (the same tracker) gets the original answer, key or not", body = CastAnswer,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replay"))),
        (status = 400, description = "`invalid_request` (`selections` or `encrypted` missing or misplaced)", body = ErrorBody),
        (status = 403, description = "`not_eligible`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`election_not_open` or `already_voted`", body = ErrorBody),
        (status = 422, description = "`invalid_ballot` naming the fault, `idempotency_key_reused`, or (encrypted elections) `invalid_ballot_proof`: a malformed or non-canonical encoding, a proof that fails, a ballot for another election or voter, a replayed or spoiled ballot", body = ErrorBody),
    )
)]
pub(super) async fn cast(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<BallotBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let election_id = match ElectionKey::parse(&id) {
        ElectionKey::Id(id) => id,
        slug => {
            state
                .store
                .election(&slug)
                .await?
                .ok_or(ApiError::ElectionNotFound)?
                .id
        }
    };
    let election = state
        .elections
        .ballot_of(election_id)
        .await?
        .ok_or(ApiError::ElectionNotFound)?;
    if election.state == ElectionState::Draft {
        return Err(ApiError::ElectionNotOpen);
    }
    if let Some(encryption) = super::board::encryption_of(&state, &election).await? {
        return super::board::cast_encrypted(&state, &user, &election, &encryption, body.encrypted)
            .await;
    }
    if body.encrypted.is_some() {
        return Err(ApiError::InvalidRequest(
            "encrypted: this election is not encrypted; send `selections`".into(),
        ));
    }
    let Some(selections) = body.selections else {
        return Err(ApiError::InvalidRequest("selections: required".into()));
    };
    let content = BallotContent::parse(&election, &selections).map_err(ApiError::InvalidBallot)?;
    let ballot = NewBallot::new(
        election.id,
        user.id,
        content.to_json(),
        content.single_choice(),
        content.counted_choices(),
        key,
    );
    let cast = store_ballot(&state, &user, &election, ballot).await?;
    Ok(receipt_response(&cast))
}

fn receipt_response(cast: &CastBallot) -> Response {
    let receipt = Receipt {
        receipt: cast.receipt,
        election_id: cast.election_id,
        cast_at: cast.created_at,
    };
    let mut response = (StatusCode::CREATED, Json(receipt)).into_response();
    if cast.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// Votes for one choice.
#[derive(Serialize, ToSchema)]
pub(super) struct ChoiceResult {
    choice_id: Uuid,
    name: String,
    party: Option<String>,
    votes: u64,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ContestResults {
    contest_id: Uuid,
    title: String,
    method: Method,
    seats: u32,
    /// Plurality and approval: ballots per choice, most first (then ballot order).
    results: Vec<ChoiceResult>,
    /// The method's full result with its working (docs/counting.md): for every contest once
    /// voting is over, and for ranked and score contests from opening.
    #[schema(value_type = Option<Object>)]
    count: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ElectionResults {
    election_id: Uuid,
    slug: String,
    title: String,
    state: ElectionState,
    /// Ballots cast.
    ballots: u64,
    contests: Vec<ContestResults>,
}

async fn compute_results(state: &AppState, id: Uuid) -> Result<Computed, StoreError> {
    let election = match state.store.election(&ElectionKey::Id(id)).await? {
        Some(election) if election.state != ElectionState::Draft => election,
        _ => {
            return Ok(Computed {
                answer: Err(NO_SUCH_ELECTION),
                is_final: false,
            });
        }
    };
    if super::board::encryption_of(state, &election)
        .await?
        .is_some()
    {
        return encrypted_results(state, &election).await;
    }
    let counts = state.store.election_counts(&election).await?;
    if let Some(why) = embargo(&election, counts.ballots) {
        return Ok(Computed {
            answer: Err(why),
            is_final: false,
        });
    }
    let voting_over = election.state != ElectionState::Open;
    let needs_ballots = election
        .contests
        .iter()
        .any(|c| voting_over || !c.method.counted_incrementally());
    let stored = if needs_ballots {
        state.store.ballot_selections(election.id).await?
    } else {
        Vec::new()
    };
    // Lots, where a rule needs them, are drawn from the election's id: published, fixed before
    // any ballot, and the same on every instance.
    let seed = election.id.to_string();
    let mut contests = Vec::with_capacity(election.contests.len());
    for contest in &election.contests {
        let mut results: Vec<ChoiceResult> = if contest.method.counted_incrementally() {
            contest
                .choices
                .iter()
                .map(|choice| ChoiceResult {
                    choice_id: choice.id,
                    name: choice.name.clone(),
                    party: choice.party.clone(),
                    votes: counts.choices.get(&choice.id).copied().unwrap_or(0),
                })
                .collect()
        } else {
            Vec::new()
        };
        // Stable: equal counts keep ballot order.
        results.sort_by_key(|r| std::cmp::Reverse(r.votes));
        let count = if voting_over || !contest.method.counted_incrementally() {
            let result = counting::count_contest(contest, &stored, &seed).map_err(|e| {
                StoreError::Internal(anyhow::anyhow!("counting {}: {e}", contest.id))
            })?;
            Some(result.to_json())
        } else {
            None
        };
        contests.push(ContestResults {
            contest_id: contest.id,
            title: contest.title.clone(),
            method: contest.method,
            seats: contest.seats,
            results,
            count,
        });
    }
    let answer = ElectionResults {
        election_id: election.id,
        slug: election.slug.clone(),
        title: election.title.clone(),
        state: election.state,
        ballots: counts.ballots,
        contests,
    };
    let json = serde_json::to_vec(&answer).map_err(|e| StoreError::Internal(e.into()))?;
    // A ballot whose statement began just before closes_at may still be waiting for the
    // synchronous standby when voting is already closed: an answer becomes final (kept for good)
    // only once closing is well past the longest such wait.
    let settled = election
        .closes_at
        .is_none_or(|at| chrono::Utc::now() - at > chrono::TimeDelta::seconds(FINAL_AFTER_SECS));
    let is_final = election.state != ElectionState::Open && settled;
    Ok(Computed {
        answer: Ok(json.into()),
        is_final,
    })
}

/// An encrypted election's results: the board's `result` event (the trustees' decryption of
/// the homomorphic tally), once the election's policy releases it.
async fn encrypted_results(state: &AppState, election: &Election) -> Result<Computed, StoreError> {
    let Some((counted, result)) = super::board::board_result(state, election).await? else {
        return Ok(Computed {
            answer: Err("results are shown once the trustees have decrypted the tally"),
            is_final: false,
        });
    };
    if let Some(why) = embargo(election, counted) {
        return Ok(Computed {
            answer: Err(why),
            is_final: false,
        });
    }
    let contests = election
        .contests
        .iter()
        .zip(&result)
        .map(|(contest, totals)| {
            let mut results: Vec<ChoiceResult> = contest
                .choices
                .iter()
                .zip(totals)
                .map(|(choice, votes)| ChoiceResult {
                    choice_id: choice.id,
                    name: choice.name.clone(),
                    party: choice.party.clone(),
                    votes: *votes,
                })
                .collect();
            results.sort_by_key(|r| std::cmp::Reverse(r.votes));
            ContestResults {
                contest_id: contest.id,
                title: contest.title.clone(),
                method: contest.method,
                seats: contest.seats,
                results,
                count: None,
            }
        })
        .collect();
    let answer = ElectionResults {
        election_id: election.id,
        slug: election.slug.clone(),
        title: election.title.clone(),
        state: election.state,
        ballots: counted,
        contests,
    };
    let json = serde_json::to_vec(&answer).map_err(|e| StoreError::Internal(e.into()))?;
    Ok(Computed {
        answer: Ok(json.into()),
        is_final: election.state != ElectionState::Open,
    })
}

/// The results per contest, once the election's policy releases them (to admins too).
#[utoipa::path(
    get,
    path = "/api/elections/{id}/results",
    tag = "elections",
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "The results", body = ElectionResults),
        (status = 403, description = "`results_embargoed`, saying until when", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn results(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let election_id = match ElectionKey::parse(&id) {
        ElectionKey::Id(id) => id,
        slug => match find(&state, &id_of(&slug), false).await {
            Ok(election) => election.id,
            // A kept final answer needs only the id: the slug's last public copy gives it.
            Err(ApiError::Unavailable(cause)) => match state.elections.last_read(&slug) {
                Some((election, _)) => election.id,
                None => return Err(ApiError::Unavailable(cause)),
            },
            Err(error) => return Err(error),
        },
    };
    let answer: ResultsAnswer = state
        .elections
        .results(election_id, || compute_results(&state, election_id))
        .await?;
    match answer {
        Ok(json) => Ok(json_response(json)),
        Err(NO_SUCH_ELECTION) => Err(ApiError::ElectionNotFound),
        Err(why) => Err(ApiError::ResultsEmbargoed(why)),
    }
}

fn id_of(key: &ElectionKey) -> String {
    match key {
        ElectionKey::Id(id) => id.to_string(),
        ElectionKey::Slug(slug) => slug.clone(),
    }
}

/// Per election the voter may see, whether they have cast a ballot in it.
#[derive(Serialize, ToSchema)]
pub(super) struct VoterElection {
    election_id: Uuid,
    slug: String,
    state: ElectionState,
    has_voted: bool,
    /// An encrypted election, where a voter may vote again (the last ballot counts).
    encrypted: bool,
}

pub(crate) async fn voter_elections(
    state: &AppState,
    user: Uuid,
) -> Result<Vec<VoterElection>, ApiError> {
    let voted: HashMap<Uuid, ()> = state
        .store
        .voted_elections(user)
        .await?
        .into_iter()
        .map(|id| (id, ()))
        .collect();
    let elections = state.store.elections().await?;
    let mut listed = Vec::new();
    for e in elections.into_iter().filter(|e| visible_in_list(e, false)) {
        let encrypted = super::board::encryption_of(state, &e).await?.is_some();
        listed.push(VoterElection {
            election_id: e.id,
            has_voted: voted.contains_key(&e.id),
            slug: e.slug,
            state: e.state,
            encrypted,
        });
    }
    Ok(listed)
}

/// A ranked contest's ballots as a BLT file (OpenSTV/OpaVote/eSTV), once its results are
/// released: counting the file with `securevote tally` gives the service's result.
#[utoipa::path(
    get,
    path = "/api/elections/{id}/contests/{contest_id}/ballots.blt",
    tag = "elections",
    params(
        ("id" = String, Path, description = "election id or slug"),
        ("contest_id" = Uuid, Path, description = "contest id"),
    ),
    responses(
        (status = 200, description = "The BLT file", content_type = "text/plain"),
        (status = 400, description = "`invalid_request`: not a ranked contest, or a bad contest id", body = ErrorBody),
        (status = 403, description = "`results_embargoed`", body = ErrorBody),
        (status = 404, description = "`election_not_found` or `not_found` (no such contest)", body = ErrorBody),
    )
)]
pub(super) async fn export_blt(
    State(state): State<AppState>,
    AppPath((id, contest_id)): AppPath<(String, Uuid)>,
) -> Result<Response, ApiError> {
    let election = find(&state, &id, false).await?;
    let counts = state.store.election_counts(&election).await?;
    if let Some(why) = embargo(&election, counts.ballots) {
        return Err(ApiError::ResultsEmbargoed(why));
    }
    if election.state == ElectionState::Open {
        return Err(ApiError::ResultsEmbargoed(
            "ballots are exported once voting is over",
        ));
    }
    let contest = election.contest(contest_id).ok_or(ApiError::NotFound)?;
    if contest.method.form() != crate::elections::BallotForm::Ranking {
        return Err(ApiError::InvalidRequest(
            "only ranked contests have a BLT file".into(),
        ));
    }
    let stored = state.store.ballot_selections(election.id).await?;
    let blt =
        counting::blt_file(contest, &stored).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        blt,
    )
        .into_response())
}
