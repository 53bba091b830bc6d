//! The second step of a login, on `/login/2fa`.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::routes::{
    WRONG_CODE, attempt_of, pending_account, pending_actor, subject_of, throttle, too_many,
    too_many_message,
};
use crate::db::{self, users::Credentials};
use crate::http::pages::Layout;
use crate::{
    auth::{AuthError, code_throttle::CodeThrottle},
    domain::{CONTROL_CHARACTERS, has_control_characters},
    http::error::AppResult,
    http::session::{AdminSession, PendingLogin},
    http::{body::Body, client_ip::ClientIp, negotiate::Format, respond::html_only},
    state::AppState,
};

#[derive(Template, WebTemplate)]
#[template(path = "auth/second_step.html")]
pub struct SecondStepPage {
    pub layout: Layout,
    pub error: Option<String>,
}

pub(super) async fn second_step_page(
    session: &AdminSession,
    status: StatusCode,
    error: Option<String>,
) -> AppResult<Response> {
    let page = SecondStepPage {
        layout: Layout {
            flash: session.take_flash().await?,
            ..Layout::anonymous("Two-factor login", session.csrf_token().await?)
        },
        error,
    };
    Ok((status, page).into_response())
}

pub(super) async fn second_step_form(
    State(state): State<AppState>,
    format: Format,
    session: AdminSession,
) -> AppResult<Response> {
    html_only(format)?;
    match pending_account(&state, &session).await? {
        Some((pending, _)) if pending.enrol => Ok(Redirect::to("/account/2fa").into_response()),
        Some(_) => second_step_page(&session, StatusCode::OK, None).await,
        None => Ok(Redirect::to("/login").into_response()),
    }
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) csrf_token: String,
}

pub(super) async fn second_step(
    State(state): State<AppState>,
    format: Format,
    session: AdminSession,
    headers: HeaderMap,
    ClientIp(address): ClientIp,
    Body(form): Body<CodeForm>,
) -> AppResult<Response> {
    html_only(format)?;
    let (pending, account, secret) = match second_step_ready(&state, &session, &form).await? {
        Ok(ready) => ready,
        Err(answer) => return Ok(answer),
    };
    let throttle = throttle(&state);
    if let Some(retry_after_secs) = over_limit(&throttle, account.id).await? {
        let message = too_many_message(retry_after_secs);
        let page = second_step_page(&session, StatusCode::TOO_MANY_REQUESTS, Some(message)).await?;
        return Ok(too_many(page, retry_after_secs));
    }
    let actor = pending_actor(&account, &headers, &address);
    let attempt = attempt_of(&account, &headers, &address);
    let subject = subject_of(&account);
    let code = &form.code;
    if !state
        .writer
        .second_step(&actor, subject, &secret, code, attempt)
        .await?
    {
        tracing::info!(user_id = account.id, client = %address, "wrong second-step code");
        crate::metrics::two_factor_failure();
        return second_step_page(&session, StatusCode::UNAUTHORIZED, Some(WRONG_CODE.into())).await;
    }
    throttle.succeeded(account.id).await?;
    let welcome = format!("Welcome, {}.", account.name);
    session
        .complete_login(account.id, account.session_epoch, welcome)
        .await?;
    tracing::info!(user_id = account.id, "logged in with a second factor");
    Ok(Redirect::to(&pending.next).into_response())
}

/// What the second step checks before a code is counted: the half-done login
/// still holds, it waits for a code (not an enrolment), the form is this
/// session's, the code is plain text, and the admin still has a second factor
/// (its key). Otherwise the answer to give instead.
pub(super) async fn second_step_ready(
    state: &AppState,
    session: &AdminSession,
    form: &CodeForm,
) -> AppResult<Result<(PendingLogin, Credentials, Vec<u8>), Response>> {
    let Some((pending, account)) = pending_account(state, session).await? else {
        return Ok(Err(Redirect::to("/login").into_response()));
    };
    if pending.enrol {
        return Ok(Err(Redirect::to("/account/2fa").into_response()));
    }
    session.verify_csrf(Some(&form.csrf_token)).await?;
    if has_control_characters(&form.code, true) {
        // Refused as input, before a code is counted or checked.
        let error = Some(format!("code: {CONTROL_CHARACTERS}."));
        let page = second_step_page(session, StatusCode::UNPROCESSABLE_ENTITY, error).await?;
        return Ok(Err(page));
    }
    let Some(factor) = db::two_factor::find(&state.db, account.id)
        .await?
        .filter(|f| f.is_enabled())
    else {
        // Reset by another admin meanwhile: start again from the password.
        session.end().await?;
        return Ok(Err(Redirect::to("/login").into_response()));
    };
    Ok(Ok((pending, account, factor.secret)))
}

/// Counts a code attempt; `Some(retry after)` when the admin is over the limit,
/// so the caller can show its page with the message.
pub(super) async fn over_limit(throttle: &CodeThrottle, user_id: i64) -> AppResult<Option<u64>> {
    match throttle.attempt(user_id).await {
        Ok(()) => Ok(None),
        Err(AuthError::TooManyAttempts { retry_after_secs }) => Ok(Some(retry_after_secs)),
        Err(other) => Err(other.into()),
    }
}
