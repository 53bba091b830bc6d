//! Cross-cutting request handling: authentication, CSRF, error responses in the
//! client's format, panics. (Response headers: `headers`.)

use std::any::Any;

use axum::{
    Json,
    body::Body,
    extract::{FromRequestParts, Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::{body::BODY_LIMIT, client_ip::ClientIp, negotiate::Format, pages};
use crate::{
    auth::{AuthMethod, CurrentAdmin, session, tokens},
    db,
    error::{AppError, ErrorBody, ErrorDetails},
    state::AppState,
};

/// Lets a request through only for an authenticated admin, and records who it is.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request).await {
        Ok((admin, mut request)) => {
            request.extensions_mut().insert(admin);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

async fn authenticate(
    state: &AppState,
    request: Request,
) -> Result<(CurrentAdmin, Request), AppError> {
    let (mut parts, body) = request.into_parts();
    if let Some(token) = tokens::bearer(&parts.headers).map(str::to_owned) {
        let Ok(ClientIp(address)) = ClientIp::from_request_parts(&mut parts, state).await;
        let (admin, generation) = authenticate_token(state, &token, &address).await?;
        if let Some(generation) = generation {
            parts.extensions.insert(CacheGeneration(generation));
        }
        return Ok((admin, Request::from_parts(parts, body)));
    }
    let request = Request::from_parts(parts, body);
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or(AppError::Unauthenticated)?;
    let admin = authenticate_session(state, &session).await?;
    // Cookies are sent by browsers on their own, so a state-changing request made
    // with one must prove it came from our page.
    let request = if is_state_changing(request.method()) {
        check_csrf(&session, request).await?
    } else {
        request
    };
    Ok((admin, request))
}

/// The cache generation read while authenticating, handed on so the list cache
/// need not read it again.
#[derive(Debug, Clone)]
pub struct CacheGeneration(pub bytes::Bytes);

async fn authenticate_token(
    state: &AppState,
    token: &str,
    address: &str,
) -> Result<(CurrentAdmin, Option<bytes::Bytes>), AppError> {
    let hash = tokens::hash(token);
    // Read before the database, as a list reader does: a revoke committed after
    // this read moves the generation on, so what we store is never trusted again.
    let generation = state.user_cache.generation().await;
    let cached = generation
        .as_ref()
        .and_then(|generation| state.tokens.get(&hash, generation));
    let owner = match cached {
        Some(owner) => owner,
        None => {
            // Guessing costs a database lookup each; an address that keeps
            // failing is refused before it gets one.
            state.throttle.token_check(address).await?;
            let Some(owner) = db::tokens::authenticate(&state.db, &hash).await? else {
                state.throttle.token_failed(address).await;
                return Err(AppError::Unauthenticated);
            };
            if let Some(generation) = &generation {
                state.tokens.put(hash, generation.clone(), owner.clone());
            }
            owner
        }
    };
    let now = time::OffsetDateTime::now_utc();
    if owner
        .last_used_at
        .is_none_or(|at| now - at > time::Duration::MINUTE)
    {
        state.tokens.touched(&hash, now);
        // Bookkeeping only: the request does not wait for it, nor fail with it.
        let db = state.db.clone();
        tokio::spawn(async move {
            if let Err(e) = db::tokens::touch(&db, owner.token_id).await {
                tracing::warn!(error = %e, "could not record token use");
            }
        });
    }
    let admin = CurrentAdmin {
        user_id: owner.user_id,
        name: owner.name,
        via: AuthMethod::Token,
    };
    Ok((admin, generation))
}

/// The session's admin, if the session is still valid: within its absolute
/// lifetime, the account still an admin, and its password unchanged since login.
async fn authenticate_session(
    state: &AppState,
    session: &Session,
) -> Result<CurrentAdmin, AppError> {
    let login = session::login(session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - login.at;
    if age < 0 || age as u64 > state.settings.session_max.as_secs() {
        session::end(session).await?;
        return Err(AppError::Unauthenticated);
    }
    match db::users::credentials_by_id(&state.db, login.user_id).await? {
        Some(account) if account.is_admin && account.session_epoch == login.epoch => {
            session::keep_alive(session, &state.settings).await?;
            Ok(CurrentAdmin {
                user_id: account.id,
                name: account.name,
                via: AuthMethod::Session,
            })
        }
        _ => {
            session::end(session).await?;
            Err(AppError::Unauthenticated)
        }
    }
}

pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the CSRF token from `X-CSRF-Token` or, for a form, its `csrf_token`
/// field (the body is read here and handed on unchanged).
async fn check_csrf(session: &Session, request: Request) -> Result<Request, AppError> {
    if let Some(token) = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        session::verify_csrf(session, Some(token)).await?;
        return Ok(request);
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        session::verify_csrf(session, None).await?;
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf_token")
        .map(|(_, value)| value.into_owned());
    session::verify_csrf(session, token.as_deref()).await?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Shapes every error response for its client: JSON errors for scripts; for
/// browsers an error page in the site's layout, or the login page when they are
/// not logged in. Errors made outside our handlers (unknown route, wrong method,
/// body limit, timeout, CSRF origin check) get the same treatment.
pub async fn error_responses(request: Request, next: Next) -> Response {
    let format = Format::from_headers(request.headers());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let return_to = (request.method() == Method::GET)
        .then(|| {
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
        })
        .flatten();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match format {
        Format::Json if content_type.starts_with("application/json") => response,
        Format::Json => replace_body(response, |status, message| {
            (
                status,
                Json(ErrorBody {
                    error: message.to_owned(),
                    fields: None,
                }),
            )
                .into_response()
        }),
        // A page a handler rendered itself (a form with its errors) stays.
        Format::Html if content_type.starts_with("text/html") => response,
        Format::Html if status == StatusCode::UNAUTHORIZED => {
            let target = match return_to {
                Some(path) => format!(
                    "/login?next={}",
                    percent_encoding::utf8_percent_encode(
                        &path,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                ),
                None => "/login".to_owned(),
            };
            Redirect::to(&target).into_response()
        }
        Format::Html => replace_body(response, |status, message| {
            let page = pages::ErrorPage {
                layout: pages::Layout::anonymous(
                    status.canonical_reason().unwrap_or("Error"),
                    String::new(),
                ),
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("Error").to_owned(),
                message: message.to_owned(),
                request_id: request_id.clone(),
            };
            (status, page).into_response()
        }),
    }
}

/// Rebuilds an error response with a new body, keeping its status, its message
/// and headers such as `Allow`, `Retry-After` and `WWW-Authenticate`.
fn replace_body(response: Response, render: impl FnOnce(StatusCode, &str) -> Response) -> Response {
    let mut status = response.status();
    let details = response.extensions().get::<ErrorDetails>().cloned();
    let message = match (&details, status) {
        (Some(details), _) => details.message.clone(),
        // tower-sessions answers a bare 500 when it cannot save a session; every
        // response from further in carries `PastSessions`.
        (None, StatusCode::INTERNAL_SERVER_ERROR)
            if response.extensions().get::<PastSessions>().is_none() =>
        {
            status = StatusCode::SERVICE_UNAVAILABLE;
            "login sessions are unavailable right now; try again shortly".to_owned()
        }
        (None, StatusCode::NOT_FOUND) => "not found".to_owned(),
        (None, StatusCode::METHOD_NOT_ALLOWED) => "method not allowed".to_owned(),
        (None, StatusCode::PAYLOAD_TOO_LARGE) => AppError::PayloadTooLarge.to_string(),
        (None, StatusCode::FORBIDDEN) => "cross-site request refused".to_owned(),
        (None, StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT) => {
            "the request took too long; try again".to_owned()
        }
        (None, _) => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let keep: Vec<_> = [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE]
        .into_iter()
        .filter_map(|name| response.headers().get(&name).map(|v| (name, v.clone())))
        .collect();
    let mut fresh = render(status, &message);
    for (name, value) in keep {
        fresh.headers_mut().insert(name, value);
    }
    fresh
        .extensions_mut()
        .insert(details.unwrap_or(ErrorDetails {
            message,
            fields: None,
        }));
    fresh
}

/// Marks a response as made inside the session layer, so a bare 500 without it
/// is known to be the session layer's own (its store failed).
#[derive(Debug, Clone, Copy)]
pub struct PastSessions;

pub async fn mark_past_sessions(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.extensions_mut().insert(PastSessions);
    response
}

/// A static file that cannot be read for any reason is simply not there (the file
/// system's "name too long" would otherwise be a bare 500).
pub async fn static_errors_are_not_found(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status().is_server_error() {
        return StatusCode::NOT_FOUND.into_response();
    }
    response
}

/// A panic in a handler is a bug: it is logged, and the client gets a plain 500
/// with no detail.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    AppError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}
