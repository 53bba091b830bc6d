//! Bodies as clients send them (JSON or form): wire types, which carry what only
//! the HTTP layer cares about (the form's CSRF token, the version an edit form
//! was filled from), and which turn into domain values at once.

use serde::Deserialize;

use crate::domain::UserFields;

/// A user body. Unknown fields are refused (422) so a typo such as `"emial"` is
/// not silently ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// 1 to 100 characters once trimmed, without control characters. Required
    /// to create.
    #[schema(min_length = 1, max_length = 100, pattern = r"^\s*[^\s\x00-\x1f\x7f]")]
    pub name: Option<String>,
    /// A valid address of at most 120 characters, unique whatever its case.
    /// Required to create.
    #[schema(format = Email, min_length = 3, max_length = 120)]
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    /// Write-only: 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128, write_only)]
    pub password: Option<String>,
    /// `active`, or `disabled` (it cannot log in; its sessions end and its
    /// tokens are revoked).
    #[schema(pattern = "^(active|disabled)$")]
    pub status: Option<String>,
    /// With `status: disabled`: why (at most 500 characters).
    #[schema(max_length = 500)]
    pub disabled_reason: Option<String>,
    /// Write-only: your own current password, needed to set your own `password`.
    #[schema(write_only)]
    pub current_password: Option<String>,
    /// The version the client last read: the HTML edit form's stand-in for
    /// `If-Match`.
    pub version: Option<i32>,
    /// The form's CSRF token (checked during authentication).
    #[schema(write_only)]
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

    /// The user's fields, for the domain to parse.
    pub fn fields(&self) -> UserFields {
        UserFields {
            name: self.name.clone(),
            email: self.email.clone(),
            is_admin: self.is_admin,
            password: self.password.clone(),
            status: self.status.clone(),
            disabled_reason: self.disabled_reason.clone(),
        }
    }
}

/// The delete confirmation form: the version it was shown at.
#[derive(Deserialize, Default)]
pub struct DeleteForm {
    pub version: Option<i32>,
}

/// `POST /users/{id}/disable`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct DisableInput {
    /// Why the account is disabled: at most 500 characters; may be empty.
    #[schema(max_length = 500)]
    #[serde(default)]
    pub reason: String,
    /// The version the confirmation page was shown at (instead of `If-Match`).
    pub version: Option<i32>,
    /// The form's CSRF token (checked during authentication).
    #[schema(write_only)]
    pub csrf_token: Option<String>,
}

/// `POST /users/bulk`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    /// `disable`, `enable`, `delete`, `restore`, `promote` or `demote`.
    #[schema(pattern = "^(disable|enable|delete|restore|promote|demote)$")]
    pub action: String,
    /// At most 1,000 user ids.
    #[schema(max_items = 1000)]
    pub ids: Vec<i64>,
    /// With `disable`: why.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// `POST /tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// What the token is for: 1 to 100 characters, without control characters.
    #[schema(min_length = 1, max_length = 100)]
    #[serde(default)]
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<UserInput>(r#"{"name":"a","emial":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `emial`"));
    }
}
