//! Typed access to the login session (tower-sessions, stored in Redis): who is
//! logged in, the CSRF token, and the one-shot flash message.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::error::AppError;

const LOGIN: &str = "login";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
const SLID_AT: &str = "slid_at";

/// Who a session belongs to, and since when.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Login {
    pub user_id: i64,
    /// The account's session epoch at login; a password change moves it on,
    /// which ends every other session of that account.
    pub epoch: i32,
    /// Unix seconds of the login, for the absolute lifetime.
    pub at: i64,
}

/// The idle expiry from the settings: it slides with every authenticated request.
pub fn idle_expiry(settings: &crate::config::Settings) -> tower_sessions::Expiry {
    let idle =
        time::Duration::try_from(settings.session_idle).unwrap_or(time::Duration::minutes(30));
    tower_sessions::Expiry::OnInactivity(idle)
}

/// Moves the idle expiry on for a session in use, whatever the request's format
/// (a script holding a cookie and asking for JSON counts as activity too).
/// Writing on every request would cost a Redis write each and re-send the cookie
/// each time, so it slides at most every quarter of the idle time (at most once
/// a minute): never late enough for an active session to lapse.
pub async fn keep_alive(
    session: &Session,
    settings: &crate::config::Settings,
) -> Result<(), AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let every = (settings.session_idle.as_secs() / 4).clamp(1, 60) as i64;
    let slid_at: Option<i64> = session.get(SLID_AT).await.map_err(unavailable)?;
    if slid_at.is_none_or(|at| now - at >= every || now < at) {
        session.insert(SLID_AT, now).await.map_err(unavailable)?;
    }
    Ok(())
}

fn unavailable(error: tower_sessions::session::Error) -> AppError {
    tracing::warn!(error = %error, "session store unavailable");
    AppError::Unavailable("login sessions are unavailable right now; try again shortly")
}

pub async fn login(session: &Session) -> Result<Option<Login>, AppError> {
    session.get(LOGIN).await.map_err(unavailable)
}

/// Logs `user_id` in: a new session id (no fixation), a new CSRF token.
pub async fn start(session: &Session, user_id: i64, epoch: i32) -> Result<(), AppError> {
    session.cycle_id().await.map_err(unavailable)?;
    let login = Login {
        user_id,
        epoch,
        at: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    session.insert(LOGIN, login).await.map_err(unavailable)?;
    session
        .insert(CSRF, new_token())
        .await
        .map_err(unavailable)?;
    session.save().await.map_err(unavailable)
}

/// Records a new epoch for this session (after its own password change) and
/// gives it a new id.
pub async fn renew(session: &Session, login: Login, epoch: i32) -> Result<(), AppError> {
    session.cycle_id().await.map_err(unavailable)?;
    session
        .insert(LOGIN, Login { epoch, ..login })
        .await
        .map_err(unavailable)?;
    session.save().await.map_err(unavailable)
}

/// Logs out: deletes the record in Redis and expires the cookie.
pub async fn end(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(unavailable)
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = session.get::<String>(CSRF).await.map_err(unavailable)? {
        return Ok(token);
    }
    let token = new_token();
    session.insert(CSRF, &token).await.map_err(unavailable)?;
    Ok(token)
}

/// Accepts a state-changing request only with this session's token.
pub async fn verify_csrf(session: &Session, provided: Option<&str>) -> Result<(), AppError> {
    let expected = session.get::<String>(CSRF).await.map_err(unavailable)?;
    match (expected, provided) {
        (Some(expected), Some(provided)) if constant_time_eq(expected.as_bytes(), provided.as_bytes()) => Ok(()),
        _ => Err(AppError::Forbidden(
            "the form has expired or did not come from this site (CSRF check failed); reload the page and try again".into(),
        )),
    }
}

pub async fn set_flash(session: &Session, message: impl Into<String>) -> Result<(), AppError> {
    session
        .insert(FLASH, message.into())
        .await
        .map_err(unavailable)
}

pub async fn take_flash(session: &Session) -> Result<Option<String>, AppError> {
    session.remove(FLASH).await.map_err(unavailable)
}

fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_by_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
