//! The one error type at the HTTP edge: every failure becomes `{"error": {"code", "message"}}`
//! with a stable code. Internal details go to the log, never to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::HasherBusy;
use crate::store::{StoreError, error_chain};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("{0}")]
    InvalidPassword(&'static str),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("request body must be JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("request body is larger than the limit (16 KiB unless configured otherwise)")]
    PayloadTooLarge,
    #[error("request line and headers are larger than the limit")]
    HeadersTooLarge,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this action needs the admin role")]
    Forbidden,
    /// Too many attempts from this client or for this account; retry after the given seconds.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("candidate not found")]
    CandidateNotFound,
    #[error("this user has already voted")]
    AlreadyVoted,
    #[error("this candidate has votes: it can no longer be changed or deleted")]
    CandidateHasVotes,
    #[error("this user has not voted yet")]
    NotVoted,
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("no such resource")]
    NotFound,
    #[error("no such user")]
    UserNotFound,
    #[error("no such election")]
    ElectionNotFound,
    #[error("this election is not open for voting")]
    ElectionNotOpen,
    #[error("you are not eligible to vote in this election")]
    NotEligible,
    #[error(
        "the ballot of this election is frozen: contests and choices change only while it is a draft"
    )]
    ElectionFrozen,
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    InvalidBallot(String),
    #[error("{0}")]
    ResultsEmbargoed(&'static str),
    #[error("an election with this slug already exists")]
    SlugTaken,
    #[error("{0}")]
    InvalidRoll(String),
    #[error("registration is closed: voters sign in with the link of their invitation")]
    RegistrationClosed,
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// Too much work queued (password hashing); the client should retry shortly.
    #[error("the service is busy; retry shortly")]
    Busy,
    /// The request ran past REQUEST_TIMEOUT_SECONDS. Work already handed to the database (a
    /// vote's commit) is not cancelled; a retry with the same Idempotency-Key is safe.
    #[error("the request did not complete in time; retry shortly")]
    TimedOut,
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// A refusal with its own status and stable code (encrypted elections: `invalid_ballot_proof`,
    /// `trustee_key_exists`, ...); the message names the field.
    #[error("{2}")]
    Coded(StatusCode, &'static str, String),
}

/// Every error response: `{"error": {"code", "message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, machine-readable: `invalid_request`, `unauthorized`, `forbidden`,
    /// `rate_limited`, `unavailable`, ... (see each response).
    #[schema(example = "invalid_request")]
    code: &'static str,
    /// For people; may change between versions.
    message: String,
    /// Validation errors that name a field: its path in the request, as the message starts
    /// (`title`, `contests[1].max_choices`, `encryption.threshold`, `trustee_key`); absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "contests[1].max_choices")]
    field: Option<String>,
}

/// Codes whose message starts with the path of the field at fault (`path: why`).
const FIELD_CODES: &[&str] = &[
    "invalid_request",
    "invalid_ballot",
    "invalid_roll",
    "invalid_encryption",
    "invalid_trustee_key",
    "invalid_share",
    "invalid_ballot_proof",
    "invalid_decryption_proof",
    "invalid_reveal",
];

/// The field a validation message names: the path before its first `": "`, made of names
/// (`[a-z_]`) joined by dots, each with optional `[index]`es.
fn field_of(code: &str, message: &str) -> Option<String> {
    if code == "slug_taken" {
        return Some("slug".into());
    }
    if !FIELD_CODES.contains(&code) {
        return None;
    }
    let (path, _) = message.split_once(": ")?;
    path.split('.').all(path_part).then(|| path.to_owned())
}

/// `name`, `name[0]`, `name[0][1]`: a lowercase name with optional indexes.
fn path_part(part: &str) -> bool {
    let (name, mut rest) = part.find('[').map_or((part, ""), |at| part.split_at(at));
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return false;
    }
    while let Some(after) = rest.strip_prefix('[') {
        let Some((digits, tail)) = after.split_once(']') else {
            return false;
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

impl ApiError {
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidEmail(_) => (StatusCode::BAD_REQUEST, "invalid_email"),
            Self::InvalidPassword(_) => (StatusCode::BAD_REQUEST, "invalid_password"),
            Self::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::CandidateNotFound => (StatusCode::NOT_FOUND, "candidate_not_found"),
            Self::AlreadyVoted => (StatusCode::CONFLICT, "already_voted"),
            Self::CandidateHasVotes => (StatusCode::CONFLICT, "candidate_has_votes"),
            Self::NotVoted => (StatusCode::NOT_FOUND, "not_voted"),
            Self::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::UserNotFound => (StatusCode::NOT_FOUND, "user_not_found"),
            Self::ElectionNotFound => (StatusCode::NOT_FOUND, "election_not_found"),
            Self::ElectionNotOpen => (StatusCode::CONFLICT, "election_not_open"),
            Self::NotEligible => (StatusCode::FORBIDDEN, "not_eligible"),
            Self::ElectionFrozen => (StatusCode::CONFLICT, "election_frozen"),
            Self::InvalidTransition(_) => (StatusCode::CONFLICT, "invalid_transition"),
            Self::InvalidBallot(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_ballot"),
            Self::ResultsEmbargoed(_) => (StatusCode::FORBIDDEN, "results_embargoed"),
            Self::SlugTaken => (StatusCode::CONFLICT, "slug_taken"),
            Self::InvalidRoll(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_roll"),
            Self::RegistrationClosed => (StatusCode::FORBIDDEN, "registration_closed"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Busy | Self::TimedOut | Self::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::Coded(status, code, _) => (*status, code),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error = %error_chain(cause.as_ref()), "internal error")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = %error_chain(cause.as_ref()), "database unavailable")
            }
            Self::TimedOut => tracing::warn!("request timed out"),
            _ => {}
        }
        let message = self.to_string();
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                field: field_of(code, &message),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Self::RateLimited { retry_after_secs } = self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => Self::EmailTaken,
            StoreError::AlreadyVoted => Self::AlreadyVoted,
            StoreError::CandidateNotFound => Self::CandidateNotFound,
            StoreError::UserNotFound => Self::Unauthorized("this account no longer exists"),
            StoreError::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            StoreError::CandidateHasVotes => Self::CandidateHasVotes,
            StoreError::ElectionNotFound => Self::ElectionNotFound,
            StoreError::ElectionNotOpen => Self::ElectionNotOpen,
            StoreError::NotEligible => Self::NotEligible,
            StoreError::ElectionFrozen => Self::ElectionFrozen,
            StoreError::SlugTaken => Self::SlugTaken,
            StoreError::InvalidTransition(why) => Self::InvalidTransition(why),
            StoreError::InvalidTime(why) => Self::InvalidRequest(why),
            StoreError::BoardConflict => {
                Self::Coded(StatusCode::CONFLICT, "board_conflict", error.to_string())
            }
            StoreError::TrackerOnBoard => Self::Coded(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_ballot_proof",
                "ballot: this ballot is already on the board (a replayed or spoiled ballot)".into(),
            ),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<HasherBusy> for ApiError {
    fn from(_: HasherBusy) -> Self {
        Self::Busy
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn the_field_is_the_path_a_validation_message_starts_with() {
        let f = |code, message| field_of(code, message);
        assert_eq!(
            f(
                "invalid_request",
                "contests[1].max_choices: must be at least 1"
            )
            .as_deref(),
            Some("contests[1].max_choices")
        );
        assert_eq!(
            f("invalid_request", "contests[0].choices[2].name: required").as_deref(),
            Some("contests[0].choices[2].name")
        );
        assert_eq!(
            f("invalid_request", "title: required").as_deref(),
            Some("title")
        );
        assert_eq!(
            f(
                "invalid_encryption",
                "encryption.threshold: must be between 1 and 3"
            )
            .as_deref(),
            Some("encryption.threshold")
        );
        assert_eq!(
            f("slug_taken", "an election with this slug already exists").as_deref(),
            Some("slug")
        );
        assert_eq!(
            f("invalid_request", "invalid request body: expected a string"),
            None
        );
        assert_eq!(
            f("invalid_request", "Idempotency-Key must be printable ASCII"),
            None
        );
        assert_eq!(f("invalid_request", "contests[x].title: required"), None);
        assert_eq!(f("invalid_request", "contests[].title: required"), None);
        assert_eq!(f("election_not_open", "title: x"), None);
    }
}
