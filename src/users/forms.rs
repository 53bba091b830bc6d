use axum::extract::{FromRequest, Request};
use serde::Deserialize;

use crate::http::body::{BODY_LIMIT, Body, media_type};
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
    /// Grants or removes the *direct* `admin` role (needs `roles.manage`); the
    /// answer says `true` while a group still grants it.
    pub is_admin: Option<bool>,
    /// The full list of the user's direct role names (needs `roles.manage`;
    /// unknown names are 422). With `is_admin` as well, `is_admin` decides
    /// whether `admin` is among them.
    pub roles: Option<Vec<String>>,
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
            roles: self.roles.clone(),
        }
    }

    /// Whether the body changes who holds what (`roles`, `is_admin`), which
    /// needs `roles.manage`.
    pub fn touches_roles(&self) -> bool {
        self.roles.is_some() || self.is_admin.is_some()
    }
}

/// A user body ([`UserInput`]) as JSON or as the HTML form, whose role
/// checkboxes each send a `roles` field (the form decoder takes each field
/// once): they are gathered into the list here. The form always sends one
/// empty `roles` field, so that unticking every box clears the list.
pub struct UserBody(pub UserInput);

impl<S: Send + Sync> FromRequest<S> for UserBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if media_type(req.headers()).as_deref() != Some("application/x-www-form-urlencoded") {
            return Body::from_request(req, state).await.map(|Body(i)| Self(i));
        }
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(axum::body::Body::new(body), BODY_LIMIT)
            .await
            .map_err(|_| AppError::PayloadTooLarge)?;
        let (roles, rest): (Vec<_>, Vec<_>) =
            form_urlencoded::parse(&bytes).partition(|(name, _)| name == "roles");
        if roles.is_empty() {
            let req = Request::from_parts(parts, axum::body::Body::from(bytes));
            return Body::from_request(req, state).await.map(|Body(i)| Self(i));
        }
        if roles.iter().any(|(_, value)| value.contains('\u{FFFD}')) {
            return Err(AppError::BadRequest("the form body is not UTF-8".into()));
        }
        let rest = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(rest)
            .finish();
        let req = Request::from_parts(parts, axum::body::Body::from(rest));
        let Body(mut input) = Body::<UserInput>::from_request(req, state).await?;
        input.roles = Some(
            roles
                .into_iter()
                .map(|(_, value)| value.into_owned())
                .filter(|value| !value.is_empty())
                .collect(),
        );
        Ok(Self(input))
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
