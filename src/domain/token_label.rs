use std::fmt;

/// What an API token is for ("nightly sync"): trimmed, 1 to 100 characters, no
/// control characters. The same rule for the pages, the API and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLabel(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenLabelError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters", max = TokenLabel::MAX_CHARS)]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl TokenLabel {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, TokenLabelError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TokenLabelError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(TokenLabelError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(TokenLabelError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(TokenLabel::parse("  sync ").unwrap().as_str(), "sync");
        assert_eq!(TokenLabel::parse(" "), Err(TokenLabelError::Empty));
        assert_eq!(
            TokenLabel::parse(&"x".repeat(101)),
            Err(TokenLabelError::TooLong)
        );
        assert!(TokenLabel::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            TokenLabel::parse("a\u{0}b"),
            Err(TokenLabelError::ControlCharacter)
        );
        assert_eq!(
            TokenLabel::parse("a\nb"),
            Err(TokenLabelError::ControlCharacter)
        );
    }
}
