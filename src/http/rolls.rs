//! Voter rolls over HTTP (admins only): import a roll into a draft election (CSV or JSON, with a
//! dry run), page through it with each voter's participation, and turnout per group.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::downloads::csv_response;
use super::error::{ApiError, ErrorBody};
use super::extract::{AdminUser, AppPath, AppQuery};
use crate::elections::{Election, ElectionKey, ElectionState, Eligibility};
use crate::rolls::{self, GroupTurnout, ImportReport, JsonRollEntry, ParsedRoll};
use crate::store::{Actor, RollStatus};

/// Largest roll upload (a 100,000-voter CSV is about 5 MB).
pub(super) const MAX_ROLL_BYTES: usize = 32 * 1024 * 1024;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// Rejected lines named in the message of a refused import (the dry run lists them all).
const LISTED_REJECTIONS: usize = 20;

async fn election_of(state: &AppState, raw: &str) -> Result<Election, ApiError> {
    state
        .store
        .election(&ElectionKey::parse(raw))
        .await?
        .ok_or(ApiError::ElectionNotFound)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ImportQuery {
    /// Report what the import would change, and change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Reads a roll body: CSV (`text/csv`) or JSON (`application/json`, an array of entries).
pub(crate) fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<ParsedRoll, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("text/csv") {
        rolls::parse_csv(body).map_err(ApiError::InvalidRequest)
    } else if content_type.starts_with("application/json") {
        let entries: Vec<JsonRollEntry> = serde_json::from_slice(body)
            .map_err(|e| ApiError::InvalidRequest(format!("roll: {e}")))?;
        Ok(rolls::parse_json(&entries))
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The message of an import refused for its rejected lines.
pub(crate) fn rejection_message(report: &ImportReport) -> String {
    let listed: Vec<String> = report
        .rejected
        .iter()
        .take(LISTED_REJECTIONS)
        .map(|r| format!("line {}: {}", r.line, r.reason))
        .collect();
    let more = report.rejected.len().saturating_sub(LISTED_REJECTIONS);
    format!(
        "{} line(s) rejected, nothing imported (a dry run lists every one): {}{}",
        report.rejected.len(),
        listed.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    )
}

/// Replaces a draft election's roll. With rejected lines nothing is imported (422 listing
/// them); with `dry_run=true` the report says what would change, rejected lines included.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/roll",
    tag = "rolls",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug"), ImportQuery),
    request_body(content = Vec<JsonRollEntry>, description = "JSON entries, or a CSV file as text/csv with the header email,name,external_id,weight,groups"),
    responses(
        (status = 200, description = "Imported (or, for a dry run, what would change)", body = ImportReport),
        (status = 400, description = "`invalid_request`: not a roll file", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`election_frozen`: the roll is frozen from scheduling on", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_roll`: rejected lines, nothing imported", body = ErrorBody),
    )
)]
pub(super) async fn import(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    let election = election_of(&state, &id).await?;
    let parsed = parse_body(&headers, &body)?;
    let dry_run = query.dry_run || !parsed.rejected.is_empty();
    let mut report = state
        .store
        .replace_roll(
            Actor::Admin(admin.id),
            election.id,
            &parsed.entries,
            dry_run,
        )
        .await?;
    report.rejected = parsed.rejected;
    if !report.rejected.is_empty() && !query.dry_run {
        return Err(ApiError::InvalidRoll(rejection_message(&report)));
    }
    Ok(Json(report))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RollQuery {
    /// Entries after this email (the previous page's `next_after`).
    after: Option<String>,
    /// Only entries whose email or name contains this text.
    search: Option<String>,
    /// 1 to 500, default 50.
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct RollPage {
    entries: Vec<RollStatus>,
    /// Pass as `after` for the next page; null on the last page.
    next_after: Option<String>,
}

/// The roll, by email, with each voter's participation (voted or not — never how).
#[utoipa::path(
    get,
    path = "/api/elections/{id}/roll",
    tag = "rolls",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug"), RollQuery),
    responses(
        (status = 200, description = "A page of the roll", body = RollPage),
        (status = 400, description = "`invalid_request`: a bad query (limit 1 to 500)", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn page(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<RollQuery>,
) -> Result<Json<RollPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest(
            "limit: must be between 1 and 500".into(),
        ));
    }
    let election = election_of(&state, &id).await?;
    let entries = state
        .store
        .roll_page(
            election.id,
            query.after.as_deref(),
            query.search.as_deref(),
            limit,
        )
        .await?;
    let next_after = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.entry.email.clone()))
        .flatten();
    Ok(Json(RollPage {
        entries,
        next_after,
    }))
}

/// Ballots cast so far (admins only; never how anyone voted).
#[derive(Serialize, ToSchema)]
pub(super) struct Turnout {
    election_id: Uuid,
    state: ElectionState,
    ballots_cast: u64,
    /// Voters on the roll, for roll elections.
    eligible: Option<u64>,
    /// Voters on the roll who have voted, for roll elections.
    voted: Option<u64>,
    /// Roll voters who voted, in percent of `eligible`, for roll elections.
    percentage: Option<f64>,
    /// Per group label, with groups of fewer than five eligible voters merged into "other".
    groups: Vec<GroupTurnout>,
}

async fn turnout_of(state: &AppState, id: &str) -> Result<Turnout, ApiError> {
    let election = election_of(state, id).await?;
    let counts = state.store.election_counts(&election).await?;
    let (eligible, voted, percentage, groups) = if election.eligibility == Eligibility::Roll {
        let roll = state.store.roll_turnout(election.id).await?;
        let percent = (roll.eligible > 0)
            .then(|| (roll.voted as f64 * 1000.0 / roll.eligible as f64).round() / 10.0);
        (
            Some(roll.eligible),
            Some(roll.voted),
            percent,
            rolls::group_turnout(&roll.groups),
        )
    } else {
        (None, None, None, Vec::new())
    };
    Ok(Turnout {
        election_id: election.id,
        state: election.state,
        ballots_cast: counts.ballots,
        eligible,
        voted,
        percentage,
        groups,
    })
}

/// Turnout of an election, for admins, in every state: ballots cast and, for roll elections,
/// eligible voters, percentage and turnout per group.
#[utoipa::path(
    get,
    path = "/api/elections/{id}/turnout",
    tag = "elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "Turnout", body = Turnout),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn turnout(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<Turnout>, ApiError> {
    Ok(Json(turnout_of(&state, &id).await?))
}

/// Turnout per group as CSV: `group,eligible,voted,percentage`.
#[utoipa::path(
    get,
    path = "/api/elections/{id}/turnout.csv",
    tag = "elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "Turnout per group", content_type = "text/csv"),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn turnout_csv(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let turnout = turnout_of(&state, &id).await?;
    let mut rows: Vec<[String; 4]> = turnout
        .groups
        .iter()
        .map(|group| {
            [
                group.group.clone(),
                group.eligible.to_string(),
                group.voted.to_string(),
                format!("{:.1}", group.percentage),
            ]
        })
        .collect();
    if let (Some(eligible), Some(voted), Some(percentage)) =
        (turnout.eligible, turnout.voted, turnout.percentage)
    {
        rows.push([
            "all".into(),
            eligible.to_string(),
            voted.to_string(),
            format!("{percentage:.1}"),
        ]);
    }
    csv_response(&["group", "eligible", "voted", "percentage"], rows)
}
