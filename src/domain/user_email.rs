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
        if trimmed.chars().any(char::is_control) || !trimmed.validate_email() {
            return Err(UserEmailError::Invalid);
        }
        Ok(Self(trimmed.to_owned()))
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
        for raw in [
            "alice",
            "alice@",
            "@mail.com",
            "a b@mail.com",
            "alice@mail.com\0",
            "<a>@x",
        ] {
            assert_eq!(
                UserEmail::parse(raw),
                Err(UserEmailError::Invalid),
                "{raw:?}"
            );
        }
        assert_eq!(UserEmail::parse("   "), Err(UserEmailError::Empty));
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
