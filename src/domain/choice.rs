//! The text of a ballot choice (a candidate): its name, party and description. Every way in —
//! the API, the import commands, an election document — builds these, so a name one path
//! accepts is never one the database refuses.

use super::DomainError;

const MAX_NAME_CHARS: usize = 255;
const MAX_DESCRIPTION_CHARS: usize = 2000;

/// 1 to 255 characters after trimming, no control, invisible or text-direction characters;
/// NFC-normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChoiceName(String);

/// Up to 255 characters after trimming, no control, invisible or text-direction characters;
/// NFC-normalised; empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party(String);

/// Up to 2000 characters after trimming; line breaks and tabs allowed, other control characters
/// not, nor invisible or text-direction characters; NFC-normalised; empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl ChoiceName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = super::text::clean(raw.trim())?;
        let name = name.trim();
        if name.is_empty() {
            return Err(DomainError("must not be empty"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(DomainError("must be at most 255 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(DomainError("must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Party {
    /// `None` for a missing, null or blank party.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, DomainError> {
        let Some(party) = raw.map(str::trim).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let party = super::text::clean(party)?;
        let party = party.trim();
        if party.chars().count() > MAX_NAME_CHARS {
            return Err(DomainError("must be at most 255 characters"));
        }
        if party.chars().any(char::is_control) {
            return Err(DomainError("must not contain control characters"));
        }
        Ok(Some(Self(party.to_owned())))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Description {
    /// `None` for a missing, null or blank description.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, DomainError> {
        let Some(text) = raw.map(str::trim).filter(|d| !d.is_empty()) else {
            return Ok(None);
        };
        let text = super::text::clean(text)?;
        let text = text.trim();
        if text.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(DomainError("must be at most 2000 characters"));
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(DomainError("must not contain control characters"));
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A choice whose three fields have been parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidChoice {
    pub name: ChoiceName,
    pub party: Option<Party>,
    pub description: Option<Description>,
}

impl ValidChoice {
    /// Parses the three fields; the error names the field (`name: must not be empty`).
    pub fn parse(
        name: &str,
        party: Option<&str>,
        description: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Self {
            name: ChoiceName::parse(name).map_err(|e| format!("name: {e}"))?,
            party: Party::parse(party).map_err(|e| format!("party: {e}"))?,
            description: Description::parse(description)
                .map_err(|e| format!("description: {e}"))?,
        })
    }

    pub fn into_parts(self) -> (String, Option<String>, Option<String>) {
        (
            self.name.into_string(),
            self.party.map(Party::into_string),
            self.description.map(Description::into_string),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ChoiceName::parse("  Jane  ").unwrap().as_str(), "Jane");
        assert!(ChoiceName::parse("   ").is_err());
        assert!(ChoiceName::parse(&"x".repeat(255)).is_ok());
        assert!(ChoiceName::parse(&"x".repeat(256)).is_err());
        assert!(ChoiceName::parse("a\u{7}b").is_err());
        // Characters, not bytes: 255 two-byte letters fit PostgreSQL's VARCHAR(255).
        assert!(ChoiceName::parse(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn deceptive_characters_are_refused_and_text_is_composed() {
        // "Jane Smith" shown, "Jane htimS" stored, with a right-to-left override.
        assert!(ChoiceName::parse("Jane \u{202E}htimS").is_err());
        assert!(ChoiceName::parse("Jane\u{200B} Smith").is_err());
        assert!(Party::parse(Some("Gr\u{00AD}een")).is_err());
        assert!(Description::parse(Some("\u{FEFF}text")).is_err());
        assert_eq!(
            ChoiceName::parse("Rene\u{301}").unwrap().as_str(),
            "Ren\u{e9}"
        );
    }

    #[test]
    fn blank_optional_fields_are_none() {
        assert_eq!(Party::parse(Some("  ")).unwrap(), None);
        assert_eq!(Description::parse(None).unwrap(), None);
        assert!(
            Description::parse(Some("line one\nline two"))
                .unwrap()
                .is_some()
        );
        assert!(Description::parse(Some("bell\u{7}")).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            ValidChoice::parse("ok", Some(&"p".repeat(300)), None).unwrap_err(),
            "party: must be at most 255 characters"
        );
    }

    proptest! {
        #[test]
        fn a_parsed_name_parses_again_to_itself(raw in "\\PC{0,300}") {
            if let Ok(name) = ChoiceName::parse(&raw) {
                prop_assert_eq!(ChoiceName::parse(name.as_str()).unwrap(), name.clone());
                prop_assert!(name.as_str().chars().count() <= 255);
            }
        }
    }
}
