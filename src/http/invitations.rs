//! Invitations by email: admins send each roll entry a personal sign-in link, resend one, and
//! remind those who have not voted; a voter signs in with the link (no password) or asks for a
//! fresh one. Messages go through the outbox (`crate::store::outbox`, `crate::mail`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::client_ip::ClientIp;
use super::downloads::csv_response;
use super::error::{ApiError, ErrorBody};
use super::extract::{AdminUser, AppJson, AppPath};
use crate::domain::Email;
use crate::elections::{ElectionKey, ElectionState};
use crate::mail::sender::token_hash;
use crate::store::{Actor, Delivery, MailKind, Recipients};

async fn election_id(state: &AppState, raw: &str) -> Result<Uuid, ApiError> {
    Ok(state
        .store
        .election(&ElectionKey::parse(raw))
        .await?
        .ok_or(ApiError::ElectionNotFound)?
        .id)
}

#[derive(Serialize, ToSchema)]
pub(super) struct Queued {
    /// Messages queued by this request.
    queued: u64,
}

async fn queue(
    state: &AppState,
    admin: AdminUser,
    id: &str,
    kind: MailKind,
    recipients: Recipients,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let election = election_id(state, id).await?;
    let queued = state
        .store
        .queue_mail(Actor::Admin(admin.id), election, kind, &recipients)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { queued })))
}

/// Sends every roll entry not yet invited a personal sign-in link (scheduled or open
/// elections). Sending again skips those already invited.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/invitations",
    tag = "invitations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the election is not scheduled or open", body = ErrorBody),
    )
)]
pub(super) async fn send_invitations(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    queue(
        &state,
        admin,
        &id,
        MailKind::Invitation,
        Recipients::NotInvited,
    )
    .await
}

/// Reminds every roll entry who has not voted, with a new link.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/reminders",
    tag = "invitations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the election is not scheduled or open", body = ErrorBody),
    )
)]
pub(super) async fn send_reminders(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    queue(&state, admin, &id, MailKind::Reminder, Recipients::NotVoted).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResendBody {
    email: String,
}

/// Sends one voter a new link; their old link stops working at once.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/invitations/resend",
    tag = "invitations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body = ResendBody,
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 400, description = "`invalid_email`", body = ErrorBody),
        (status = 404, description = "`election_not_found`, or `not_found`: not on the roll", body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the election is not scheduled or open", body = ErrorBody),
    )
)]
pub(super) async fn resend(
    State(state): State<AppState>,
    admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ResendBody>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::InvalidEmail(e.0))?;
    let answer = queue(
        &state,
        admin,
        &id,
        MailKind::Invitation,
        Recipients::One(email.as_str().to_owned()),
    )
    .await?;
    if answer.1.queued == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(answer)
}

/// Every message of the election, per voter latest first: queued, sending, sent or failed
/// (with the SMTP server's reply).
#[utoipa::path(
    get,
    path = "/api/elections/{id}/invitations",
    tag = "invitations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "Deliveries", body = [Delivery]),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let election = election_id(&state, &id).await?;
    Ok(Json(state.store.deliveries(election).await?))
}

/// The failed messages as CSV: `email,kind,attempts,reply`.
#[utoipa::path(
    get,
    path = "/api/elections/{id}/invitations/failures.csv",
    tag = "invitations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "Failed deliveries", content_type = "text/csv"),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
    )
)]
pub(super) async fn failures_csv(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let election = election_id(&state, &id).await?;
    let failed: Vec<[String; 4]> = state
        .store
        .deliveries(election)
        .await?
        .into_iter()
        .filter(|delivery| delivery.state == "failed")
        .map(|delivery| {
            [
                delivery.email,
                delivery.kind.as_str().to_owned(),
                delivery.attempts.to_string(),
                delivery.last_error.unwrap_or_default(),
            ]
        })
        .collect();
    csv_response(&["email", "kind", "attempts", "reply"], failed)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MagicBody {
    /// The token from the link (the part after `#/magic/`).
    token: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct MagicSignIn {
    /// HS256 JWT for `Authorization: Bearer <token>`, valid for this election only.
    token: String,
    token_type: &'static str,
    expires_in: u64,
    election_id: Uuid,
}

/// Signs a voter in with their invitation link, for that election only. The link works until
/// voting closes; once its voter has voted it only says so (409 `already_voted`).
#[utoipa::path(
    post,
    path = "/api/auth/magic",
    tag = "auth",
    request_body = MagicBody,
    responses(
        (status = 200, description = "Signed in for the election", body = MagicSignIn),
        (status = 401, description = "`unauthorized`: not a current link (replaced, or never sent)", body = ErrorBody),
        (status = 409, description = "`already_voted`, or `election_not_open` after voting closed", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    )
)]
pub(super) async fn magic_sign_in(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppJson(body): AppJson<MagicBody>,
) -> Result<Json<MagicSignIn>, ApiError> {
    state.limiter.check_login_ip(client).await?;
    let holder = state
        .store
        .link_holder(&token_hash(body.token.trim()))
        .await?
        .ok_or(ApiError::Unauthorized(
            "this link is not valid (a newer one may have been sent)",
        ))?;
    let election = state
        .store
        .election(&ElectionKey::Id(holder.election_id))
        .await?
        .ok_or(ApiError::ElectionNotFound)?;
    if !matches!(
        election.state,
        ElectionState::Scheduled | ElectionState::Open
    ) {
        return Err(ApiError::ElectionNotOpen);
    }
    let user = state.store.account_for(&holder.email).await?;
    if state
        .store
        .voted_elections(user)
        .await?
        .contains(&election.id)
    {
        return Err(ApiError::AlreadyVoted);
    }
    // The account's current token generation, so signing out (or an admin's sign-out
    // everywhere) ends this sign-in too.
    let generation = state
        .store
        .token_owner(user)
        .await?
        .ok_or(ApiError::Unauthorized("this account no longer exists"))?
        .generation;
    let issued = state
        .tokens
        .issue_session(user, generation, Some(election.id));
    Ok(Json(MagicSignIn {
        token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        election_id: election.id,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkRequest {
    /// Election id or slug.
    election: String,
    email: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct LinkRequested {
    message: &'static str,
}

/// A voter asks for a fresh link. The answer is the same whether or not the address is on the
/// roll; limited like registration, per address and per email.
#[utoipa::path(
    post,
    path = "/api/auth/magic-link",
    tag = "auth",
    request_body = LinkRequest,
    responses(
        (status = 202, description = "Accepted (whatever the roll says)", body = LinkRequested),
        (status = 400, description = "`invalid_email`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    )
)]
pub(super) async fn request_link(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppJson(body): AppJson<LinkRequest>,
) -> Result<(StatusCode, Json<LinkRequested>), ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::InvalidEmail(e.0))?;
    state.limiter.check_register(client, &email).await?;
    let answer = (
        StatusCode::ACCEPTED,
        Json(LinkRequested {
            message: "if this address is on the roll of an election that is scheduled or open, a new link is on its way",
        }),
    );
    let Some(election) = state
        .store
        .election(&ElectionKey::parse(&body.election))
        .await?
    else {
        return Ok(answer);
    };
    let outcome = state
        .store
        .queue_mail(
            Actor::Anonymous,
            election.id,
            MailKind::Invitation,
            &Recipients::One(email.as_str().to_owned()),
        )
        .await;
    match outcome {
        Ok(_) | Err(crate::store::StoreError::InvalidTransition(_)) => Ok(answer),
        Err(other) => Err(other.into()),
    }
}
