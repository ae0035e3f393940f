use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, json};
use uuid::Uuid;

use super::elections::{idempotency_key, store_ballot};
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AuthUser};
use super::{AppState, IDEMPOTENT_REPLAYED};
use crate::domain::Vote;
use crate::elections::{BallotContent, BallotForm};
use crate::store::NewBallot;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VoteBody {
    candidate_id: Uuid,
}

/// Casts the user's one vote. With an `Idempotency-Key`, a retry of the same request (for
/// example after a lost response, or by NGINX on another backend) gets the original 201 back.
#[utoipa::path(
    post,
    path = "/api/votes",
    tag = "votes",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$",
        description = "1 to 255 printable ASCII characters without spaces, e.g. a UUID; a retry with the same key gets the original answer")),
    request_body = VoteBody,
    responses(
        (status = 201, description = "Vote stored (or replayed for a retried key)", body = Vote,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replay"))),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 404, description = "`candidate_not_found`", body = ErrorBody),
        (status = 409, description = "`already_voted`, or `election_not_open` when the default election is not open", body = ErrorBody),
        (status = 422, description = "`idempotency_key_reused`: same key, other candidate", body = ErrorBody),
    )
)]
pub(super) async fn cast(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    AppJson(body): AppJson<VoteBody>,
) -> Result<Response, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let election = state
        .elections
        .default_election()
        .await?
        .ok_or(ApiError::ElectionNotFound)?;
    let contest = election
        .contests
        .first()
        .ok_or(ApiError::CandidateNotFound)?;
    let candidate = body.candidate_id;
    let ballot = if election.ballot_editable {
        // The adopted election's candidates may change while it is open: the ballot's own
        // statement checks that the candidate belongs to it.
        let selections = json!({ contest.id.to_string(): [candidate] });
        NewBallot::new(
            election.id,
            user.id,
            selections,
            Some(candidate),
            vec![candidate],
            idempotency_key,
        )
    } else {
        if !contest.choices.iter().any(|c| c.id == candidate) {
            return Err(ApiError::CandidateNotFound);
        }
        let selection = match contest.method.form() {
            BallotForm::Choices => json!([candidate]),
            BallotForm::Ranking => json!({ "ranking": [candidate] }),
            BallotForm::Scores => {
                return Err(ApiError::InvalidBallot(
                    "the default election is counted by scores; vote with POST /api/elections/{id}/ballots".into(),
                ));
            }
        };
        let mut selections = Map::new();
        selections.insert(contest.id.to_string(), selection);
        let content =
            BallotContent::parse(&election, &selections).map_err(ApiError::InvalidBallot)?;
        NewBallot::new(
            election.id,
            user.id,
            content.to_json(),
            Some(candidate),
            content.counted_choices(),
            idempotency_key,
        )
    };
    let cast = store_ballot(&state, &user, &election, ballot).await?;
    let vote = Vote {
        id: cast.receipt,
        candidate_id: cast.candidate_id,
        created_at: cast.created_at,
    };
    let mut response = (StatusCode::CREATED, Json(vote)).into_response();
    if cast.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// That and when the user voted in the default election. Ballots are stored without their
/// voters, so the answer never says how: `candidate_id` is null and `id` identifies the
/// participation, not the ballot.
#[utoipa::path(
    get,
    path = "/api/votes/me",
    tag = "votes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's participation: `candidate_id` null, `created_at` the time of voting", body = Vote),
        (status = 404, description = "`not_voted`", body = ErrorBody),
    )
)]
pub(super) async fn mine(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vote>, ApiError> {
    match state.store.vote_of(user.id).await? {
        Some(vote) => Ok(Json(vote)),
        // A token can outlive its account; that is a 401, not "has not voted".
        None if state.store.user_role(user.id).await?.is_none() => {
            Err(ApiError::Unauthorized("this account no longer exists"))
        }
        None => Err(ApiError::NotVoted),
    }
}
