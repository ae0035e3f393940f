use super::DomainError;

const MIN_CHARS: usize = 8;
const MAX_CHARS: usize = 128;

/// A password of acceptable length. Its `Debug` output is redacted so it cannot reach a log.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Length is counted in characters, not bytes, so non-ASCII passwords are not penalised.
    pub fn parse(raw: String) -> Result<Self, DomainError> {
        let chars = raw.chars().count();
        if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
            return Err(DomainError("password must be 8 to 128 characters long"));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn length_limits_are_inclusive_and_count_characters() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("é".repeat(128)).is_ok());
        assert!(Password::parse("é".repeat(129)).is_err());
        assert!(Password::parse(String::new()).is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::parse("correct horse".into()).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    proptest! {
        #[test]
        fn accepted_exactly_when_length_is_in_range(raw in "\\PC{0,200}") {
            let len = raw.chars().count();
            prop_assert_eq!(Password::parse(raw).is_ok(), (8..=128).contains(&len));
        }
    }
}
