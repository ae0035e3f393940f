//! Encrypted elections over HTTP, the key ceremony's side (docs/election-record.md §3): an admin
//! makes a draft election encrypted, uploads the trustees' public keys and relays their
//! encrypted shares. The messages authenticate themselves by their proofs, so the server only
//! checks and keeps them; it never sees a trustee's secret.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use securevote_crypto::{CeremonyParams, EncryptedShare, TrusteePublicKey, TrusteeSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::board::{coded, encrypted_election, trustee_keys};
use super::error::{ApiError, ErrorBody};
use super::extract::{AdminUser, AppJson, AppPath, AppQuery};
use crate::elections::encrypted::{ballot_too_large, unsupported};
use crate::elections::{ElectionKey, ElectionState};
use crate::store::{CeremonyKind, CeremonyMessage, Encryption};

/// An encrypted election's ceremony: how far it is.
#[derive(Serialize, ToSchema)]
pub(super) struct CeremonyStatus {
    election_id: Uuid,
    trustees: u64,
    threshold: u64,
    /// Indices of the trustees whose public keys are uploaded.
    keys: Vec<u64>,
    /// Encrypted shares relayed, of `trustees × (trustees − 1)`.
    shares: u64,
    shares_expected: u64,
    /// The election public key (hex) once every trustee key is in.
    public_key: Option<String>,
    /// The board's head hash, once the election is scheduled (the setup event is its first).
    board_head: Option<String>,
}

fn params(election_id: Uuid, encryption: &Encryption) -> CeremonyParams {
    CeremonyParams {
        election_id: election_id.to_string(),
        trustees: encryption.trustees,
        threshold: encryption.threshold,
    }
}

async fn status(
    state: &AppState,
    election_id: Uuid,
    encryption: Encryption,
) -> Result<CeremonyStatus, ApiError> {
    let keys = trustee_keys(state, election_id).await?;
    let shares = state
        .store
        .ceremony_messages(election_id, CeremonyKind::Share)
        .await?
        .len() as u64;
    let public_key = if keys.len() as u64 == encryption.trustees {
        TrusteeSet::new(&params(election_id, &encryption), &keys)
            .ok()
            .map(|set| set.public_key_bytes().to_hex())
    } else {
        None
    };
    Ok(CeremonyStatus {
        election_id,
        trustees: encryption.trustees,
        threshold: encryption.threshold,
        keys: keys.iter().map(|k| k.index).collect(),
        shares,
        shares_expected: encryption.trustees * (encryption.trustees - 1),
        public_key,
        board_head: state.store.board_head(election_id).await?.map(|h| h.hash),
    })
}

/// Makes a draft election encrypted, end-to-end verifiable, with `trustees` trustees of whom
/// `threshold` decrypt the tally. Only plurality, approval and score contests, on a roll.
#[utoipa::path(
    put,
    path = "/api/elections/{id}/encryption",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body = Encryption,
    responses(
        (status = 200, description = "The ceremony's status", body = CeremonyStatus),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`election_frozen` (not a draft) or `invalid_transition` (keys uploaded)", body = ErrorBody),
        (status = 422, description = "`invalid_encryption`, naming the field (a ranked contest, no roll, a threshold out of range)", body = ErrorBody),
    )
)]
pub(super) async fn set_encryption(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(encryption): AppJson<Encryption>,
) -> Result<Json<CeremonyStatus>, ApiError> {
    let election = state
        .store
        .election(&ElectionKey::parse(&id))
        .await?
        .ok_or(ApiError::ElectionNotFound)?;
    if election.state != ElectionState::Draft {
        return Err(ApiError::ElectionFrozen);
    }
    if let Some(why) = unsupported(&election, &encryption)
        .or_else(|| ballot_too_large(&election, state.security.max_body_bytes))
    {
        return Err(coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_encryption",
            why,
        ));
    }
    state
        .store
        .set_encryption(election.id, Some(encryption))
        .await?;
    Ok(Json(status(&state, election.id, encryption).await?))
}

/// The key ceremony's status.
#[utoipa::path(
    get,
    path = "/api/elections/{id}/ceremony",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "The ceremony's status", body = CeremonyStatus),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`", body = ErrorBody),
    )
)]
pub(super) async fn ceremony(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<CeremonyStatus>, ApiError> {
    let (election, encryption) = encrypted_election(&state, &id, true).await?;
    Ok(Json(status(&state, election.id, encryption).await?))
}

/// Uploads trustee `index`'s public key (`securevote trustee keygen`), every proof verified;
/// one per index, a second refused even if identical.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/trustees",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body(content = Object, description = "A `TrusteePublicKey` (docs/election-record.md §3.1): `{\"index\", \"commitments\", \"proofs\"}`"),
    responses(
        (status = 201, description = "Stored; the ceremony's status", body = CeremonyStatus),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`, `election_frozen` or `trustee_key_exists`", body = ErrorBody),
        (status = 422, description = "`invalid_trustee_key`: a malformed key, an index out of range or a proof that fails", body = ErrorBody),
    )
)]
pub(super) async fn upload_key(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<Value>,
) -> Result<(StatusCode, Json<CeremonyStatus>), ApiError> {
    let (election, encryption) = encrypted_election(&state, &id, true).await?;
    let invalid = |why: String| {
        coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_trustee_key",
            format!("trustee_key: {why}"),
        )
    };
    let key: TrusteePublicKey = serde_json::from_value(body).map_err(|e| invalid(e.to_string()))?;
    if election.state != ElectionState::Draft {
        return Err(ApiError::ElectionFrozen);
    }
    securevote_crypto::verify_trustee_public_key(&params(election.id, &encryption), &key)
        .map_err(|e| invalid(e.to_string()))?;
    let body = serde_json::to_string(&key).map_err(|e| ApiError::Internal(e.into()))?;
    let stored = state
        .store
        .add_ceremony_message(
            election.id,
            CeremonyKind::Key,
            &CeremonyMessage {
                sender: key.index,
                recipient: 0,
                body,
            },
        )
        .await?;
    if !stored {
        return Err(coded(
            StatusCode::CONFLICT,
            "trustee_key_exists",
            format!(
                "index: trustee {} has already uploaded a public key",
                key.index
            ),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(status(&state, election.id, encryption).await?),
    ))
}

/// The trustees' public keys, by index (what `securevote trustee shares --keys` reads).
#[utoipa::path(
    get,
    path = "/api/elections/{id}/trustees",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    responses(
        (status = 200, description = "`TrusteePublicKey` messages by index", body = Vec<Object>),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`", body = ErrorBody),
    )
)]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<TrusteePublicKey>>, ApiError> {
    let (election, _) = encrypted_election(&state, &id, true).await?;
    Ok(Json(trustee_keys(&state, election.id).await?))
}

/// Relays an encrypted share from trustee `from` to trustee `to` (`securevote trustee
/// shares`); taken once every public key is in, one per ordered pair.
#[utoipa::path(
    post,
    path = "/api/elections/{id}/shares",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug")),
    request_body(content = Object, description = "An `EncryptedShare` (docs/election-record.md §3.2): `{\"from\", \"to\", \"ephemeral\", \"ciphertext\", \"mac\"}`"),
    responses(
        (status = 201, description = "Stored; the ceremony's status", body = CeremonyStatus),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`, `ceremony_incomplete` (public keys missing) or `share_exists`", body = ErrorBody),
        (status = 422, description = "`invalid_share`: malformed, or `from`/`to` out of range or equal", body = ErrorBody),
    )
)]
pub(super) async fn upload_share(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<Value>,
) -> Result<(StatusCode, Json<CeremonyStatus>), ApiError> {
    let (election, encryption) = encrypted_election(&state, &id, true).await?;
    let invalid = |why: String| {
        coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_share",
            format!("share: {why}"),
        )
    };
    let share: EncryptedShare = serde_json::from_value(body).map_err(|e| invalid(e.to_string()))?;
    let n = encryption.trustees;
    if !(1..=n).contains(&share.from) || !(1..=n).contains(&share.to) || share.from == share.to {
        return Err(invalid(format!(
            "from and to must be two different trustees in 1..={n}"
        )));
    }
    let keys = trustee_keys(&state, election.id).await?;
    if (keys.len() as u64) < n {
        return Err(coded(
            StatusCode::CONFLICT,
            "ceremony_incomplete",
            format!(
                "share: {} of {n} trustee public keys are uploaded; shares are taken once all are in",
                keys.len()
            ),
        ));
    }
    let body = serde_json::to_string(&share).map_err(|e| ApiError::Internal(e.into()))?;
    let stored = state
        .store
        .add_ceremony_message(
            election.id,
            CeremonyKind::Share,
            &CeremonyMessage {
                sender: share.from,
                recipient: share.to,
                body,
            },
        )
        .await?;
    if !stored {
        return Err(coded(
            StatusCode::CONFLICT,
            "share_exists",
            format!(
                "share: trustee {} has already sent a share to trustee {}",
                share.from, share.to
            ),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(status(&state, election.id, encryption).await?),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SharesQuery {
    /// The recipient trustee's index.
    to: u64,
}

/// The encrypted shares addressed to trustee `to` (what `securevote trustee finish --shares`
/// reads).
#[utoipa::path(
    get,
    path = "/api/elections/{id}/shares",
    tag = "encrypted elections",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "election id or slug"), SharesQuery),
    responses(
        (status = 200, description = "`EncryptedShare` messages to the trustee, by sender", body = Vec<Object>),
        (status = 400, description = "`invalid_request`: `to` missing", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`election_not_found`", body = ErrorBody),
        (status = 409, description = "`not_encrypted`", body = ErrorBody),
    )
)]
pub(super) async fn list_shares(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<SharesQuery>,
) -> Result<Json<Vec<EncryptedShare>>, ApiError> {
    let (election, _) = encrypted_election(&state, &id, true).await?;
    let shares = state
        .store
        .ceremony_messages(election.id, CeremonyKind::Share)
        .await?
        .into_iter()
        .filter(|m| m.recipient == query.to)
        .map(|m| serde_json::from_str(&m.body).map_err(|e| ApiError::Internal(e.into())))
        .collect::<Result<Vec<EncryptedShare>, _>>()?;
    Ok(Json(shares))
}
