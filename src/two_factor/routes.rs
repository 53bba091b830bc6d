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

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::{FromRequestParts, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use crate::db::{self, users::Credentials};
use crate::http::pages::Layout;
use crate::{
    auth::{AuthError, AuthMethod, CurrentAdmin, code_throttle::CodeThrottle, totp},
    domain::{CONTROL_CHARACTERS, has_control_characters},
    http::error::{AppError, AppResult},
    http::session::{AdminSession, PendingLogin},
    http::{
        body::Body,
        client_ip::ClientIp,
        extract::UserIdPath,
        negotiate::Format,
        respond::{AdminContext, html_only},
    },
    state::AppState,
    write::{Actor, ActorKind, Attempt, Enrolment, Subject, Via},
};

/// Routes that a half-logged-in session may reach (each checks who it serves).
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/login/2fa", get(second_step_form).post(second_step))
        .route("/account/2fa", get(account_page))
        .route("/account/2fa/enable", post(enable))
        .route("/account/2fa/disable", post(disable))
}

/// Routes for a logged-in admin (or a bearer token).
pub fn router() -> Router<AppState> {
    Router::new().route("/users/{id}/2fa/reset", post(reset))
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(reset), components(schemas(TwoFactorResetView)))]
pub struct Api;

const KEY_EXPIRED: &str = "That key can no longer be confirmed: a key shown for enrolment lasts 10 minutes, in the browser session that showed it. Scan the new key below and enter its code.";

const WRONG_ENROLMENT_CODE: &str = "That code is not right. Enter the 6-digit code your app shows now (check that the device's clock is right).";

const WRONG_CODE: &str = "That code is not right, or it was used already. Enter the current code from your app, or a recovery code.";

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

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The admin of a half-done login, acting for themself.
fn pending_actor(account: &Credentials, headers: &HeaderMap, address: &str) -> Actor {
    Actor {
        kind: ActorKind::Admin,
        id: Some(account.id),
        label: account.email.clone(),
        via: Via::Session,
        request_id: request_id(headers),
        client_ip: Some(address.to_owned()),
        admin_id: Some(account.id),
    }
}

/// The account of a half-done login, as its 2FA events name it.
fn subject_of(account: &Credentials) -> Subject<'_> {
    Subject {
        user_id: account.id,
        email: &account.email,
    }
}

/// A login attempt of `account` from this request, for the trail.
fn attempt_of<'a>(account: &'a Credentials, headers: &HeaderMap, address: &str) -> Attempt<'a> {
    Attempt {
        email: &account.email,
        request_id: request_id(headers),
        client_ip: address.to_owned(),
    }
}

/// The half-done login of this session and its account, while both still hold
/// (the account an active admin, its session epoch unchanged); otherwise the
/// session is ended.
async fn pending_account(
    state: &AppState,
    session: &AdminSession,
) -> AppResult<Option<(PendingLogin, Credentials)>> {
    let Some(pending) = session.pending_login().await? else {
        return Ok(None);
    };
    match db::users::credentials_by_id(&state.db, pending.user_id).await? {
        Some(account) if account.is_active_admin() && account.session_epoch == pending.epoch => {
            Ok(Some((pending, account)))
        }
        _ => {
            session.end().await?;
            Ok(None)
        }
    }
}

fn throttle(state: &AppState) -> CodeThrottle {
    CodeThrottle::new(state.redis.clone(), &state.settings.redis_key_prefix)
}

fn too_many(status_page: Response, retry_after_secs: u64) -> Response {
    let mut response = status_page;
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

fn too_many_message(retry_after_secs: u64) -> String {
    format!(
        "Too many wrong codes. Try again in {} minute(s).",
        retry_after_secs.div_ceil(60)
    )
}

// ---------------------------------------------------------------------------
// The second step of a login.

#[derive(Template, WebTemplate)]
#[template(path = "auth/second_step.html")]
pub struct SecondStepPage {
    pub layout: Layout,
    pub error: Option<String>,
}

async fn second_step_page(
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

async fn second_step_form(
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
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
}

async fn second_step(
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
async fn second_step_ready(
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
async fn over_limit(throttle: &CodeThrottle, user_id: i64) -> AppResult<Option<u64>> {
    match throttle.attempt(user_id).await {
        Ok(()) => Ok(None),
        Err(AuthError::TooManyAttempts { retry_after_secs }) => Ok(Some(retry_after_secs)),
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------
// Enrolment and turning it off.

/// Who may use `/account/2fa`: a logged-in admin (by session), or a session
/// half logged in whose admin must enrol first (`REQUIRE_2FA`).
enum Enroller {
    Admin(AdminContext),
    Forced {
        pending: PendingLogin,
        account: Credentials,
        session: AdminSession,
    },
}

impl Enroller {
    async fn from_request(
        state: &AppState,
        parts: &mut axum::http::request::Parts,
    ) -> AppResult<Self> {
        // A page for browsers only: JSON clients get 404, as for every such page.
        html_only(Format::from_headers(&parts.headers))?;
        let session = AdminSession::from_request_parts(parts, state).await?;
        if tokens_bearer(parts).is_none()
            && let Some((pending, account)) = pending_account(state, &session).await?
        {
            if !pending.enrol {
                return Err(AppError::Unauthenticated);
            }
            return Ok(Self::Forced {
                pending,
                account,
                session,
            });
        }
        let ctx = AdminContext::from_request_parts(parts, state).await?;
        if ctx.admin.via != AuthMethod::Session {
            return Err(AppError::BadRequest(
                "two-factor login is set up in a browser, on /account/2fa".into(),
            ));
        }
        Ok(Self::Admin(ctx))
    }

    fn user_id(&self) -> i64 {
        match self {
            Self::Admin(ctx) => ctx.admin.user_id,
            Self::Forced { account, .. } => account.id,
        }
    }

    /// The browser session that enrols (and holds the key being enrolled).
    fn session(&self) -> &AdminSession {
        match self {
            Self::Admin(ctx) => &ctx.session,
            Self::Forced { session, .. } => session,
        }
    }

    /// Who enrols, for the trail, and the login the enrolment completes (a
    /// half-logged-in session's), if any.
    fn acting(&self, headers: &HeaderMap, address: &str) -> (Actor, Option<Attempt<'_>>) {
        match self {
            Self::Admin(ctx) => (ctx.actor.clone(), None),
            Self::Forced { account, .. } => (
                pending_actor(account, headers, address),
                Some(attempt_of(account, headers, address)),
            ),
        }
    }

    /// The admin, as the 2FA events name them.
    fn subject(&self) -> Subject<'_> {
        Subject {
            user_id: self.user_id(),
            email: self.email(),
        }
    }

    fn email(&self) -> &str {
        match self {
            Self::Admin(ctx) => &ctx.admin.email,
            Self::Forced { account, .. } => &account.email,
        }
    }

    async fn layout(&self, title: &str) -> AppResult<Layout> {
        match self {
            Self::Admin(ctx) => ctx.layout(title).await,
            Self::Forced { session, .. } => Ok(Layout {
                flash: session.take_flash().await?,
                ..Layout::anonymous(title, session.csrf_token().await?)
            }),
        }
    }
}

fn tokens_bearer(parts: &axum::http::request::Parts) -> Option<&str> {
    crate::auth::tokens::bearer(&parts.headers)
}

impl FromRequestParts<AppState> for Enroller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        Self::from_request(state, parts).await
    }
}

/// `/account/2fa`: enrolment (QR code, secret, confirmation) or, once on, the
/// way to turn it off.
#[derive(Template, WebTemplate)]
#[template(path = "account/two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    /// The admin must enrol before anything else (`REQUIRE_2FA`).
    pub forced: bool,
    pub required: bool,
    pub enabled: bool,
    pub recovery_codes_left: i64,
    /// While enrolling: what to scan or type.
    pub secret_text: String,
    pub uri: String,
    pub qr_data_uri: String,
    pub error: Option<String>,
}

/// The recovery codes, shown once, right after enrolment.
#[derive(Template, WebTemplate)]
#[template(path = "account/recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub layout: Layout,
    pub codes: Vec<String>,
    pub next: String,
}

async fn two_factor_page(
    state: &AppState,
    who: &Enroller,
    status: StatusCode,
    error: Option<String>,
) -> AppResult<Response> {
    let user_id = who.user_id();
    let enabled = db::two_factor::is_enabled(&state.db, user_id).await?;
    let (secret_text, uri, qr_data_uri) = if enabled {
        // The secret is shown while enrolling only.
        Default::default()
    } else {
        // The key of this session's enrolment (drawn now if it has none, or
        // only an expired one): never one another session was shown.
        let secret = who.session().enrolment_key(user_id).await?;
        let shown = totp::enrolment(&secret, who.email())?;
        (shown.secret_text, shown.uri, shown.qr_data_uri)
    };
    let recovery_codes_left = if enabled {
        db::two_factor::recovery_codes_left(&state.db, user_id).await?
    } else {
        0
    };
    let page = TwoFactorPage {
        layout: who.layout("Two-factor login").await?,
        forced: matches!(who, Enroller::Forced { .. }),
        required: state.settings.require_2fa,
        enabled,
        recovery_codes_left,
        secret_text,
        uri,
        qr_data_uri,
        error,
    };
    Ok((status, page).into_response())
}

async fn account_page(
    State(state): State<AppState>,
    format: Format,
    who: Enroller,
) -> AppResult<Response> {
    html_only(format)?;
    two_factor_page(&state, &who, StatusCode::OK, None).await
}

async fn enable(
    State(state): State<AppState>,
    format: Format,
    who: Enroller,
    headers: HeaderMap,
    ClientIp(address): ClientIp,
    Body(form): Body<CodeForm>,
) -> AppResult<Response> {
    html_only(format)?;
    let secret = match enrolment_ready(&state, &who, &form).await? {
        Ok(secret) => secret,
        Err(answer) => return Ok(answer),
    };
    let user_id = who.user_id();
    let throttle = throttle(&state);
    if let Some(retry_after_secs) = over_limit(&throttle, user_id).await? {
        return two_factor_too_many(&state, &who, retry_after_secs).await;
    }
    let (actor, completes) = who.acting(&headers, &address);
    let enrolment = (state.writer)
        .enrol_two_factor(&actor, who.subject(), &secret, &form.code, completes)
        .await?;
    let Enrolment::On {
        epoch,
        recovery_codes: codes,
    } = enrolment
    else {
        return not_enrolled(&state, &who, enrolment).await;
    };
    throttle.succeeded(user_id).await?;
    let (layout, next) = enrolled_session(&who, epoch).await?;
    tracing::info!(user_id, "two-factor login enabled");
    Ok(RecoveryCodesPage {
        layout,
        codes,
        next,
    }
    .into_response())
}

/// The answer to an enrolment that did not turn the second factor on.
async fn not_enrolled(
    state: &AppState,
    who: &Enroller,
    enrolment: Enrolment,
) -> AppResult<Response> {
    match enrolment {
        Enrolment::WrongCode => {
            let error = Some(WRONG_ENROLMENT_CODE.into());
            two_factor_page(state, who, StatusCode::UNPROCESSABLE_ENTITY, error).await
        }
        // Another session confirmed first.
        Enrolment::AlreadyOn | Enrolment::On { .. } => {
            Ok(Redirect::to("/account/2fa").into_response())
        }
    }
}

/// What enrolment checks before a code is counted: the form is this session's,
/// the code is plain text, no second factor is on yet, and this session drew
/// a key that is still fresh (that key, the only one it can confirm).
/// Otherwise the answer to give instead.
async fn enrolment_ready(
    state: &AppState,
    who: &Enroller,
    form: &CodeForm,
) -> AppResult<Result<Vec<u8>, Response>> {
    // A logged-in admin's form was checked by authentication; a half-logged-in
    // session's is checked here.
    if let Enroller::Forced { session, .. } = who {
        session.verify_csrf(Some(&form.csrf_token)).await?;
    }
    let user_id = who.user_id();
    if has_control_characters(&form.code, true) {
        let error = Some(format!("code: {CONTROL_CHARACTERS}."));
        let page = two_factor_page(state, who, StatusCode::UNPROCESSABLE_ENTITY, error).await?;
        return Ok(Err(page));
    }
    if db::two_factor::is_enabled(&state.db, user_id).await? {
        return Ok(Err(Redirect::to("/account/2fa").into_response()));
    }
    match who.session().drawn_enrolment_key(user_id).await? {
        Some(secret) => Ok(Ok(secret)),
        None => {
            let error = Some(KEY_EXPIRED.into());
            let page = two_factor_page(state, who, StatusCode::UNPROCESSABLE_ENTITY, error);
            Ok(Err(page.await?))
        }
    }
}

/// The enrolling session once the second factor is on, and the page's layout
/// and onward link: the key it drew is dropped; a logged-in admin stays
/// logged in under a new id (every other session of theirs ended with the
/// epoch); a login that waited for the enrolment is complete now.
async fn enrolled_session(who: &Enroller, epoch: i32) -> AppResult<(Layout, String)> {
    who.session().drop_enrolment_key().await?;
    match who {
        Enroller::Admin(ctx) => {
            ctx.session.renew(epoch).await?;
            let layout = ctx.layout("Your recovery codes").await?;
            Ok((layout, "/account/2fa".to_owned()))
        }
        Enroller::Forced {
            pending,
            account,
            session,
        } => {
            let flash = "Two-factor login is on.".to_owned();
            session.complete_login(account.id, epoch, flash).await?;
            let layout = Layout {
                admin: Some(account.name.clone()),
                admin_id: Some(account.id),
                ..Layout::anonymous("Your recovery codes", session.csrf_token().await?)
            };
            Ok((layout, pending.next.clone()))
        }
    }
}

/// The enrolment page, answering 429 with the wait.
async fn two_factor_too_many(
    state: &AppState,
    who: &Enroller,
    retry_after_secs: u64,
) -> AppResult<Response> {
    let message = Some(too_many_message(retry_after_secs));
    let page = two_factor_page(state, who, StatusCode::TOO_MANY_REQUESTS, message).await?;
    Ok(too_many(page, retry_after_secs))
}

async fn disable(
    State(state): State<AppState>,
    format: Format,
    who: Enroller,
    Body(form): Body<CodeForm>,
) -> AppResult<Response> {
    html_only(format)?;
    let Enroller::Admin(ctx) = &who else {
        return Err(AppError::Unauthenticated);
    };
    let secret = match disabling_ready(&state, &who, &form).await? {
        Ok(secret) => secret,
        Err(answer) => return Ok(answer),
    };
    let user_id = ctx.admin.user_id;
    let throttle = throttle(&state);
    if let Some(retry_after_secs) = over_limit(&throttle, user_id).await? {
        return two_factor_too_many(&state, &who, retry_after_secs).await;
    }
    let disabled = (state.writer)
        .disable_two_factor(&ctx.actor, who.subject(), &secret, &form.code)
        .await?;
    if !disabled {
        let error = Some(WRONG_CODE.into());
        return two_factor_page(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, error).await;
    }
    throttle.succeeded(user_id).await?;
    ctx.redirect_with_flash("/account/2fa", "Two-factor login is off.".into())
        .await
}

/// What turning the second factor off checks before a code is counted: the
/// service allows it, one is on (its key), and the code is plain text.
/// Otherwise the answer to give instead.
async fn disabling_ready(
    state: &AppState,
    who: &Enroller,
    form: &CodeForm,
) -> AppResult<Result<Vec<u8>, Response>> {
    if state.settings.require_2fa {
        return Err(AppError::conflict(
            "this service requires two-factor login (REQUIRE_2FA), so it cannot be turned off; another admin can reset it for you",
        ));
    }
    let Some(factor) = db::two_factor::find(&state.db, who.user_id())
        .await?
        .filter(|f| f.is_enabled())
    else {
        return Ok(Err(Redirect::to("/account/2fa").into_response()));
    };
    if has_control_characters(&form.code, true) {
        let error = Some(format!("code: {CONTROL_CHARACTERS}."));
        let page = two_factor_page(state, who, StatusCode::UNPROCESSABLE_ENTITY, error).await?;
        return Ok(Err(page));
    }
    Ok(Ok(factor.secret))
}

// ---------------------------------------------------------------------------
// An admin resets another admin's second factor.

/// The outcome of a reset.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TwoFactorResetView {
    /// The user's id.
    pub id: i64,
    /// True when a second factor was on and is now removed; false when there was
    /// none.
    pub reset: bool,
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
        return Err(AppError::conflict(
            "turn your own two-factor login off on /account/2fa, with a code",
        ));
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
