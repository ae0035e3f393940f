use super::DomainError;

const MIN_CHARS: usize = 8;
const MAX_CHARS: usize = 128;
/// zxcvbn's score 2 of 4: at least 10^6 guesses by its estimate. Below it are the common
/// passwords of its lists (`password`, `12345678`), repeats (`aaaaaaaa`, eight spaces),
/// sequences and keyboard rows, dictionary words with a digit, dates and names on their own.
const MIN_SCORE: u8 = 2;

/// A password of acceptable length that is not common or trivially guessable (NIST SP 800-63B
/// 5.1.1.2: no composition rules, but a check against commonly used and easily guessed values).
/// Its `Debug` output is redacted so it cannot reach a log.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Length is counted in characters, not bytes, so non-ASCII passwords are not penalised.
    pub fn parse(raw: String) -> Result<Self, DomainError> {
        let chars = raw.chars().count();
        if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
            return Err(DomainError("password must be 8 to 128 characters long"));
        }
        Self::check_strength(&raw, &[])?;
        Ok(Self(raw))
    }

    /// Like [`Password::parse`], also refusing a password made of the account's own email.
    pub fn parse_for_account(raw: String, email: &str) -> Result<Self, DomainError> {
        let password = Self::parse(raw)?;
        let local = email.split('@').next().unwrap_or(email);
        Self::check_strength(password.expose(), &[email, local])?;
        Ok(password)
    }

    fn check_strength(raw: &str, user_inputs: &[&str]) -> Result<(), DomainError> {
        let estimate = zxcvbn::zxcvbn(raw, user_inputs);
        if estimate.score() as u8 >= MIN_SCORE {
            return Ok(());
        }
        use zxcvbn::feedback::Warning;
        /// Each message says why, then how to do better.
        macro_rules! weak {
            ($why:literal) => {
                concat!(
                    "password ",
                    $why,
                    " and easy to guess; a few unrelated words make a strong one"
                )
            };
        }
        let message = match estimate.feedback().and_then(|f| f.warning()) {
            Some(
                Warning::ThisIsATop10Password
                | Warning::ThisIsATop100Password
                | Warning::ThisIsACommonPassword,
            ) => weak!("is one of the most common passwords"),
            Some(Warning::ThisIsSimilarToACommonlyUsedPassword) => {
                weak!("is a common password with small changes")
            }
            Some(
                Warning::RepeatsLikeAaaAreEasyToGuess
                | Warning::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess,
            ) => weak!("is a repeated character or pattern"),
            Some(Warning::SequencesLikeAbcAreEasyToGuess) => {
                weak!("is a sequence such as abcdefgh or 12345678")
            }
            Some(
                Warning::StraightRowsOfKeysAreEasyToGuess
                | Warning::ShortKeyboardPatternsAreEasyToGuess,
            ) => weak!("is a row or pattern of keys on the keyboard"),
            Some(Warning::RecentYearsAreEasyToGuess | Warning::DatesAreOftenEasyToGuess) => {
                weak!("is mostly a date or a year")
            }
            Some(
                Warning::AWordByItselfIsEasyToGuess
                | Warning::NamesAndSurnamesByThemselvesAreEasyToGuess
                | Warning::CommonNamesAndSurnamesAreEasyToGuess,
            ) => weak!("is a single word or name"),
            None if !user_inputs.is_empty() => weak!("is too close to the email address"),
            None => weak!("is too short or too predictable"),
        };
        Err(DomainError(message))
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
        assert!(Password::parse("hold-the-door".into()).is_ok());
        // 128 two-byte letters in no pattern.
        let letters: Vec<char> = "éàüöçñøåßæ".chars().collect();
        let mut seed = 7u32;
        let longest: String = (0..128)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                letters[(seed >> 16) as usize % letters.len()]
            })
            .collect();
        assert!(Password::parse(longest.clone()).is_ok());
        assert!(Password::parse(longest + "é").is_err());
        assert!(Password::parse(String::new()).is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::parse("correct horse".into()).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn common_and_trivial_passwords_are_refused_with_the_reason() {
        let cases = [
            ("12345678", "most common"),
            ("password", "most common"),
            ("        ", "repeated"),
            ("aaaaaaaaaaaa", "repeated"),
            ("password1", "most common"),
            ("qwertyuiop", "most common"),
            ("abcdefghij", "sequence"),
        ];
        for (raw, why) in cases {
            let error = Password::parse(raw.into()).expect_err(raw);
            assert!(error.0.contains(why), "{raw:?}: {}", error.0);
        }
        assert!(
            Password::parse_for_account("ada.lovelace1815".into(), "ada.lovelace1815@example.org")
                .is_err()
        );
        for fine in ["correct horse battery", "long enough", "Tr0ub4dor&3"] {
            assert!(Password::parse(fine.into()).is_ok(), "{fine}");
        }
    }

    proptest! {
        #[test]
        fn never_accepted_outside_the_length_range(raw in "\\PC{0,200}") {
            let len = raw.chars().count();
            if !(8..=128).contains(&len) {
                prop_assert!(Password::parse(raw).is_err());
            }
        }
    }
}
