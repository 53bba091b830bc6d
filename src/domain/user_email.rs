use std::fmt;

use validator::ValidateEmail;

/// An email address: trimmed, syntactically valid, at most 120 characters. It is
/// stored as sent; uniqueness ignores letter case (the database index does that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEmail(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserEmailError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters", max = UserEmail::MAX_CHARS)]
    TooLong,
    #[error("is not a valid email address")]
    Invalid,
    #[error("{}", super::CONTROL_CHARACTERS)]
    ControlCharacter,
}

impl UserEmail {
    pub const MAX_CHARS: usize = 120;

    pub fn parse(raw: &str) -> Result<Self, UserEmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(UserEmailError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(UserEmailError::TooLong);
        }
        if super::has_control_characters(trimmed, false) {
            return Err(UserEmailError::ControlCharacter);
        }
        if !trimmed.validate_email() {
            return Err(UserEmailError::Invalid);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// An email as typed on the login form: trimmed, and refused only for a
    /// control character (a NUL would fail the lookup's statement). Nothing
    /// else is checked: a login answers "incorrect" for any other spelling, the
    /// same as for an unknown address.
    pub fn login_input(raw: &str) -> Result<&str, UserEmailError> {
        let trimmed = raw.trim();
        if super::has_control_characters(trimmed, false) {
            return Err(UserEmailError::ControlCharacter);
        }
        Ok(trimmed)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_letter_case() {
        assert_eq!(
            UserEmail::parse("  Alice@Mail.com ").unwrap().as_str(),
            "Alice@Mail.com"
        );
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for raw in ["alice", "alice@", "@mail.com", "a b@mail.com", "<a>@x"] {
            assert_eq!(
                UserEmail::parse(raw),
                Err(UserEmailError::Invalid),
                "{raw:?}"
            );
        }
        assert_eq!(UserEmail::parse("   "), Err(UserEmailError::Empty));
    }

    #[test]
    fn control_characters_are_named_as_such() {
        for raw in ["alice@mail.com\0x", "al\u{1}ice@mail.com", "a\tb@mail.com"] {
            assert_eq!(
                UserEmail::parse(raw),
                Err(UserEmailError::ControlCharacter),
                "{raw:?}"
            );
            assert_eq!(
                UserEmail::login_input(raw),
                Err(UserEmailError::ControlCharacter)
            );
        }
        // The login form trims as the lookup does, and checks nothing else.
        assert_eq!(UserEmail::login_input(" Al@x \n"), Ok("Al@x"));
        assert_eq!(
            UserEmail::login_input("not an address"),
            Ok("not an address")
        );
    }

    #[test]
    fn enforces_the_length_limit() {
        let ok = format!("{}@{}.example", "a".repeat(60), "d".repeat(51));
        assert_eq!(ok.chars().count(), 120);
        assert!(UserEmail::parse(&ok).is_ok());
        let long = format!("{}@{}.example", "a".repeat(60), "d".repeat(52));
        assert_eq!(UserEmail::parse(&long), Err(UserEmailError::TooLong));
    }
}
