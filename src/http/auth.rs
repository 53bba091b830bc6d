//! Authentication as extractors: a handler that takes [`CurrentAdmin`] runs only
//! for an authenticated admin, wherever it is mounted.
//!
//! * A bearer token is checked against a per-instance cache trusted only under
//!   the current cache generation, else against PostgreSQL; failing lookups are
//!   throttled per client address.
//! * A session cookie must belong to an admin whose session epoch is unchanged
//!   since login, within the absolute lifetime; its idle expiry slides.
//! * A state-changing request made with a cookie must carry the session's CSRF
//!   token (`X-CSRF-Token`, or the form's `csrf_token`, which
//!   [`read_form_csrf_token`] lifts out of the body beforehand).
//!
//! The outcome is kept in the request's extensions, so extracting it again (the
//! router's guard, then the handler) costs nothing.
//!
//! The router's guard, [`Authorized`], also checks the route's declared access
//! (the state's [`AccessTable`](crate::auth::access::AccessTable), by the
//! matched route template and method): one hash lookup and a bit test.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{FromRequestParts, MatchedPath, OptionalFromRequestParts, Request},
    http::{Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use bytes::Bytes;

use super::{body::BODY_LIMIT, client_ip::ClientIp};
use crate::auth::{AuthError, AuthMethod, CurrentAdmin, access::Access, tokens};
use crate::{
    db,
    http::error::AppError,
    http::session::AdminSession,
    state::AppState,
    write::{Actor, ActorKind, Via},
};

/// What authentication found, kept for later extractors of the same request.
#[derive(Debug, Clone)]
struct Authenticated {
    admin: CurrentAdmin,
    /// The cache generation read while checking a token: the list cache need not
    /// read it again.
    generation: Option<Bytes>,
}

impl FromRequestParts<AppState> for CurrentAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(authenticated(parts, state).await?.admin.clone())
    }
}

/// The router's guard: an authenticated admin holding what the matched route
/// declares. A route that declared nothing answers 403 (fail closed).
pub struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let found = authenticated(parts, state).await?;
        authorize(&found.admin, parts, state)?;
        Ok(Self)
    }
}

/// Whether `admin` may call the route this request matched.
pub fn authorize(admin: &CurrentAdmin, parts: &Parts, state: &AppState) -> Result<(), AuthError> {
    let path = parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    match path.and_then(|path| state.access.access(&parts.method, path)) {
        Some(Access::Public | Access::Login) => Ok(()),
        Some(Access::Permission(permission)) => admin.require(permission),
        // A method the path does not have: the builder declares every method
        // it registers, so the router answers 405 (as it did before).
        None if path.is_some_and(|path| state.access.knows_path(path)) => Ok(()),
        None => Err(AuthError::MissingPermission {
            permission: None,
            token: false,
        }),
    }
}

/// The cache generation read while authenticating this request, if one was.
pub struct KnownGeneration(pub Option<Bytes>);

impl FromRequestParts<AppState> for KnownGeneration {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(Self(authenticated(parts, state).await?.generation.clone()))
    }
}

/// Who acts, for the write path: the authenticated admin (or its token), with
/// the request's id and client address.
impl FromRequestParts<AppState> for Actor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let admin = CurrentAdmin::from_request_parts(parts, state).await?;
        let Ok(ClientIp(client_ip)) = ClientIp::from_request_parts(parts, state).await;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (kind, id, label, via) = match &admin.via {
            AuthMethod::Token { id, label } => (ActorKind::Token, *id, label.clone(), Via::Token),
            AuthMethod::Session => (
                ActorKind::Admin,
                admin.user_id,
                admin.email.clone(),
                Via::Session,
            ),
        };
        Ok(Actor {
            kind,
            id: Some(id),
            label,
            via,
            request_id,
            client_ip: Some(client_ip),
            admin_id: Some(admin.user_id),
            scope: admin.permissions,
        })
    }
}

/// The actor, when the request is authenticated at all (logging out of a
/// session that has already ended is no error).
impl OptionalFromRequestParts<AppState> for Actor {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        match <Actor as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(actor) => Ok(Some(actor)),
            Err(AppError::Unauthenticated) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// Shared rather than copied: the guard, then the handler's extractors, read
/// the same outcome.
async fn authenticated(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Arc<Authenticated>, AppError> {
    if let Some(found) = parts.extensions.get::<Arc<Authenticated>>() {
        return Ok(found.clone());
    }
    let found = Arc::new(authenticate(parts, state).await?);
    parts.extensions.insert(found.clone());
    Ok(found)
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Authenticated, AppError> {
    if let Some(token) = tokens::bearer(&parts.headers).map(str::to_owned) {
        return authenticate_token(state, &token, parts).await;
    }
    // Without a cookie there is nothing to look up.
    let session = AdminSession::from_request_parts(parts, state).await?;
    if !session.exists() {
        return Err(AppError::Unauthenticated);
    }
    let admin = authenticate_session(state, &session).await?;
    // Cookies are sent by browsers on their own, so a state-changing request made
    // with one must prove it came from our page.
    if is_state_changing(&parts.method) {
        let provided = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                parts
                    .extensions
                    .get::<SubmittedCsrfToken>()
                    .map(|t| t.0.clone())
            });
        session.verify_csrf(provided.as_deref()).await?;
    }
    Ok(Authenticated {
        admin,
        generation: None,
    })
}

async fn authenticate_token(
    state: &AppState,
    token: &str,
    parts: &mut Parts,
) -> Result<Authenticated, AppError> {
    let hash = tokens::hash(token);
    // Read before the database, as a list reader does: a revoke committed after
    // this read moves the generation on, so what we store is never trusted again.
    let generation = state.generation.current().await;
    let cached = generation
        .as_ref()
        .and_then(|generation| state.tokens.get(&hash, generation));
    let owner = match cached {
        Some(owner) => owner,
        None => {
            if !tokens::is_well_formed(token) {
                return Err(AppError::Unauthenticated);
            }
            // Each guess of the right shape costs a database lookup; an address
            // that keeps failing is refused before it gets one. A token this
            // instance has seen valid is no guess: while writes keep moving the
            // generation on, its re-check skips the throttle's round trip.
            let Ok(ClientIp(address)) = ClientIp::from_request_parts(parts, state).await;
            let address = address.as_str();
            if !state.tokens.knows(&hash) {
                state.throttle.token_check(address).await?;
            }
            let Some(owner) = db::tokens::authenticate(&state.db, &hash).await? else {
                state.tokens.forget(&hash);
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
    // An expiry passes while a check is cached: checked on every use.
    if owner.expired(now) {
        state.tokens.forget(&hash);
        return Err(AppError::Unauthenticated);
    }
    if owner
        .last_used_at
        .is_none_or(|at| now - at > time::Duration::MINUTE)
    {
        state.tokens.touched(&hash, now);
        // Bookkeeping only: the request does not wait for it, nor fail with it.
        let writer = state.writer.clone();
        let token_id = owner.token_id;
        tokio::spawn(async move {
            if let Err(e) = writer.token_used(token_id).await {
                tracing::warn!(error = %e, "could not record token use");
            }
        });
    }
    Ok(Authenticated {
        admin: CurrentAdmin {
            user_id: owner.user_id,
            name: owner.name,
            email: owner.email,
            via: AuthMethod::Token {
                id: owner.token_id,
                label: owner.token_label,
            },
            // Its scopes, within what its owner holds now (the cached check is
            // dropped when anyone's roles or groups change).
            permissions: owner.scopes.intersection(owner.permissions),
        },
        generation,
    })
}

/// The session's admin, if the session is still valid: within its absolute
/// lifetime, the account still an admin, and its session epoch unchanged since
/// login (a password change or a demotion moves it on).
async fn authenticate_session(
    state: &AppState,
    session: &AdminSession,
) -> Result<CurrentAdmin, AppError> {
    let login = session.login().await?.ok_or(AppError::Unauthenticated)?;
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - login.at;
    if age < 0 || age as u64 > state.settings.session_max.as_secs() {
        session.end().await?;
        return Err(AppError::Unauthenticated);
    }
    match db::users::credentials_by_id(&state.db, login.user_id).await? {
        Some(account) if account.may_log_in() && account.session_epoch == login.epoch => {
            session.keep_alive(&state.settings).await?;
            let permissions = account.permission_set();
            Ok(CurrentAdmin {
                user_id: account.id,
                name: account.name,
                email: account.email,
                via: AuthMethod::Session,
                permissions,
            })
        }
        _ => {
            session.end().await?;
            Err(AppError::Unauthenticated)
        }
    }
}

pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The `csrf_token` field of a form body, lifted out before the handler reads
/// the body, so authentication (which sees only the request's head) can check it.
#[derive(Debug, Clone)]
struct SubmittedCsrfToken(String);

/// For a state-changing form post with a cookie and no bearer token, reads the
/// body once, notes its `csrf_token`, and hands the body on unchanged. A
/// multipart form (a file upload) must send `csrf_token` as its first field:
/// only that field is read ahead, and the file streams on to the handler.
pub async fn read_form_csrf_token(request: Request, next: Next) -> Response {
    let media = super::body::media_type(request.headers()).unwrap_or_default();
    let wants_check = is_state_changing(request.method())
        && request.headers().contains_key(header::COOKIE)
        && tokens::bearer(request.headers()).is_none();
    if !wants_check {
        return next.run(request).await;
    }
    match media.as_str() {
        "application/x-www-form-urlencoded" => {}
        "multipart/form-data" => return read_multipart_csrf_token(request, next).await,
        _ => return next.run(request).await,
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return AppError::PayloadTooLarge.into_response();
    };
    if let Some((_, token)) = form_urlencoded::parse(&bytes).find(|(name, _)| name == "csrf_token")
    {
        parts
            .extensions
            .insert(SubmittedCsrfToken(token.into_owned()));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// How much of a multipart body is read ahead to find its first field.
const MULTIPART_PEEK: usize = 8 * 1024;

async fn read_multipart_csrf_token(request: Request, next: Next) -> Response {
    use futures::StreamExt;

    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart_boundary);
    let (mut parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut ahead = bytes::BytesMut::new();
    if let Some(boundary) = boundary {
        // Every chunk read is looked at, however large: a browser's first
        // chunk often carries the token and kilobytes of the file with it.
        loop {
            match first_field(&ahead, &boundary, "csrf_token") {
                FirstField::Incomplete => {}
                FirstField::Value(token) => {
                    parts.extensions.insert(SubmittedCsrfToken(token));
                    break;
                }
                FirstField::Other => break,
            }
            if ahead.len() >= MULTIPART_PEEK {
                break;
            }
            match stream.next().await {
                Some(Ok(chunk)) => ahead.extend_from_slice(&chunk),
                Some(Err(_)) => {
                    return AppError::BadRequest("the request body could not be read".into())
                        .into_response();
                }
                None => break,
            }
        }
    }
    let ahead = ahead.freeze();
    let body = futures::stream::once(async move { Ok::<_, axum::Error>(ahead) }).chain(stream);
    next.run(Request::from_parts(parts, Body::from_stream(body)))
        .await
}

/// The `boundary` parameter of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

#[derive(Debug, PartialEq, Eq)]
enum FirstField {
    /// More of the body is needed.
    Incomplete,
    Value(String),
    /// The first field is another one (or the body is not a form).
    Other,
}

/// The value of a multipart body's first field, if that field is `name`.
fn first_field(ahead: &[u8], boundary: &str, name: &str) -> FirstField {
    let opening = format!("--{boundary}\r\n");
    let closing = format!("\r\n--{boundary}");
    if ahead.len() < opening.len() {
        return if opening.as_bytes().starts_with(ahead) {
            FirstField::Incomplete
        } else {
            FirstField::Other
        };
    }
    if !ahead.starts_with(opening.as_bytes()) {
        return FirstField::Other;
    }
    let rest = &ahead[opening.len()..];
    let Some(headers_end) = find(rest, b"\r\n\r\n") else {
        return FirstField::Incomplete;
    };
    let headers = String::from_utf8_lossy(&rest[..headers_end]).to_ascii_lowercase();
    let names_it = headers.lines().any(|line| {
        line.starts_with("content-disposition:")
            && line
                .split(';')
                .any(|part| part.trim() == format!("name=\"{name}\""))
    });
    if !names_it {
        return FirstField::Other;
    }
    let value = &rest[headers_end + 4..];
    match find(value, closing.as_bytes()) {
        Some(end) => match std::str::from_utf8(&value[..end]) {
            Ok(text) => FirstField::Value(text.to_owned()),
            Err(_) => FirstField::Other,
        },
        None => FirstField::Incomplete,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_field_of_a_multipart_form_is_read_when_it_is_the_token() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.csv\"\r\n\r\nname,email\r\n--XyZ--\r\n";
        assert_eq!(
            first_field(body, "XyZ", "csrf_token"),
            FirstField::Value("abc123".into())
        );
        for cut in [3, 20, 60, 70] {
            assert_eq!(
                first_field(&body[..cut], "XyZ", "csrf_token"),
                FirstField::Incomplete
            );
        }
        let file_first =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ";
        assert_eq!(
            first_field(file_first, "XyZ", "csrf_token"),
            FirstField::Other
        );
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"a b\""),
            Some("a b".into())
        );
    }
}
