//! Logging in and out, and changing one's own password (HTML only: scripts use
//! API tokens).

use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::http::routes::{self as r, Access, Routes};
use crate::login::pages::LoginPage;
use crate::login::pages::PasswordPage;
use crate::metrics::{self, LoginResult};
use crate::{
    auth::{AuthError, throttle::LoginKey},
    db::{self, users::Credentials},
    domain::{CONTROL_CHARACTERS, FieldErrors, Password, UserEmail, has_control_characters},
    http::error::{AppError, AppResult},
    http::session::AdminSession,
    http::{
        body::Body,
        client_ip::ClientIp,
        layout,
        negotiate::Format,
        respond::{AdminContext, form_errors, html_only},
    },
    state::AppState,
    two_factor::routes::after_password,
    write::{Actor, Attempt, Via},
};

/// Routes anyone may reach.
pub fn public_router() -> Routes {
    Routes::new()
        .route(
            "/login",
            r::get(Access::Public, login_form).post(Access::Public, login),
        )
        .route("/logout", r::post(Access::Login, logout))
}

/// Routes for a logged-in admin.
pub fn router() -> Routes {
    Routes::new().route(
        "/account/password",
        r::get(Access::Login, password_form).post(Access::Login, change_password),
    )
}

const LOGIN_FAILED: &str = "Email or password is incorrect.";

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

/// Only same-site relative paths are followed after login; anything else (an
/// absolute URL, `//host`, `/\host`) goes to the user list.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => "/users".to_owned(),
    }
}

async fn login_form(
    State(state): State<AppState>,
    format: Format,
    session: AdminSession,
    headers: HeaderMap,
    Query(params): Query<NextParam>,
) -> AppResult<Response> {
    html_only(format)?;
    if params
        .next
        .as_deref()
        .is_some_and(|next| has_control_characters(next, false))
    {
        return Err(AppError::BadRequest(format!("next: {CONTROL_CHARACTERS}")));
    }
    let next = safe_next(params.next.as_deref());
    if session.exists() && session.login().await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    if session.pending_login().await?.is_some() {
        return Ok(Redirect::to("/login/2fa").into_response());
    }
    login_page(
        &state,
        &session,
        &headers,
        StatusCode::OK,
        String::new(),
        next,
        None,
    )
    .await
}

/// The login form. Its CSRF token lives in a signed cookie, not in the session,
/// so showing it to an anonymous visitor stores nothing.
async fn login_page(
    state: &AppState,
    session: &AdminSession,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    next: String,
    error: Option<String>,
) -> AppResult<Response> {
    let (csrf, set_cookie) = state.login_csrf.token_for(headers);
    let page = LoginPage {
        layout: layout::anonymous(session, "Log in", csrf).await?,
        email,
        next,
        error,
    };
    let mut response = (status, page).into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf_token: String,
}

async fn login(
    State(state): State<AppState>,
    format: Format,
    session: AdminSession,
    headers: HeaderMap,
    ClientIp(address): ClientIp,
    Body(form): Body<LoginForm>,
) -> AppResult<Response> {
    html_only(format)?;
    state.login_csrf.verify(&headers, &form.csrf_token)?;
    let mut again = LoginAgain::new(&state, &session, &headers);
    if let Some(field) = refused_field(&form) {
        let error = format!("{field}: {CONTROL_CHARACTERS}.");
        return again.show(StatusCode::UNPROCESSABLE_ENTITY, error).await;
    }
    again.next = safe_next(Some(&form.next));
    again.email = form.email.trim().to_owned();
    let (email, next) = (&again.email, &again.next);
    // The attempt counts before the password is checked, against the account
    // exactly as the lookup below will find it.
    let account_key = LoginKey::from_database(db::users::login_key(&state.db, email).await?);
    if let Some(retry_after_secs) = over_limit(&state, &account_key, &address).await? {
        metrics::login(LoginResult::Throttled);
        return again.too_many(retry_after_secs).await;
    }
    let attempt = || attempt_of(email, &headers, &address);
    let Some(account) = password_login(&state, email, form.password, attempt()).await? else {
        tracing::info!(client = %address, "failed login");
        metrics::login(LoginResult::Failure);
        return again
            .show(StatusCode::UNAUTHORIZED, LOGIN_FAILED.to_owned())
            .await;
    };
    let response = password_accepted(&state, &session, account, attempt(), next).await?;
    state
        .throttle
        .login_succeeded(&account_key, &address)
        .await?;
    Ok(response)
}

/// The login form's first field with a control character, if any: refused
/// before anything is looked up or counted (a NUL would fail the lookup's
/// statement), with 422 naming the field.
fn refused_field(form: &LoginForm) -> Option<&'static str> {
    if UserEmail::login_input(&form.email).is_err() {
        Some("email")
    } else if has_control_characters(&form.password, false) {
        Some("password")
    } else if has_control_characters(&form.next, false) {
        Some("next")
    } else {
        None
    }
}

/// Counts a login attempt; `Some(retry after)` when the account or the address
/// is over the limit.
async fn over_limit(state: &AppState, key: &LoginKey, address: &str) -> AppResult<Option<u64>> {
    match state.throttle.login_attempt(key, address).await {
        Ok(()) => Ok(None),
        Err(AuthError::TooManyAttempts { retry_after_secs }) => Ok(Some(retry_after_secs)),
        Err(other) => Err(other.into()),
    }
}

fn attempt_of<'a>(email: &'a str, headers: &HeaderMap, address: &str) -> Attempt<'a> {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Attempt {
        email,
        request_id,
        client_ip: address.to_owned(),
    }
}

/// The account `email` names, when `password` is its own and it may log in;
/// otherwise the failed attempt is recorded.
async fn password_login(
    state: &AppState,
    email: &str,
    password: String,
    attempt: Attempt<'_>,
) -> AppResult<Option<Credentials>> {
    let account = db::users::credentials_by_email(&state.db, email).await?;
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
    // Unknown emails are verified against a dummy hash: same work, same timing.
    let password_ok = state.hasher.verify(password, stored_hash).await?;
    let named = account.as_ref().map(|a| a.id);
    let account = account.filter(|a| password_ok && a.may_log_in());
    if account.is_none() {
        state.writer.login_failed(named, attempt).await?;
    }
    Ok(account)
}

/// The password was right: the login completes, unless a second step must
/// follow (a second factor, or `REQUIRE_2FA`), when it only half does.
async fn password_accepted(
    state: &AppState,
    session: &AdminSession,
    account: Credentials,
    attempt: Attempt<'_>,
    next: &str,
) -> AppResult<Response> {
    if let Some(second_step) = after_password(state, session, &account, next).await? {
        return Ok(second_step);
    }
    (state.writer)
        .complete_login(account.id, &account.email, attempt)
        .await?;
    let welcome = format!("Welcome, {}.", account.name);
    (session.complete_login(account.id, account.session_epoch, welcome)).await?;
    tracing::info!(user_id = account.id, "logged in");
    Ok(Redirect::to(next).into_response())
}

/// The login form again, as this request shows it: the email typed and where
/// to go next kept.
struct LoginAgain<'a> {
    state: &'a AppState,
    session: &'a AdminSession,
    headers: &'a HeaderMap,
    email: String,
    next: String,
}

impl<'a> LoginAgain<'a> {
    fn new(state: &'a AppState, session: &'a AdminSession, headers: &'a HeaderMap) -> Self {
        Self {
            state,
            session,
            headers,
            email: String::new(),
            next: "/users".to_owned(),
        }
    }

    async fn show(&self, status: StatusCode, error: String) -> AppResult<Response> {
        let (email, next) = (self.email.clone(), self.next.clone());
        login_page(
            self.state,
            self.session,
            self.headers,
            status,
            email,
            next,
            Some(error),
        )
        .await
    }

    /// 429, with the wait.
    async fn too_many(&self, retry_after_secs: u64) -> AppResult<Response> {
        let minutes = crate::domain::count(retry_after_secs.div_ceil(60), "minute", "minutes");
        let error = format!("Too many failed attempts. Try again in {minutes}.");
        let mut response = self.show(StatusCode::TOO_MANY_REQUESTS, error).await?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        Ok(response)
    }
}

/// Ends the browser's session. A session still valid is checked like any
/// state-changing request (its CSRF token) and its logout audited; one that has
/// already ended is simply forgotten.
async fn logout(
    State(state): State<AppState>,
    session: AdminSession,
    actor: Option<Actor>,
) -> AppResult<Response> {
    if let Some(actor) = actor.filter(|a| a.via == Via::Session) {
        state.writer.logged_out(&actor).await?;
    }
    session.end().await?;
    Ok(Redirect::to("/login").into_response())
}

async fn password_form(ctx: AdminContext) -> AppResult<Response> {
    ctx.html_only()?;
    Ok(PasswordPage {
        layout: ctx.layout("Change your password").await?,
        errors: FieldErrors::default(),
    }
    .into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    ctx: AdminContext,
    Body(form): Body<PasswordForm>,
) -> AppResult<Response> {
    ctx.html_only()?;
    // This page renews the browser session it changes the password for; scripts
    // set passwords with PATCH /users/{id}.
    if !ctx.admin.by_session() {
        return Err(AppError::BadRequest(
            "change a password with PATCH /users/{id} {\"password\": …, \"current_password\": …}"
                .into(),
        ));
    }
    let epoch = match change_own_password(&state, &ctx, form).await {
        Ok(epoch) => epoch,
        Err(error) => {
            let mut page = PasswordPage {
                layout: ctx.layout("Change your password").await?,
                errors: FieldErrors::default(),
            };
            let status = form_errors(error, &mut page.errors)?;
            return Ok((status, page).into_response());
        }
    };
    // This session stays logged in, under a new id; every other one has ended.
    ctx.session.renew(epoch).await?;
    ctx.redirect_with_flash(
        "/users",
        "Your password was changed. Other sessions were logged out.".into(),
    )
    .await
}

/// Changes the admin's own password when the form is right; otherwise every
/// error at once (the current password is checked too). The new session epoch.
async fn change_own_password(
    state: &AppState,
    ctx: &AdminContext,
    form: PasswordForm,
) -> Result<i32, AppError> {
    let (new_password, mut errors) = check_password_form(&form);
    let user_id = ctx.admin.user_id;
    if let (Some(new_password), true) = (new_password, errors.is_empty()) {
        return Ok((state.writer)
            .change_own_password(&ctx.actor, user_id, form.current_password, &new_password)
            .await?);
    }
    let current = Some(form.current_password);
    Err(
        match state
            .writer
            .confirm_current_password(user_id, current)
            .await
        {
            Err(crate::write::WriteError::Invalid(current)) => {
                errors.merge(current);
                AppError::Validation(errors)
            }
            Err(other) => other.into(),
            Ok(()) => AppError::Validation(errors),
        },
    )
}

/// The new password, if valid, and what is wrong with the form as typed.
fn check_password_form(form: &PasswordForm) -> (Option<Password>, FieldErrors) {
    let mut errors = FieldErrors::default();
    let new_password = errors.take("new_password", Password::parse(&form.new_password));
    if has_control_characters(&form.confirm_password, false) {
        errors.add("confirm_password", CONTROL_CHARACTERS);
    } else if form.new_password != form.confirm_password {
        errors.add("confirm_password", "does not match the new password");
    }
    if has_control_characters(&form.current_password, false) {
        // Told apart from a wrong password, and not checked against the hash.
        errors.add("current_password", CONTROL_CHARACTERS);
    }
    (new_password, errors)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_same_site_paths_are_followed() {
        assert_eq!(safe_next(Some("/users?q=a")), "/users?q=a");
        assert_eq!(safe_next(Some("/users/5/edit")), "/users/5/edit");
        for evil in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
            "/\\/x",
        ] {
            assert_eq!(safe_next(Some(evil)), "/users", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/users");
    }
}
