use serde::Deserialize;

use super::{FieldErrors, Password, UserEmail, UserName};

/// A user id from a URL. Ids are positive; anything else names no user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserId(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserIdError {
    /// Not an integer, or outside the 64-bit range.
    #[error("user id must be a positive integer")]
    Malformed,
    /// A well-formed integer that no user can have (0 or negative).
    #[error("no such user")]
    OutOfRange,
}

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, UserIdError> {
        let id: i64 = raw.parse().map_err(|_| UserIdError::Malformed)?;
        if id <= 0 {
            return Err(UserIdError::OutOfRange);
        }
        Ok(Self(id))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A user body as sent, JSON or form. Unknown fields are refused (422) so a typo
/// such as `"emial"` is not silently ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// 1 to 100 characters once trimmed. Required to create.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// A valid address of at most 120 characters, unique whatever its case. Required to create.
    #[schema(format = Email, max_length = 120)]
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    /// Write-only: 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128, write_only)]
    pub password: Option<String>,
    /// Write-only: your own current password, needed to set your own `password`.
    #[schema(write_only)]
    pub current_password: Option<String>,
    /// The version the client last read: the HTML edit form's stand-in for
    /// `If-Match`.
    pub version: Option<i32>,
    /// Checked by the CSRF middleware; accepted here so forms may carry it.
    pub csrf_token: Option<String>,
}

impl UserInput {
    /// A browser form sends an empty password field to mean "no change".
    pub fn blank_password_means_none(mut self) -> Self {
        if self.password.as_deref().is_some_and(str::is_empty) {
            self.password = None;
        }
        self
    }
}

/// Everything needed to create a user.
#[derive(Debug)]
pub struct NewUser {
    pub name: UserName,
    pub email: UserEmail,
    pub is_admin: bool,
    pub password: Option<Password>,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub name: Option<UserName>,
    pub email: Option<UserEmail>,
    pub is_admin: Option<bool>,
    pub password: Option<Password>,
}

impl NewUser {
    pub fn parse(input: UserInput) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        if input.name.is_none() {
            errors.add("name", "is required");
        }
        if input.email.is_none() {
            errors.add("email", "is required");
        }
        let changes = UserChanges::parse_into(input, &mut errors);
        match (changes, errors.is_empty()) {
            (
                UserChanges {
                    name: Some(name),
                    email: Some(email),
                    is_admin,
                    password,
                },
                true,
            ) => Ok(Self {
                name,
                email,
                is_admin: is_admin.unwrap_or(false),
                password,
            }),
            _ => Err(errors),
        }
    }
}

impl UserChanges {
    pub fn parse(input: UserInput) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = Self::parse_into(input, &mut errors);
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    fn parse_into(input: UserInput, errors: &mut FieldErrors) -> Self {
        Self {
            name: input
                .name
                .and_then(|raw| errors.take("name", UserName::parse(&raw))),
            email: input
                .email
                .and_then(|raw| errors.take("email", UserEmail::parse(&raw))),
            is_admin: input.is_admin,
            password: input
                .password
                .and_then(|raw| errors.take("password", Password::parse(&raw))),
        }
    }

    /// True when this change takes admin rights away.
    pub fn demotes(&self) -> bool {
        self.is_admin == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_64_bit_integers() {
        assert_eq!(UserId::parse("42").unwrap().get(), 42);
        assert_eq!(UserId::parse("0"), Err(UserIdError::OutOfRange));
        assert_eq!(UserId::parse("-7"), Err(UserIdError::OutOfRange));
        assert_eq!(UserId::parse("abc"), Err(UserIdError::Malformed));
        assert_eq!(UserId::parse("1.5"), Err(UserIdError::Malformed));
        assert_eq!(
            UserId::parse("99999999999999999999"),
            Err(UserIdError::Malformed)
        );
        assert_eq!(UserId::parse(""), Err(UserIdError::Malformed));
    }

    #[test]
    fn a_new_user_reports_every_bad_field_at_once() {
        let errors = NewUser::parse(UserInput {
            name: Some("  ".into()),
            email: None,
            password: Some("short".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(errors.get("name"), ["must not be empty"]);
        assert_eq!(errors.get("email"), ["is required"]);
        assert_eq!(errors.get("password"), ["must be at least 8 characters"]);
    }

    #[test]
    fn a_new_user_is_not_an_admin_unless_asked() {
        let user = NewUser::parse(UserInput {
            name: Some(" Alice ".into()),
            email: Some("alice@mail.com".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(user.name.as_str(), "Alice");
        assert!(!user.is_admin);
        assert!(user.password.is_none());
    }

    #[test]
    fn changes_leave_absent_fields_alone() {
        let changes = UserChanges::parse(UserInput {
            is_admin: Some(false),
            ..Default::default()
        })
        .unwrap();
        assert!(changes.name.is_none() && changes.email.is_none());
        assert!(changes.demotes());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<UserInput>(r#"{"name":"a","emial":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `emial`"));
    }
}
