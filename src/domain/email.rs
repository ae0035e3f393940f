use super::DomainError;

/// Longest address SMTP can deliver to (RFC 5321 path limit minus the angle brackets).
const MAX_LEN: usize = 254;

/// A normalised (trimmed, lowercased, NFC) email address without invisible or text-direction
/// characters, so two accounts cannot look identical. Uniqueness is case-insensitive because the
/// stored form is always lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let email = super::text::clean(&raw.trim().to_lowercase()).map_err(|_| {
            DomainError("email must not contain invisible or text-direction characters")
        })?;
        if email.is_empty() {
            return Err(DomainError("email is required"));
        }
        if email.chars().count() > MAX_LEN {
            return Err(DomainError("email must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError(
                "email must not contain spaces or control characters",
            ));
        }
        let mut parts = email.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(DomainError("email must contain exactly one @"));
        };
        if local.is_empty() {
            return Err(DomainError("email needs a name before the @"));
        }
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if !domain_ok {
            return Err(DomainError(
                "email needs a domain such as example.org after the @",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_case_and_surrounding_space() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
    }

    #[test]
    fn rejects_invalid_addresses() {
        let cases = [
            ("", "empty"),
            ("   ", "blank"),
            ("ada.example.org", "no @"),
            ("ada@@example.org", "two @"),
            ("a@b@example.org", "two @ apart"),
            ("@example.org", "empty local part"),
            ("ada@localhost", "domain without a dot"),
            ("ada@.example.org", "domain starting with a dot"),
            ("ada@example.org.", "domain ending with a dot"),
            ("ada@exa mple.org", "inner space"),
            ("ada@exa\tmple.org", "tab"),
            ("ada\u{0}@example.org", "NUL"),
            ("ada\u{200B}@example.org", "zero-width space"),
            ("ada@exam\u{00AD}ple.org", "soft hyphen"),
            ("\u{FEFF}ada@example.org", "byte-order mark"),
            ("ada\u{202E}gro.elpmaxe@", "right-to-left override"),
            ("ada\u{2066}@example.org", "isolate"),
        ];
        for (raw, why) in cases {
            assert!(Email::parse(raw).is_err(), "{why}: {raw:?} was accepted");
        }
        let too_long = format!("{}@example.org", "a".repeat(243));
        assert!(Email::parse(&too_long).is_err(), "255 characters");
        let longest = format!("{}@example.org", "a".repeat(242));
        assert!(Email::parse(&longest).is_ok(), "254 characters");
    }

    #[test]
    fn composed_and_decomposed_forms_are_one_account() {
        assert_eq!(
            Email::parse("jose\u{301}@example.org").unwrap(),
            Email::parse("jos\u{e9}@example.org").unwrap()
        );
    }

    proptest! {
        #[test]
        fn valid_addresses_round_trip_lowercased(local in "[a-zA-Z0-9._%+-]{1,40}", domain in "[a-zA-Z0-9-]{1,20}", tld in "[a-zA-Z]{2,6}") {
            let raw = format!("{local}@{domain}.{tld}");
            let email = Email::parse(&raw).unwrap();
            prop_assert_eq!(email.as_str(), raw.to_lowercase());
        }

        #[test]
        fn parsing_never_panics_and_output_is_normalised(raw in "\\PC{0,300}") {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(email.as_str(), email.as_str().trim().to_lowercase());
                prop_assert_eq!(email.as_str().matches('@').count(), 1);
                prop_assert!(email.as_str().chars().count() <= MAX_LEN);
            }
        }
    }
}
