//! Two-factor login (SPEC §13): enrolment and turning it off on `/account/2fa`,
//! the second step of a login on `/login/2fa`, and an admin's reset of another
//! admin's second factor (`POST /users/{id}/2fa/reset`, pages and JSON).
//!
//! After a right password, an admin with a second factor (or, with
//! `REQUIRE_2FA=true`, without one) holds a session that is only half logged in
//! ([`PendingLogin`]): `CurrentAdmin` refuses it everywhere, and only the code
//! page (or the enrolment page, when enrolment is forced) and `/logout` accept
//! it. The session id is cycled again once the second step succeeds.
//!
//! The key being enrolled is drawn into the browser session that shows it, for
//! at most 10 minutes, and only that session can confirm it; nothing
//! unconfirmed is stored in the database. Confirming it ends the admin's other
//! sessions (the session epoch moves on, as with a new password), so a session
//! opened with a stolen password before enrolment does not outlive it.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};

use super::{
    enrolment::{account_page, disable, enable},
    reset::{TwoFactorResetView, reset},
    second_step::{second_step, second_step_form},
};
use crate::db::{self, users::Credentials};
use crate::domain::Permission;
use crate::http::routes::{self as r, Access, Routes};
use crate::{
    auth::code_throttle::CodeThrottle,
    http::error::AppResult,
    http::session::{AdminSession, PendingLogin},
    state::AppState,
    write::{Actor, ActorKind, Attempt, Subject, Via},
};

/// Routes that a half-logged-in session may reach (each checks who it serves).
pub fn public_router() -> Routes {
    Routes::new()
        .route(
            "/login/2fa",
            r::get(Access::Public, second_step_form).post(Access::Public, second_step),
        )
        .route("/account/2fa", r::get(Access::Login, account_page))
        .route("/account/2fa/enable", r::post(Access::Login, enable))
        .route("/account/2fa/disable", r::post(Access::Login, disable))
}

/// Routes for a logged-in admin (or a bearer token).
pub fn router() -> Routes {
    let reset_access = Access::Permission(Permission::CredentialsReset);
    Routes::new().route(
        "/users/{id}/2fa/reset",
        r::get(reset_access, super::reset::reset_form).post(reset_access, reset),
    )
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(super::reset::reset), components(schemas(TwoFactorResetView)))]
pub struct Api;

pub(super) const KEY_EXPIRED: &str = "That key can no longer be confirmed: a key shown for enrolment lasts 10 minutes, in the browser session that showed it. Scan the new key below and enter its code.";

pub(super) const WRONG_ENROLMENT_CODE: &str = "That code is not right. Enter the 6-digit code your app shows now (check that the device's clock is right).";

pub(super) const WRONG_CODE: &str = "That code is not right, or it was used already. Enter the current code from your app, or a recovery code.";

/// Called by the login once the password is right: whether a second step
/// follows. If it does, the session is only half logged in and the answer is
/// the redirect to that step; `None` lets the login finish as before.
pub async fn after_password(
    state: &AppState,
    session: &AdminSession,
    account: &Credentials,
    next: &str,
) -> AppResult<Option<Response>> {
    let enrolled = db::two_factor::is_enabled(&state.db, account.id).await?;
    if !enrolled && !state.settings.require_2fa {
        return Ok(None);
    }
    session
        .start_pending(PendingLogin {
            user_id: account.id,
            epoch: account.session_epoch,
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
            next: next.to_owned(),
            enrol: !enrolled,
        })
        .await?;
    let to = if enrolled {
        "/login/2fa"
    } else {
        "/account/2fa"
    };
    Ok(Some(Redirect::to(to).into_response()))
}

pub(super) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The admin of a half-done login, acting for themself.
pub(super) fn pending_actor(account: &Credentials, headers: &HeaderMap, address: &str) -> Actor {
    Actor {
        kind: ActorKind::Admin,
        id: Some(account.id),
        label: account.email.clone(),
        via: Via::Session,
        request_id: request_id(headers),
        client_ip: Some(address.to_owned()),
        admin_id: Some(account.id),
        scope: crate::domain::PermissionSet::ALL,
    }
}

/// The account of a half-done login, as its 2FA events name it.
pub(super) fn subject_of(account: &Credentials) -> Subject<'_> {
    Subject {
        user_id: account.id,
        email: &account.email,
    }
}

/// A login attempt of `account` from this request, for the trail.
pub(super) fn attempt_of<'a>(
    account: &'a Credentials,
    headers: &HeaderMap,
    address: &str,
) -> Attempt<'a> {
    Attempt {
        email: &account.email,
        request_id: request_id(headers),
        client_ip: address.to_owned(),
    }
}

/// The half-done login of this session and its account, while both still hold
/// (the account an active admin, its session epoch unchanged); otherwise the
/// session is ended.
pub(super) async fn pending_account(
    state: &AppState,
    session: &AdminSession,
) -> AppResult<Option<(PendingLogin, Credentials)>> {
    let Some(pending) = session.pending_login().await? else {
        return Ok(None);
    };
    match db::users::credentials_by_id(&state.db, pending.user_id).await? {
        Some(account) if account.may_log_in() && account.session_epoch == pending.epoch => {
            Ok(Some((pending, account)))
        }
        _ => {
            session.end().await?;
            Ok(None)
        }
    }
}

pub(super) fn throttle(state: &AppState) -> CodeThrottle {
    CodeThrottle::new(state.redis.clone(), &state.settings.redis_key_prefix)
}

pub(super) fn too_many(status_page: Response, retry_after_secs: u64) -> Response {
    let mut response = status_page;
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

pub(super) fn too_many_message(retry_after_secs: u64) -> String {
    format!(
        "Too many wrong codes. Try again in {}.",
        crate::domain::count(retry_after_secs.div_ceil(60), "minute", "minutes")
    )
}
