use std::fmt;

/// A user's display name: trimmed of surrounding white space, 1 to 100 characters,
/// otherwise exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters", max = UserName::MAX_CHARS)]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl UserName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, UserNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(UserNameError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(UserNameError::TooLong);
        }
        // A NUL cannot be stored in PostgreSQL text, and other control characters
        // in a name are never intended; refuse them rather than alter the value.
        if trimmed.chars().any(char::is_control) {
            return Err(UserNameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_surrounding_white_space_only() {
        assert_eq!(
            UserName::parse("  Ada  Lovelace \t").unwrap().as_str(),
            "Ada  Lovelace"
        );
    }

    #[test]
    fn keeps_unicode_exactly() {
        for name in [
            "Zoë 👩‍💻",
            "שלום עולם",
            "e\u{301}le\u{300}ve",
            "<script>alert(1)</script>",
            "'; drop table users; --",
        ] {
            assert_eq!(UserName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_empty_blank_and_long_names() {
        assert_eq!(UserName::parse(""), Err(UserNameError::Empty));
        assert_eq!(UserName::parse(" \n\t "), Err(UserNameError::Empty));
        assert!(UserName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            UserName::parse(&"é".repeat(101)),
            Err(UserNameError::TooLong)
        );
    }

    #[test]
    fn rejects_control_characters() {
        assert_eq!(
            UserName::parse("a\0b"),
            Err(UserNameError::ControlCharacter)
        );
        assert_eq!(
            UserName::parse("a\nb"),
            Err(UserNameError::ControlCharacter)
        );
    }
}
