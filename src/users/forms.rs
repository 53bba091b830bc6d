use serde::Deserialize;

use crate::{
    domain::UserFields,
    http::error::{AppError, AppResult},
};

/// A user body. Unknown fields are refused (422) so a typo such as `"emial"` is
/// not silently ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// 1 to 100 characters once trimmed, without control characters. Required
    /// to create.
    #[schema(min_length = 1, pattern = r"^\s*[^\s\x00-\x1f\x7f]")]
    pub name: Option<String>,
    /// A valid address of at most 120 characters, unique whatever its case.
    /// Required to create.
    #[schema(format = Email, min_length = 3)]
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    /// Write-only: 8 to 128 characters.
    #[schema(write_only)]
    pub password: Option<String>,
    /// `active`, or `disabled` (it cannot log in; its sessions end and its
    /// tokens are revoked).
    #[schema(pattern = "^(active|disabled)$")]
    pub status: Option<String>,
    /// With `status: disabled`: why (at most 500 characters).
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

/// `?purge=true` on `DELETE /users/{id}`.
#[derive(Deserialize, Default)]
pub struct PurgeParam {
    #[serde(default)]
    pub purge: Option<String>,
}

impl PurgeParam {
    pub fn wanted(&self) -> AppResult<bool> {
        match self.purge.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(AppError::BadRequest("purge must be true or false".into())),
        }
    }
}
