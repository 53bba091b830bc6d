//! Logging in and out, and changing one's own password (HTML only: scripts use
//! API tokens).

use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::login::pages::LoginPage;
use crate::login::pages::PasswordPage;
use crate::{
    auth::{AuthError, throttle::LoginKey},
    db,
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
    write::{Actor, Attempt, Via},
};

/// Routes anyone may reach.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

/// Routes for a logged-in admin.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/account/password",
        get(password_form).post(change_password),
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
    // A control character is refused before anything is looked up or counted
    // (a NUL would fail the lookup's statement): 422, naming the field.
    let refused = if UserEmail::login_input(&form.email).is_err() {
        Some("email")
    } else if has_control_characters(&form.password, false) {
        Some("password")
    } else if has_control_characters(&form.next, false) {
        Some("next")
    } else {
        None
    };
    if let Some(field) = refused {
        return login_page(
            &state,
            &session,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            "/users".to_owned(),
            Some(format!("{field}: {CONTROL_CHARACTERS}.")),
        )
        .await;
    }
    let next = safe_next(Some(&form.next));
    let email = form.email.trim().to_owned();
    let again = |status: StatusCode, error: String| {
        login_page(
            &state,
            &session,
            &headers,
            status,
            email.clone(),
            next.clone(),
            Some(error),
        )
    };

    // The attempt counts before the password is checked, against the account
    // exactly as the lookup below will find it.
    let account_key = LoginKey::from_database(db::users::login_key(&state.db, &email).await?);
    match state.throttle.login_attempt(&account_key, &address).await {
        Ok(()) => {}
        Err(AuthError::TooManyAttempts { retry_after_secs }) => {
            let minutes = retry_after_secs.div_ceil(60);
            let mut response = again(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed attempts. Try again in {minutes} minute(s)."),
            )
            .await?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(response);
        }
        Err(other) => return Err(other.into()),
    }

    let account = db::users::credentials_by_email(&state.db, &email).await?;
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
    // Unknown emails are verified against a dummy hash: same work, same timing.
    let password_ok = state.hasher.verify(form.password, stored_hash).await?;
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let attempt = Attempt {
        email: &email,
        request_id,
        client_ip: address.clone(),
    };
    let named = account.as_ref().map(|a| a.id);
    let Some(account) = account.filter(|a| password_ok && a.is_active_admin()) else {
        tracing::info!(client = %address, "failed login");
        state.writer.login_failed(named, attempt).await?;
        return again(StatusCode::UNAUTHORIZED, LOGIN_FAILED.to_owned()).await;
    };
    // With a second factor (or `REQUIRE_2FA`), the password only half logs in.
    if let Some(second_step) =
        crate::two_factor::routes::after_password(&state, &session, &account, &next).await?
    {
        state
            .throttle
            .login_succeeded(&account_key, &address)
            .await?;
        return Ok(second_step);
    }
    state
        .writer
        .complete_login(account.id, &account.email, attempt)
        .await?;
    state
        .throttle
        .login_succeeded(&account_key, &address)
        .await?;
    session
        .complete_login(
            account.id,
            account.session_epoch,
            format!("Welcome, {}.", account.name),
        )
        .await?;
    tracing::info!(user_id = account.id, "logged in");
    Ok(Redirect::to(&next).into_response())
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
    let written = match (new_password, errors.is_empty()) {
        (Some(new_password), true) => state
            .writer
            .change_own_password(
                &ctx.actor,
                ctx.admin.user_id,
                form.current_password,
                &new_password,
            )
            .await
            .map_err(AppError::from),
        // Every error at once: the current password is checked too.
        _ => Err(
            match state
                .writer
                .confirm_current_password(ctx.admin.user_id, Some(form.current_password))
                .await
            {
                Err(crate::write::WriteError::Invalid(current)) => {
                    errors.merge(current);
                    AppError::Validation(errors)
                }
                Err(other) => other.into(),
                Ok(()) => AppError::Validation(errors),
            },
        ),
    };
    let epoch = match written {
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
