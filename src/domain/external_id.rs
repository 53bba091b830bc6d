/// The id another system (an identity provider, an HR system) knows a user by:
/// opaque, kept exactly as given, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExternalIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters", max = ExternalId::MAX_CHARS)]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl ExternalId {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ExternalIdError> {
        if raw.is_empty() {
            return Err(ExternalIdError::Empty);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ExternalIdError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(ExternalIdError::ControlCharacter);
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
    fn external_ids_are_kept_exactly_within_their_limits() {
        assert_eq!(ExternalId::parse(" 00u1 ").unwrap().as_str(), " 00u1 ");
        assert_eq!(ExternalId::parse(""), Err(ExternalIdError::Empty));
        assert_eq!(
            ExternalId::parse(&"x".repeat(201)),
            Err(ExternalIdError::TooLong)
        );
        assert_eq!(
            ExternalId::parse("a\u{0}b"),
            Err(ExternalIdError::ControlCharacter)
        );
    }
}
