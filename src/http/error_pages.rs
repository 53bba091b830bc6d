//! Error pages: every error response shaped for its client in one place — JSON
//! errors for scripts; for browsers an error page in the site's layout, or the
//! login page when they are not logged in. Errors made outside our handlers
//! (unknown route, wrong method, body limit, timeout, CSRF origin check, a
//! panic) get the same treatment. Forms re-rendered with their errors are pages
//! of their own and pass through.

use std::any::Any;

use axum::{
    Json,
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, Method, StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use super::{negotiate::Format, pages, session::AdminSession};
use crate::auth::CurrentAdmin;
use crate::http::error::{AppError, ErrorBody, ErrorDetails};
use crate::state::AppState;

/// A part of the service whose clients expect errors in a schema of its own
/// (SCIM's), registered by that feature, so that errors made outside its
/// handlers (an unknown route, a timeout, a body too large) take that schema too.
#[derive(Clone, Copy)]
pub struct ErrorDialect {
    /// The paths it serves.
    pub prefix: &'static str,
    /// Its own errors carry this media type and are left as they are.
    pub media_type: &'static str,
    pub render: fn(StatusCode, &str) -> Response,
}

/// What shaping an error response needs to know of its request, taken before
/// the request is handed on.
pub struct ErrorShaping {
    format: Format,
    dialect: Option<ErrorDialect>,
    request_id: HeaderValue,
    /// The page a browser's GET asked for, to come back to after logging in.
    return_to: Option<Uri>,
}

impl ErrorShaping {
    pub fn of(request: &Request, request_id: HeaderValue, dialects: &[ErrorDialect]) -> Self {
        let format = Format::from_headers(request.headers());
        let path = request.uri().path();
        Self {
            format,
            dialect: dialects
                .iter()
                .find(|dialect| path.starts_with(dialect.prefix))
                .copied(),
            request_id,
            return_to: (format.is_html() && request.method() == Method::GET)
                .then(|| request.uri().clone()),
        }
    }

    /// Shapes an error response for its client: JSON errors for scripts; for
    /// browsers an error page in the site's layout, or the login page when they
    /// are not logged in. Errors made outside our handlers (unknown route, wrong
    /// method, body limit, timeout, CSRF origin check) get the same treatment.
    /// Any other response is returned as it is.
    pub fn shape(self, response: Response) -> Response {
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
        if let Some(dialect) = self.dialect {
            // The feature's own errors stay; the layers' are put in its schema.
            if content_type.starts_with(dialect.media_type) {
                return response;
            }
            return replace_body(response, dialect.render);
        }
        match self.format {
            Format::Json if content_type.starts_with("application/json") => response,
            Format::Json => replace_body(response, |status, message| {
                (
                    status,
                    Json(ErrorBody {
                        error: message.to_owned(),
                        fields: None,
                        permission: None,
                    }),
                )
                    .into_response()
            }),
            // A page a handler rendered itself (a form with its errors) stays.
            Format::Html if content_type.starts_with("text/html") => response,
            Format::Html if status == StatusCode::UNAUTHORIZED => {
                let target = match self.return_to.as_ref().and_then(Uri::path_and_query) {
                    Some(path) => format!(
                        "/login?next={}",
                        percent_encoding::utf8_percent_encode(
                            path.as_str(),
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    ),
                    None => "/login".to_owned(),
                };
                Redirect::to(&target).into_response()
            }
            Format::Html => {
                let request_id = self.request_id.to_str().unwrap_or_default().to_owned();
                replace_body(response, |status, message| {
                    let page = pages::ErrorPage {
                        layout: pages::Layout::anonymous(
                            status.canonical_reason().unwrap_or("Error"),
                            String::new(),
                        ),
                        status: status.as_u16(),
                        reason: status.canonical_reason().unwrap_or("Error").to_owned(),
                        message: pages::ErrorPage::sentence(status.as_u16(), message),
                        request_id,
                        link: None,
                    };
                    (status, page).into_response()
                })
            }
        }
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
            link: None,
        }));
    fresh
}

/// Marks a response as made inside the session layer, so a bare 500 without it
/// is known to be the session layer's own (its store failed).
#[derive(Debug, Clone, Copy)]
pub struct PastSessions;

/// The browsers' layer just inside the session layer: marks every response
/// as made past the sessions ([`PastSessions`]), and answers a browser's
/// client error (403, 404, 409, …) with the error page in the logged-in layout
/// (the admin's name and the navigation), saying in plain words what went
/// wrong (SPEC §14). The admin is looked up again only for such an error,
/// never on the way in.
pub async fn inside_sessions(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let head = Format::from_headers(request.headers())
        .is_html()
        .then(|| RequestHead::of(&request));
    let mut response = next.run(request).await;
    response.extensions_mut().insert(PastSessions);
    match head {
        Some(head) if is_client_error_without_page(&response) => {
            let status = response.status();
            let details = response.extensions().get::<ErrorDetails>().cloned();
            match page_in_layout(&state, head, status, details).await {
                Some(mut page) => {
                    // Headers such as `Allow` and `Retry-After` stay.
                    for name in [header::ALLOW, header::RETRY_AFTER] {
                        if let Some(value) = response.headers().get(&name) {
                            page.headers_mut().insert(name, value.clone());
                        }
                    }
                    page
                }
                None => response,
            }
        }
        _ => response,
    }
}

/// What re-authenticating a request needs: its headers (a bearer token, the
/// request id) and its session.
struct RequestHead {
    headers: axum::http::HeaderMap,
    session: Option<tower_sessions::Session>,
}

impl RequestHead {
    fn of(request: &Request) -> Self {
        Self {
            headers: request.headers().clone(),
            session: request
                .extensions()
                .get::<tower_sessions::Session>()
                .cloned(),
        }
    }
}

/// A client error that no handler rendered as a page. Not a 401 (the login
/// page answers it), nor a timeout or a throttle, which are no time to ask
/// the database who is logged in.
fn is_client_error_without_page(response: &Response) -> bool {
    let status = response.status();
    status.is_client_error()
        && ![
            StatusCode::UNAUTHORIZED,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .contains(&status)
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
}

/// The error page in the logged-in layout, when the request's admin can be
/// told (else the edge renders it in the anonymous one).
async fn page_in_layout(
    state: &AppState,
    head: RequestHead,
    status: StatusCode,
    details: Option<ErrorDetails>,
) -> Option<Response> {
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.headers = head.headers;
    parts.extensions.insert(head.session?);
    let admin = CurrentAdmin::from_request_parts(&mut parts, state)
        .await
        .ok()?;
    let session = AdminSession::from_request_parts(&mut parts, state)
        .await
        .ok()?;
    let reason = status.canonical_reason().unwrap_or("Error");
    let message = details.as_ref().map_or_else(
        || default_message(status),
        |details| details.message.clone(),
    );
    let layout = pages::Layout {
        title: reason.into(),
        admin: Some(admin.name),
        admin_id: Some(admin.user_id),
        csrf: session.csrf_token().await.ok()?,
        flash: None,
        permissions: admin.permissions,
    };
    let page = pages::ErrorPage {
        layout,
        status: status.as_u16(),
        reason: reason.into(),
        message: pages::ErrorPage::sentence(status.as_u16(), &message),
        request_id: parts
            .headers
            .get(super::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        link: details.as_ref().and_then(|details| details.link.clone()),
    };
    let mut response = (status, page).into_response();
    response.extensions_mut().insert(PastSessions);
    response
        .extensions_mut()
        .insert(details.unwrap_or(ErrorDetails {
            message,
            fields: None,
            link: None,
        }));
    Some(response)
}

/// The message of an error made outside our handlers (an unknown route, a
/// wrong method, the CSRF origin check), which carries none.
fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::FORBIDDEN => "You may not do this.".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge.to_string(),
        other => other
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    }
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
