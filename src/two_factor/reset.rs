//! An admin resets another admin's second factor (`POST /users/{id}/2fa/reset`).

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::http::pages::ConfirmPage;
use crate::{
    auth::CurrentAdmin,
    db,
    http::error::{AppError, AppResult},
    http::{extract::UserIdPath, respond::AdminContext},
    state::AppState,
};

/// The outcome of a reset.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TwoFactorResetView {
    /// The user's id.
    pub id: i64,
    /// True when a second factor was on and is now removed; false when there was
    /// none.
    pub reset: bool,
}

/// `GET /users/{id}/2fa/reset`: the confirmation, naming the user.
pub async fn reset_form(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    ctx.html_only()?;
    let user = db::users::find(&state.db, id.get())
        .await?
        .ok_or(AppError::NotFound)?;
    if ctx.admin.user_id == user.id {
        return Err(own_reset());
    }
    let page = ConfirmPage {
        layout: ctx
            .layout(format!("Reset two-factor login of {}", user.name))
            .await?,
        heading: format!("Reset the two-factor login of {}?", user.name),
        consequence: format!(
            "{} ({}) then logs in with the password alone, or is asked to enrol again where two-factor login is required. Their authenticator app and recovery codes stop working.",
            user.name, user.email
        ),
        action: format!("/users/{}/2fa/reset", user.id),
        button: "Reset two-factor login".into(),
        cancel: format!("/users/{}", user.id),
    };
    Ok(page.into_response())
}

fn own_reset() -> AppError {
    AppError::conflict("turn your own two-factor login off on /account/2fa, with a code")
}

#[utoipa::path(
    post,
    path = "/users/{id}/2fa/reset",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "the admin's id")),
    responses(
        (status = 200, description = "the second factor is removed (or there was none); the admin logs in with the password alone, or enrols again when REQUIRE_2FA is on", body = TwoFactorResetView),
        (status = 400, body = crate::http::error::ErrorBody), (status = 401, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody),
        (status = 409, description = "one's own second factor is turned off on /account/2fa, with a code", body = crate::http::error::ErrorBody),
        (status = 503, body = crate::http::error::ErrorBody),
    )
)]
pub async fn reset(
    State(state): State<AppState>,
    ctx: AdminContext,
    admin: CurrentAdmin,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    let id = id.get();
    if admin.user_id == id {
        return Err(own_reset());
    }
    let reset = state.writer.reset_two_factor(&ctx.actor, id).await?;
    let flash = if reset {
        "Two-factor login was reset: the password alone logs in now.".to_owned()
    } else {
        "This user had no two-factor login.".to_owned()
    };
    ctx.done(
        &format!("/users/{id}"),
        axum::Json(TwoFactorResetView { id, reset }),
        flash,
    )
    .await
}
