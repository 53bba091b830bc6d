//! The one responder layer: what a handler needs to answer an admin in either
//! format, so a write handler reads as parse → write → respond.
//!
//! * JSON writes answer 201 (with `Location`) or 200 with the body;
//! * HTML writes leave a flash message and redirect (303), POST-redirect-GET;
//! * a form whose input was refused is shown again with its errors (422 or 409),
//!   while errors that are not about the form become the error page;
//! * pages that exist only for browsers answer JSON clients with 404.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};

use super::negotiate::Format;
use crate::http::pages::Layout;
use crate::{
    auth::CurrentAdmin,
    domain::FieldErrors,
    http::error::{AppError, AppResult},
    http::session::AdminSession,
    state::AppState,
    write::Actor,
};

/// An authenticated admin's request: its format, session, admin and actor.
pub struct AdminContext {
    pub format: Format,
    pub session: AdminSession,
    pub admin: CurrentAdmin,
    /// Who acts, for the write path.
    pub actor: Actor,
}

impl FromRequestParts<AppState> for AdminContext {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(Self {
            format: Format::from_headers(&parts.headers),
            admin: CurrentAdmin::from_request_parts(parts, state).await?,
            actor: Actor::from_request_parts(parts, state).await?,
            session: AdminSession::from_request_parts(parts, state).await?,
        })
    }
}

/// The [`AdminContext`] of a browser's request, and nothing for a script's: a
/// read whose JSON answer needs only the row skips the admin's session, actor
/// and copies of its name (the router's guard has already let it through).
pub struct PageContext(pub Option<AdminContext>);

impl FromRequestParts<AppState> for PageContext {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if !Format::from_headers(&parts.headers).is_html() {
            return Ok(Self(None));
        }
        Ok(Self(Some(
            AdminContext::from_request_parts(parts, state).await?,
        )))
    }
}

impl AdminContext {
    /// The shared part of a page: the admin's name, the session's CSRF token
    /// and the flash message left by the previous request (shown once).
    pub async fn layout(&self, title: impl Into<String>) -> AppResult<Layout> {
        Ok(Layout {
            title: title.into(),
            admin: Some(self.admin.name.clone()),
            admin_id: Some(self.admin.user_id),
            csrf: self.session.csrf_token().await?,
            flash: self.session.take_flash().await?,
            permissions: self.admin.permissions,
        })
    }

    /// 404 for a JSON client: the page exists only for browsers.
    pub fn html_only(&self) -> AppResult<()> {
        html_only(self.format)
    }

    /// A record was created: JSON 201 with `Location` and the body; HTML a flash
    /// and a redirect to the new record.
    pub async fn created(
        &self,
        location: String,
        body: impl IntoResponse,
        flash: String,
    ) -> AppResult<Response> {
        match self.format {
            Format::Json => {
                Ok((StatusCode::CREATED, [(header::LOCATION, location)], body).into_response())
            }
            Format::Html => self.redirect_with_flash(&location, flash).await,
        }
    }

    /// A change was made: JSON 200 with the body; HTML a flash and a redirect.
    pub async fn done(
        &self,
        redirect_to: &str,
        body: impl IntoResponse,
        flash: String,
    ) -> AppResult<Response> {
        match self.format {
            Format::Json => Ok(body.into_response()),
            Format::Html => self.redirect_with_flash(redirect_to, flash).await,
        }
    }

    pub async fn redirect_with_flash(&self, to: &str, flash: String) -> AppResult<Response> {
        self.session.set_flash(flash).await?;
        Ok(Redirect::to(to).into_response())
    }
}

/// 406 for a JSON client on a page that exists only for browsers (the one
/// policy for HTML-only routes), saying to ask for HTML or to use a token.
pub fn html_only(format: Format) -> AppResult<()> {
    match format {
        Format::Html => Ok(()),
        Format::Json => Err(AppError::HtmlOnly),
    }
}

/// Puts a write's error into a form's errors and says the status to show the
/// form again with. Errors that are not about the form (database down, …) are
/// handed back, for the error page.
pub fn form_errors(error: AppError, errors: &mut FieldErrors) -> AppResult<StatusCode> {
    let status = error.status();
    match error {
        AppError::Validation(fields) => *errors = fields,
        AppError::Conflict {
            fields: Some(fields),
            ..
        } => *errors = fields,
        AppError::Conflict { message, .. } | AppError::Unprocessable(message) => {
            *errors = FieldErrors::single("form", message);
        }
        other => return Err(other),
    }
    Ok(status)
}
