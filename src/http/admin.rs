//! Admin endpoints: manage the ballot, read the numbers, read the audit log. Every handler takes
//! [`AdminUser`] (401 without a valid token, 403 for voters); every change is audited by the
//! store in the transaction of the change.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AdminUser, AppJson, AppPath, AppQuery};
use crate::domain::{Candidate, NewCandidate};
use crate::store::{AuditEntry, AuditFilter, CandidatePatch};

const DEFAULT_AUDIT_PAGE: u32 = 50;
const MAX_AUDIT_PAGE: u32 = 200;

/// A new candidate. `name` is required; `party` and `description` may be omitted or null.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCandidateBody {
    /// 1 to 255 characters (surrounding spaces are trimmed), no control characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// Up to 255 characters; empty means none.
    #[serde(default)]
    #[schema(max_length = 255)]
    party: Option<String>,
    /// Up to 2000 characters; line breaks allowed.
    #[serde(default)]
    #[schema(max_length = 2000)]
    description: Option<String>,
}

/// A partial update: fields left out stay as they are; `party` or `description` set to null are
/// cleared. At least one field is required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CandidatePatchBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 255)]
    party: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    description: Option<Option<String>>,
}

/// A field that is present (even as null) is `Some`; `#[serde(default)]` makes a missing one
/// `None`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The domain's rules (src/domain/choice.rs), the same as for imports and election documents.
fn name(raw: &str) -> Result<String, ApiError> {
    crate::domain::ChoiceName::parse(raw)
        .map(crate::domain::ChoiceName::into_string)
        .map_err(|e| ApiError::InvalidRequest(format!("name {e}")))
}

fn party(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    crate::domain::Party::parse(raw)
        .map(|party| party.map(crate::domain::Party::into_string))
        .map_err(|e| ApiError::InvalidRequest(format!("party {e}")))
}

fn description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    crate::domain::Description::parse(raw)
        .map(|text| text.map(crate::domain::Description::into_string))
        .map_err(|e| ApiError::InvalidRequest(format!("description {e}")))
}

/// Adds a candidate to the ballot.
#[utoipa::path(
    post,
    path = "/api/candidates",
    tag = "admin",
    security(("bearer" = [])),
    request_body = NewCandidateBody,
    responses(
        (status = 201, description = "Created", body = Candidate),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody),
    )
)]
pub(super) async fn create_candidate(
    State(state): State<AppState>,
    admin: AdminUser,
    AppJson(body): AppJson<NewCandidateBody>,
) -> Result<(StatusCode, Json<Candidate>), ApiError> {
    let candidate = NewCandidate {
        name: name(&body.name)?,
        party: party(body.party.as_deref())?,
        description: description(body.description.as_deref())?,
    };
    let created = state.store.create_candidate(admin.id, &candidate).await?;
    state.reads.candidates_changed();
    tracing::info!(admin_id = %admin.id, candidate_id = %created.id, "candidate created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Changes a candidate's name, party or description.
#[utoipa::path(
    patch,
    path = "/api/candidates/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Candidate id (UUID)")),
    request_body = CandidatePatchBody,
    responses(
        (status = 200, description = "The updated candidate", body = Candidate),
        (status = 400, description = "`invalid_request`: not a UUID, no field, or an invalid value", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody),
        (status = 404, description = "`candidate_not_found`", body = ErrorBody),
        (status = 409, description = "`candidate_has_votes`: votes name this candidate, so it can no longer change", body = ErrorBody),
    )
)]
pub(super) async fn update_candidate(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<CandidatePatchBody>,
) -> Result<Json<Candidate>, ApiError> {
    let patch = CandidatePatch {
        name: match body.name {
            None => None,
            Some(None) => return Err(ApiError::InvalidRequest("name must not be null".into())),
            Some(Some(raw)) => Some(name(&raw)?),
        },
        party: body.party.map(|p| party(p.as_deref())).transpose()?,
        description: body
            .description
            .map(|d| description(d.as_deref()))
            .transpose()?,
    };
    if patch.is_empty() {
        return Err(ApiError::InvalidRequest(
            "give at least one of name, party, description".into(),
        ));
    }
    let updated = state.store.update_candidate(admin.id, id, &patch).await?;
    state.reads.candidates_changed();
    tracing::info!(admin_id = %admin.id, candidate_id = %id, "candidate updated");
    Ok(Json(updated))
}

/// Removes a candidate that has no votes. Ballots never vanish: a candidate with votes is
/// refused with 409 `candidate_has_votes`.
#[utoipa::path(
    delete,
    path = "/api/candidates/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Candidate id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_request`: not a UUID", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody),
        (status = 404, description = "`candidate_not_found`", body = ErrorBody),
        (status = 409, description = "`candidate_has_votes`", body = ErrorBody),
    )
)]
pub(super) async fn delete_candidate(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_candidate(admin.id, id).await?;
    state.reads.candidates_changed();
    tracing::info!(admin_id = %admin.id, candidate_id = %id, "candidate deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(super) struct StatsResponse {
    /// All accounts, admins included.
    registered_users: i64,
    votes_cast: i64,
    /// `votes_cast / registered_users`, from 0 to 1 (0 while nobody is registered).
    #[schema(minimum = 0, maximum = 1)]
    turnout: f64,
}

/// Registered users, votes cast and turnout.
#[utoipa::path(
    get,
    path = "/api/admin/stats",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Current numbers", body = StatsResponse),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody),
    )
)]
pub(super) async fn stats(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<StatsResponse>, ApiError> {
    let stats = state.store.admin_stats().await?;
    let turnout = if stats.registered_users > 0 {
        stats.votes_cast as f64 / stats.registered_users as f64
    } else {
        0.0
    };
    Ok(Json(StatsResponse {
        registered_users: stats.registered_users,
        votes_cast: stats.votes_cast,
        turnout,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    /// Entries per page, 1 to 200 [default: 50].
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Only entries with a smaller id: the previous page's `next_before`.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Only this action (e.g. `election.open`), or every action under a prefix ending in a dot
    /// (e.g. `election.`): lowercase letters, digits, `_` and `.`, at most 64.
    #[param(pattern = "^[a-z0-9_.]{1,64}$")]
    action: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct AuditPage {
    /// Newest first.
    entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next_before: Option<i64>,
}

/// The audit log of admin changes, newest first, paginated with `before`.
#[utoipa::path(
    get,
    path = "/api/admin/audit",
    tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of the audit log", body = AuditPage),
        (status = 400, description = "`invalid_request`: bad limit, before or action", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody),
    )
)]
pub(super) async fn audit(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_AUDIT_PAGE);
    if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest(
            "limit must be between 1 and 200".into(),
        ));
    }
    if query.before.is_some_and(|before| before < 1) {
        return Err(ApiError::InvalidRequest("before must be positive".into()));
    }
    if let Some(action) = &query.action
        && (action.is_empty()
            || action.len() > 64
            || !action
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'))
    {
        return Err(ApiError::InvalidRequest(
            "action must be 1 to 64 lowercase letters, digits, '_' or '.'".into(),
        ));
    }
    let filter = query.action.as_deref().map(AuditFilter::parse);
    let entries = state
        .store
        .audit_log(limit, query.before, filter.as_ref())
        .await?;
    let next_before = if entries.len() == limit as usize {
        entries.last().map(|entry| entry.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_fields_are_trimmed_and_bounded() {
        assert_eq!(name("  Ada  ").unwrap(), "Ada");
        assert!(name("   ").is_err());
        assert!(name(&"x".repeat(256)).is_err());
        assert!(name("a\u{0}b").is_err());
        assert_eq!(
            name("Robert'); DROP TABLE votes;--").unwrap(),
            "Robert'); DROP TABLE votes;--"
        );
        assert_eq!(party(Some("  ")).unwrap(), None);
        assert!(party(Some(&"p".repeat(10_000))).is_err());
        assert_eq!(
            description(Some("line one\nline two")).unwrap().as_deref(),
            Some("line one\nline two")
        );
        assert!(description(Some(&"d".repeat(2001))).is_err());
    }

    #[test]
    fn a_patch_tells_null_from_missing() {
        let patch: CandidatePatchBody =
            serde_json::from_str(r#"{"party": null, "description": "new"}"#).unwrap();
        assert_eq!(patch.name, None);
        assert_eq!(patch.party, Some(None));
        assert_eq!(patch.description, Some(Some("new".into())));
    }
}

/// Signs an account out everywhere: every token it holds stops working on every instance at
/// once (a lost device, a shared password). Audited as `user.logout_everywhere`.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/logout",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account's id")),
    responses(
        (status = 204, description = "Signed out everywhere"),
        (status = 400, description = "`invalid_request`: not a UUID", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn logout_user(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    if !state.store.end_sessions(id, Some(admin.id)).await? {
        return Err(ApiError::UserNotFound);
    }
    tracing::info!(user_id = %id, admin_id = %admin.id, "signed out everywhere by an admin");
    Ok(StatusCode::NO_CONTENT)
}
