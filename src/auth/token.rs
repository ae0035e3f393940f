use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use secrecy::{ExposeSecret, SecretString};

/// Largest clock difference tolerated for `iat` between the instance that issued a token and
/// the one verifying it; a token issued further in the future was not issued by us honestly.
pub const MAX_CLOCK_SKEW_SECS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: i64,
    exp: i64,
    /// A sign-in by invitation link: valid for this election only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    election: Option<Uuid>,
    /// The account's token generation when the token was issued; logging out increments the
    /// account's, which ends this token. A token without one is of generation 0.
    #[serde(default)]
    generation: i64,
    /// Never set by us; refused while in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
}

/// Whose token it is, the token generation it was issued for, and the election it is limited
/// to (an invitation link's sign-in), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    pub user_id: Uuid,
    pub generation: i64,
    pub election: Option<Uuid>,
}

/// A freshly issued bearer token and its lifetime in seconds.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

/// HS256 signing and verification with the algorithm pinned: a token claiming any other
/// algorithm (including `none`) is refused.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
            ttl,
        }
    }

    /// A token of an account that has never logged out (generation 0).
    pub fn issue(&self, user_id: Uuid) -> IssuedToken {
        self.issue_session(user_id, 0, None)
    }

    /// A token for the account's current token `generation`; with `election`, it signs the
    /// user in for that election only (an invitation link's sign-in).
    pub fn issue_session(
        &self,
        user_id: Uuid,
        generation: i64,
        election: Option<Uuid>,
    ) -> IssuedToken {
        let now = Utc::now().timestamp();
        let ttl = self.ttl.as_secs();
        let claims = Claims {
            sub: user_id,
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            election,
            generation,
            nbf: None,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail");
        IssuedToken {
            token,
            expires_in: ttl,
        }
    }

    /// The user id of a valid, unexpired token; `None` for anything else, including a token
    /// not valid yet (`nbf`) or issued in the future beyond [`MAX_CLOCK_SKEW_SECS`]. Whether its
    /// generation is still the account's is the caller's check (it needs the database).
    pub fn verify(&self, token: &str) -> Option<Uuid> {
        self.verify_subject(token).map(|subject| subject.user_id)
    }

    pub fn verify_subject(&self, token: &str) -> Option<TokenSubject> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        if claims.iat > Utc::now().timestamp().saturating_add(MAX_CLOCK_SKEW_SECS) {
            return None;
        }
        Some(TokenSubject {
            user_id: claims.sub,
            generation: claims.generation,
            election: claims.election,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64_url_engine as b64;

    mod base64_url_engine {
        /// Minimal unpadded base64url, enough to forge test tokens.
        pub(super) fn encode(bytes: &[u8]) -> String {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(&SecretString::from(secret), Duration::from_secs(60))
    }

    #[test]
    fn an_invitation_sign_in_names_its_election() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let (id, election) = (Uuid::new_v4(), Uuid::new_v4());
        let token = keys.issue_session(id, 2, Some(election)).token;
        let scoped = keys.verify_subject(&token).unwrap();
        assert_eq!((scoped.user_id, scoped.election), (id, Some(election)));
        let plain = keys.verify_subject(&keys.issue(id).token).unwrap();
        assert_eq!((plain.user_id, plain.election), (id, None));
    }

    #[test]
    fn round_trips_the_user_id() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let id = Uuid::new_v4();
        assert_eq!(keys.verify(&keys.issue(id).token), Some(id));
    }

    #[test]
    fn refuses_foreign_secret_tampering_expiry_and_alg_none() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let id = Uuid::new_v4();
        let foreign = super::tests::keys("another-secret-another-secret-xx")
            .issue(id)
            .token;
        assert_eq!(keys.verify(&foreign), None, "foreign secret");

        let token = keys.issue(id).token;
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = b64::encode(
            format!(r#"{{"sub":"{}","iat":0,"exp":9999999999}}"#, Uuid::new_v4()).as_bytes(),
        );
        parts[1] = &forged_payload;
        assert_eq!(keys.verify(&parts.join(".")), None, "tampered payload");

        let none_header = b64::encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload =
            b64::encode(format!(r#"{{"sub":"{id}","iat":0,"exp":9999999999}}"#).as_bytes());
        assert_eq!(
            keys.verify(&format!("{none_header}.{payload}.")),
            None,
            "alg none"
        );

        let past = Claims {
            sub: id,
            iat: 1,
            exp: Utc::now().timestamp() - 1,
            election: None,
            generation: 0,
            nbf: None,
        };
        let expired = encode(&Header::new(Algorithm::HS256), &past, &keys.encoding).unwrap();
        assert_eq!(keys.verify(&expired), None, "expired");
        assert_eq!(keys.verify("garbage"), None);
    }

    #[test]
    fn refuses_nbf_in_the_future_and_iat_beyond_the_skew_and_carries_the_generation() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        let id = Uuid::new_v4();
        let now = Utc::now().timestamp();
        let sign = |iat: i64, nbf: Option<i64>| {
            let claims = Claims {
                sub: id,
                iat,
                exp: now + 600,
                election: None,
                generation: 3,
                nbf,
            };
            encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        assert_eq!(keys.verify(&sign(now, Some(now + 60))), None, "nbf ahead");
        assert_eq!(keys.verify(&sign(now + 120, None)), None, "iat ahead");
        assert_eq!(
            keys.verify(&sign(now + 10, None)),
            Some(id),
            "within the skew"
        );
        assert_eq!(
            keys.verify(&sign(now, Some(now - 5))),
            Some(id),
            "nbf passed"
        );
        assert_eq!(
            keys.verify_subject(&keys.issue_session(id, 7, None).token),
            Some(TokenSubject {
                user_id: id,
                generation: 7,
                election: None
            })
        );
    }
}
