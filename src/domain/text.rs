//! Characters that make text look like other text: bidirectional embeddings, overrides and
//! isolates (a name can be shown reversed), zero-width characters, the soft hyphen and the
//! byte-order mark (two strings that render the same but differ). Refused in names, parties,
//! descriptions and emails; what is kept is NFC-normalised, so one rendering has one stored
//! form.

use unicode_normalization::UnicodeNormalization;

use super::DomainError;

pub(super) const DECEPTIVE_MESSAGE: &str = "must not contain invisible or text-direction characters \
     (zero-width characters, bidirectional controls, soft hyphens, byte-order marks)";

/// Whether `c` is invisible or changes the display order of the text around it.
pub(super) fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                  // soft hyphen
            | '\u{061C}'            // Arabic letter mark
            | '\u{180E}'            // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner, LRM, RLM
            | '\u{202A}'..='\u{202E}' // embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner and invisible operators
            | '\u{2066}'..='\u{2069}' // isolates
            | '\u{FEFF}' // byte-order mark, zero-width no-break space
    )
}

/// `text` in NFC, or the deceptive-character error.
pub(super) fn clean(text: &str) -> Result<String, DomainError> {
    if text.chars().any(is_deceptive) {
        return Err(DomainError(DECEPTIVE_MESSAGE));
    }
    Ok(text.nfc().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_listed_character_and_composes_the_rest() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}',
            '\u{00AD}', '\u{FEFF}',
        ] {
            assert!(
                clean(&format!("Jane{c}Smith")).is_err(),
                "U+{:04X}",
                c as u32
            );
        }
        // "é" as e + combining acute becomes the one precomposed character.
        assert_eq!(clean("Jose\u{301}").unwrap(), "Jos\u{e9}");
        assert_eq!(clean("Zoë Ämtler").unwrap(), "Zoë Ämtler");
    }
}
