//! Logging in and out, and changing one's own password (HTML only: scripts use
//! API tokens).

use axum::{
    Extension, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    auth::{AuthMethod, CurrentAdmin, session, throttle::LoginKey},
    db,
    domain::{FieldErrors, Password},
    error::{AppError, AppResult},
    http::{
        body::Body,
        client_ip::ClientIp,
        layout,
        negotiate::Format,
        pages::{LoginPage, PasswordPage},
    },
    state::AppState,
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

const NO_JSON_LOGIN: &str =
    "JSON login is not offered: scripts authenticate with Authorization: Bearer <token>";
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
    session: Session,
    headers: HeaderMap,
    Query(params): Query<NextParam>,
) -> AppResult<Response> {
    if format == Format::Json {
        return Err(AppError::BadRequest(NO_JSON_LOGIN.into()));
    }
    let next = safe_next(params.next.as_deref());
    if session::login(&session).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
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
    session: &Session,
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
    session: Session,
    headers: HeaderMap,
    ClientIp(address): ClientIp,
    Body(form): Body<LoginForm>,
) -> AppResult<Response> {
    if format == Format::Json {
        return Err(AppError::BadRequest(NO_JSON_LOGIN.into()));
    }
    state.login_csrf.verify(&headers, &form.csrf_token)?;
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
        Err(AppError::TooManyRequests { retry_after_secs }) => {
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
        Err(other) => return Err(other),
    }

    let account = db::users::credentials_by_email(&state.db, &email).await?;
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
    // Unknown emails are verified against a dummy hash: same work, same timing.
    let password_ok = state.hasher.verify(form.password, stored_hash).await?;
    let account = account.filter(|a| password_ok && a.is_admin);
    let Some(account) = account else {
        tracing::info!(client = %address, "failed login");
        return again(StatusCode::UNAUTHORIZED, LOGIN_FAILED.to_owned()).await;
    };
    state
        .throttle
        .login_succeeded(&account_key, &address)
        .await?;
    session::start(&session, account.id, account.session_epoch).await?;
    session::set_flash(&session, format!("Welcome, {}.", account.name)).await?;
    tracing::info!(user_id = account.id, "logged in");
    Ok(Redirect::to(&next).into_response())
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

async fn logout(session: Session, Body(form): Body<LogoutForm>) -> AppResult<Response> {
    session::verify_csrf(&session, Some(&form.csrf_token)).await?;
    session::end(&session).await?;
    Ok(Redirect::to("/login").into_response())
}

async fn password_form(
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
) -> AppResult<Response> {
    if format == Format::Json {
        return Err(AppError::BadRequest(
            "change a password with PATCH /users/{id} {\"password\": …}".into(),
        ));
    }
    Ok(PasswordPage {
        layout: layout::for_admin(&session, &admin, "Change your password").await?,
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
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    Body(form): Body<PasswordForm>,
) -> AppResult<Response> {
    // This page renews the browser session it changes the password for; scripts
    // set passwords with PATCH /users/{id}.
    if admin.via != AuthMethod::Session {
        return Err(AppError::BadRequest(
            "change a password with PATCH /users/{id} {\"password\": …}".into(),
        ));
    }
    let mut errors = FieldErrors::default();
    let account = db::users::credentials_by_id(&state.db, admin.user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if !state
        .hasher
        .verify(form.current_password, account.password_hash)
        .await?
    {
        errors.add("current_password", "is not your current password");
    }
    let new_password = errors.take("new_password", Password::parse(&form.new_password));
    if form.new_password != form.confirm_password {
        errors.add("confirm_password", "does not match the new password");
    }
    let (Some(new_password), true) = (new_password, errors.is_empty()) else {
        let page = PasswordPage {
            layout: layout::for_admin(&session, &admin, "Change your password").await?,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let hash = state.hasher.hash(&new_password).await?;
    let epoch = db::users::set_password(&state.db, admin.user_id, &hash).await?;
    state.user_cache.invalidate().await;
    // This session stays logged in, under a new id; every other one has ended.
    let login = session::login(&session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    session::renew(&session, login, epoch).await?;
    session::set_flash(
        &session,
        "Your password was changed. Other sessions were logged out.",
    )
    .await?;
    Ok(Redirect::to("/users").into_response())
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
