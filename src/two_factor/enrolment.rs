//! Enrolment and turning two-factor login off, on `/account/2fa`.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{FromRequestParts, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

use super::{
    routes::{
        KEY_EXPIRED, WRONG_CODE, WRONG_ENROLMENT_CODE, attempt_of, pending_account, pending_actor,
        throttle, too_many, too_many_message,
    },
    second_step::{CodeForm, over_limit},
};
use crate::db::{self, users::Credentials};
use crate::http::pages::Layout;
use crate::{
    auth::{AuthMethod, totp},
    domain::{CONTROL_CHARACTERS, has_control_characters},
    http::error::{AppError, AppResult},
    http::session::{AdminSession, PendingLogin},
    http::{
        body::Body,
        client_ip::ClientIp,
        negotiate::Format,
        respond::{AdminContext, html_only},
    },
    state::AppState,
    write::{Actor, Attempt, Enrolment, Subject},
};

/// Who may use `/account/2fa`: a logged-in admin (by session), or a session
/// half logged in whose admin must enrol first (`REQUIRE_2FA`).
pub(super) enum Enroller {
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

pub(super) fn tokens_bearer(parts: &axum::http::request::Parts) -> Option<&str> {
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

pub(super) async fn two_factor_page(
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

pub(super) async fn account_page(
    State(state): State<AppState>,
    format: Format,
    who: Enroller,
) -> AppResult<Response> {
    html_only(format)?;
    two_factor_page(&state, &who, StatusCode::OK, None).await
}

pub(super) async fn enable(
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
pub(super) async fn not_enrolled(
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
pub(super) async fn enrolment_ready(
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
pub(super) async fn enrolled_session(who: &Enroller, epoch: i32) -> AppResult<(Layout, String)> {
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
                permissions: account.permission_set(),
                ..Layout::anonymous("Your recovery codes", session.csrf_token().await?)
            };
            Ok((layout, pending.next.clone()))
        }
    }
}

/// The enrolment page, answering 429 with the wait.
pub(super) async fn two_factor_too_many(
    state: &AppState,
    who: &Enroller,
    retry_after_secs: u64,
) -> AppResult<Response> {
    let message = Some(too_many_message(retry_after_secs));
    let page = two_factor_page(state, who, StatusCode::TOO_MANY_REQUESTS, message).await?;
    Ok(too_many(page, retry_after_secs))
}

pub(super) async fn disable(
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
pub(super) async fn disabling_ready(
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
