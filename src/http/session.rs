//! The login session, typed: one record per browser (tower-sessions, kept in
//! Redis) holding who is logged in, the CSRF token and the one-shot flash
//! message, read and written as one struct rather than by string keys.

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{config::Settings, http::error::AppError};

/// The one key the record is kept under.
const KEY: &str = "useradmin";

/// Who a session belongs to, and since when.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Login {
    pub user_id: i64,
    /// The account's session epoch at login; a password change or a demotion
    /// moves it on, which ends every session of that account made before.
    pub epoch: i32,
    /// Unix seconds of the login, for the absolute lifetime.
    pub at: i64,
}

/// A session "half logged in": the password was right, the second step (a
/// code, or enrolment when `REQUIRE_2FA` asks for it) is still to come. Kept
/// apart from `login`, so no route that wants an admin accepts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub user_id: i64,
    pub epoch: i32,
    /// Unix seconds of the password step; the second step must follow soon.
    pub at: i64,
    /// Where to go once logged in (already checked by `safe_next`).
    pub next: String,
    /// True when the admin has no second factor and must enrol first.
    pub enrol: bool,
}

/// How long after the password the second step may come.
pub const PENDING_MAX_SECS: i64 = 10 * 60;

/// What a confirmed import did: its file, how many users it created, updated
/// and left unchanged, and its events in the audit trail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportResult {
    pub source: String,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub audit_href: String,
}

/// How long an enrolment key drawn and not confirmed stays usable (SPEC §13).
pub const ENROLMENT_MAX_SECS: i64 = 10 * 60;

/// A second-factor key drawn for enrolment and not confirmed yet. It lives only
/// here, in the session that drew it: another session (even of the same admin)
/// draws its own, so a key seen by someone who knew only the password is never
/// the one the admin later confirms.
#[derive(Clone, Serialize, Deserialize)]
struct Enrolment {
    user_id: i64,
    /// The secret, hex-encoded.
    secret: String,
    /// Unix seconds of the drawing.
    at: i64,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("Enrolment")
            .field("user_id", &self.user_id)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl Enrolment {
    /// The secret, if this enrolment is `user_id`'s and still fresh.
    fn secret_for(&self, user_id: i64, now: i64) -> Option<Vec<u8>> {
        let fresh = (0..=ENROLMENT_MAX_SECS).contains(&(now - self.at));
        if self.user_id != user_id || !fresh {
            return None;
        }
        hex::decode(&self.secret).ok()
    }
}

/// Everything a session holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SessionData {
    login: Option<Login>,
    csrf: Option<String>,
    flash: Option<String>,
    /// Unix seconds of the last time the idle expiry was moved on.
    slid_at: Option<i64>,
    /// The import this session previewed and may confirm.
    #[serde(default)]
    pending_import: Option<String>,
    /// What the import this session confirmed last did, for its result page.
    #[serde(default)]
    import_result: Option<ImportResult>,
    /// The password step of a two-factor login, done.
    #[serde(default)]
    pending_login: Option<PendingLogin>,
    /// The second-factor key this session is enrolling with.
    #[serde(default)]
    enrolment: Option<Enrolment>,
}

/// A browser's session. Reading it costs one Redis GET per request (the record
/// is loaded once); nothing is written until something changes.
#[derive(Clone)]
pub struct AdminSession(Session);

impl<S: Send + Sync> FromRequestParts<S> for AdminSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, message)| {
                AppError::Internal(anyhow::anyhow!("the session layer is missing: {message}"))
            })?;
        Ok(Self(session))
    }
}

/// The idle expiry from the settings: it slides while the session is in use.
pub fn idle_expiry(settings: &Settings) -> tower_sessions::Expiry {
    let idle =
        time::Duration::try_from(settings.session_idle).unwrap_or(time::Duration::minutes(30));
    tower_sessions::Expiry::OnInactivity(idle)
}

fn unavailable(error: tower_sessions::session::Error) -> AppError {
    tracing::warn!(error = %error, "session store unavailable");
    AppError::Unavailable("login sessions are unavailable right now; try again shortly")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl AdminSession {
    /// Whether the browser sent a session cookie at all (without one, nothing
    /// is read from Redis).
    pub fn exists(&self) -> bool {
        self.0.id().is_some()
    }

    async fn data(&self) -> Result<SessionData, AppError> {
        Ok(self
            .0
            .get::<SessionData>(KEY)
            .await
            .map_err(unavailable)?
            .unwrap_or_default())
    }

    async fn store(&self, data: &SessionData) -> Result<(), AppError> {
        self.0.insert(KEY, data).await.map_err(unavailable)
    }

    pub async fn login(&self) -> Result<Option<Login>, AppError> {
        Ok(self.data().await?.login)
    }

    /// The session's part of a login that completes, whichever way it does
    /// (the password alone, the second step, or the enrolment a login
    /// required): `user_id` logged in, at session epoch `epoch`, under a new
    /// session id (no fixation) and a new CSRF token. The database's part is
    /// `Writer::complete_login`, made first.
    pub async fn complete_login(
        &self,
        user_id: i64,
        epoch: i32,
        flash: String,
    ) -> Result<(), AppError> {
        self.0.cycle_id().await.map_err(unavailable)?;
        let data = SessionData {
            login: Some(Login {
                user_id,
                epoch,
                at: now(),
            }),
            csrf: Some(new_token()),
            flash: Some(flash),
            slid_at: Some(now()),
            pending_import: None,
            import_result: None,
            pending_login: None,
            enrolment: None,
        };
        self.store(&data).await?;
        self.0.save().await.map_err(unavailable)?;
        crate::metrics::login(crate::metrics::LoginResult::Success);
        Ok(())
    }

    /// The password was right and a second step must follow: a new session id
    /// (no fixation) and CSRF token, but no login yet.
    pub async fn start_pending(&self, pending: PendingLogin) -> Result<(), AppError> {
        self.0.cycle_id().await.map_err(unavailable)?;
        let data = SessionData {
            csrf: Some(new_token()),
            slid_at: Some(now()),
            pending_login: Some(pending),
            ..SessionData::default()
        };
        self.store(&data).await?;
        self.0.save().await.map_err(unavailable)
    }

    /// The half-done login, while it is recent enough.
    pub async fn pending_login(&self) -> Result<Option<PendingLogin>, AppError> {
        if !self.exists() {
            return Ok(None);
        }
        let pending = self.data().await?.pending_login;
        Ok(pending.filter(|p| (0..=PENDING_MAX_SECS).contains(&(now() - p.at))))
    }

    /// Records a new epoch for this session (after its own password change) and
    /// gives it a new id; every other session of the account has ended.
    pub async fn renew(&self, epoch: i32) -> Result<(), AppError> {
        let mut data = self.data().await?;
        let Some(login) = data.login else {
            return Ok(());
        };
        self.0.cycle_id().await.map_err(unavailable)?;
        data.login = Some(Login { epoch, ..login });
        self.store(&data).await?;
        self.0.save().await.map_err(unavailable)
    }

    /// Logs out: deletes the record in Redis and expires the cookie.
    pub async fn end(&self) -> Result<(), AppError> {
        self.0.flush().await.map_err(unavailable)
    }

    /// Moves the idle expiry on for a session in use, whatever the request's
    /// format (a script holding a cookie and asking for JSON counts too).
    /// Writing on every request would cost a Redis write each and re-send the
    /// cookie each time, so it slides at most every quarter of the idle time
    /// (at most once a minute): never late enough for an active session to lapse.
    pub async fn keep_alive(&self, settings: &Settings) -> Result<(), AppError> {
        let now = now();
        let every = (settings.session_idle.as_secs() / 4).clamp(1, 60) as i64;
        let mut data = self.data().await?;
        if data.slid_at.is_none_or(|at| now - at >= every || now < at) {
            data.slid_at = Some(now);
            self.store(&data).await?;
        }
        Ok(())
    }

    /// The session's CSRF token, created on first use.
    pub async fn csrf_token(&self) -> Result<String, AppError> {
        let mut data = self.data().await?;
        if let Some(token) = data.csrf {
            return Ok(token);
        }
        let token = new_token();
        data.csrf = Some(token.clone());
        self.store(&data).await?;
        Ok(token)
    }

    /// Accepts a state-changing request only with this session's token.
    pub async fn verify_csrf(&self, provided: Option<&str>) -> Result<(), AppError> {
        match (self.data().await?.csrf, provided) {
            (Some(expected), Some(provided))
                if constant_time_eq(expected.as_bytes(), provided.as_bytes()) =>
            {
                Ok(())
            }
            _ => Err(AppError::Forbidden(
                "the form has expired or did not come from this site (CSRF check failed); reload the page and try again".into(),
            )),
        }
    }

    /// The key `user_id` enrols with in this session: the one drawn here less
    /// than [`ENROLMENT_MAX_SECS`] ago, else a new one (kept in this session
    /// only, never in the database).
    pub async fn enrolment_key(&self, user_id: i64) -> Result<Vec<u8>, AppError> {
        let mut data = self.data().await?;
        let now = now();
        if let Some(secret) = data
            .enrolment
            .as_ref()
            .and_then(|e| e.secret_for(user_id, now))
        {
            return Ok(secret);
        }
        let secret = crate::auth::totp::new_secret();
        data.enrolment = Some(Enrolment {
            user_id,
            secret: hex::encode(&secret),
            at: now,
        });
        self.store(&data).await?;
        Ok(secret)
    }

    /// The key this session drew for `user_id`, while it is fresh: the only key
    /// a confirmation from this session may enable.
    pub async fn drawn_enrolment_key(&self, user_id: i64) -> Result<Option<Vec<u8>>, AppError> {
        Ok(self
            .data()
            .await?
            .enrolment
            .and_then(|e| e.secret_for(user_id, now())))
    }

    /// Forgets the enrolment key (confirmed, or no longer wanted).
    pub async fn drop_enrolment_key(&self) -> Result<(), AppError> {
        let mut data = self.data().await?;
        if data.enrolment.take().is_some() {
            self.store(&data).await?;
        }
        Ok(())
    }

    /// Binds a previewed import to this session: only it can confirm it.
    pub async fn hold_import(&self, id: &str) -> Result<(), AppError> {
        let mut data = self.data().await?;
        data.pending_import = Some(id.to_owned());
        self.store(&data).await
    }

    /// Whether this session previewed the import `id`.
    pub async fn holds_import(&self, id: &str) -> Result<bool, AppError> {
        let held = self.data().await?.pending_import;
        Ok(held.is_some_and(|held| constant_time_eq(held.as_bytes(), id.as_bytes())))
    }

    /// The import this session previewed, if it holds one.
    pub async fn pending_import(&self) -> Result<Option<String>, AppError> {
        Ok(self.data().await?.pending_import)
    }

    /// Keeps what a confirmed import did, for the page the confirmation
    /// redirects to (shown again on reload, until the next import).
    pub async fn keep_import_result(&self, result: ImportResult) -> Result<(), AppError> {
        let mut data = self.data().await?;
        data.import_result = Some(result);
        self.store(&data).await
    }

    pub async fn import_result(&self) -> Result<Option<ImportResult>, AppError> {
        Ok(self.data().await?.import_result)
    }

    pub async fn release_import(&self) -> Result<(), AppError> {
        let mut data = self.data().await?;
        if data.pending_import.take().is_some() {
            self.store(&data).await?;
        }
        Ok(())
    }

    pub async fn set_flash(&self, message: impl Into<String>) -> Result<(), AppError> {
        let mut data = self.data().await?;
        data.flash = Some(message.into());
        self.store(&data).await
    }

    /// The flash left by the previous request, once; nothing is written when
    /// there is none.
    pub async fn take_flash(&self) -> Result<Option<String>, AppError> {
        if !self.exists() {
            return Ok(None);
        }
        let mut data = self.data().await?;
        let flash = data.flash.take();
        if flash.is_some() {
            self.store(&data).await?;
        }
        Ok(flash)
    }
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
