use secrecy::{ExposeSecret, SecretString};

/// A new password as an admin typed it: 8 to 128 characters. It is never logged,
/// serialised or returned; only its argon2id hash is stored.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("must be at least {min} characters", min = Password::MIN_CHARS)]
    TooShort,
    #[error("must be at most {max} characters", max = Password::MAX_CHARS)]
    TooLong,
    #[error("{}", super::CONTROL_CHARACTERS)]
    ControlCharacter,
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        // Nobody types one into a password field; refusing them keeps every
        // input under one rule (SPEC §5).
        if super::has_control_characters(raw, false) {
            return Err(PasswordError::ControlCharacter);
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(
            Password::parse("1234567").unwrap_err(),
            PasswordError::TooShort
        );
        assert!(Password::parse("ééééééé😀").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(129)).unwrap_err(),
            PasswordError::TooLong
        );
        assert_eq!(
            Password::parse("pass\0word").unwrap_err(),
            PasswordError::ControlCharacter
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
        assert_eq!(password.expose(), "correct horse battery");
    }
}
