use super::DomainError;

const MAX_LEN: usize = 255;

/// A client-chosen key that makes retrying a vote safe: the same key replays the first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(DomainError("Idempotency-Key must be 1 to 255 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError(
                "Idempotency-Key must be printable ASCII without spaces",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_rejects_empty_long_or_odd_keys() {
        assert!(IdempotencyKey::parse("0b6c3f4e-1f0a-4b8e-9c39-1d2f5e6a7b8c").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
    }
}
