//! The HTTP surface: routes, extractors, responders and middleware.

pub mod auth;
pub mod body;
pub mod client_ip;
pub mod conditional;
pub mod edge;
pub mod error;
pub mod error_pages;
pub mod extract;
pub mod headers;
pub mod layout;
pub mod negotiate;
pub mod pages;
pub mod request_id;
pub mod respond;
pub mod routes;
pub mod session;
pub mod upload;
pub mod views;

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, Request, StatusCode},
    middleware::{FromExtractorLayer, from_extractor_with_state, from_fn, from_fn_with_state},
};
use tower::{
    ServiceBuilder,
    layer::util::{Identity, Stack as Layers},
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::{
        CompressionLayer,
        predicate::{DefaultPredicate, NotForContentType, Predicate},
    },
    csrf::CsrfLayer,
    limit::RequestBodyLimitLayer,
    services::ServeDir,
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use tower_sessions::{SessionManagerLayer, cookie::SameSite};

use crate::state::AppState;

/// A request still running after this answers 503 (below the drain limit).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

/// The same for an import, which plans and writes a whole file in one request.
pub const IMPORT_TIMEOUT: Duration = Duration::from_secs(120);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route and layer of the service, in two stacks.
///
/// A script's request — a bearer token, no cookie, JSON — goes through the same
/// routes and layers less the two that only browsers need: the session layer
/// (cookie parsing; the session it would load does not exist) and the cross-site
/// check (a browser cannot send `Authorization` cross-site without a CORS
/// preflight, which the service never grants). See [`is_script`].
#[derive(Clone)]
pub struct App {
    browsers: Router,
    scripts: Router,
}

impl App {
    /// The stack that serves this request; chosen before routing, so each
    /// stack routes the request itself.
    pub fn stack_for(&self, request: &axum::extract::Request) -> &Router {
        if is_script(request.headers()) {
            &self.scripts
        } else {
            &self.browsers
        }
    }
}

/// What the features contribute, assembled by start-up: the only place that
/// names them all.
#[derive(Clone)]
pub struct Features {
    /// Routes whose handlers decide whom they serve (login, health, SCIM's
    /// bearer check, …).
    pub public: Router<AppState>,
    /// Routes that answer only an authenticated admin; guarded here.
    pub protected: Router<AppState>,
    /// Routes with limits of their own, guarded by their feature (see [`guarded`]).
    pub uploads: Router<AppState>,
    /// Parts of the service whose errors take a schema of their own.
    pub dialects: &'static [error_pages::ErrorDialect],
}

pub fn router(state: AppState, features: Features) -> App {
    App {
        browsers: app(state.clone(), true, features.clone()),
        scripts: app(state, false, features),
    }
}

/// A bearer request without cookies that wants JSON.
fn is_script(headers: &axum::http::HeaderMap) -> bool {
    crate::auth::tokens::bearer(headers).is_some()
        && !headers.contains_key(axum::http::header::COOKIE)
        && !negotiate::Format::from_headers(headers).is_html()
}

/// The service with the browser's layers (`browsers`), or without them.
fn app(state: AppState, browsers: bool, features: Features) -> Router {
    let protected =
        features
            .protected
            .route_layer(guarded(&state, body::BODY_LIMIT, REQUEST_TIMEOUT));

    let sessions = session_layer(&state);
    let pages_state = state.clone();
    let header_policy = headers::HeaderPolicy {
        hsts: state.settings.cookie_secure,
    };
    let edge = if browsers {
        edge::EdgeLayer::for_browsers(header_policy, features.dialects)
    } else {
        edge::EdgeLayer::for_scripts(header_policy, features.dialects, state.sessions.clone())
    };
    let layers = ServiceBuilder::new()
        // Request ids, error bodies, security headers.
        .layer(edge)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(CatchPanicLayer::custom(error_pages::panic_response))
        // Exports stream as they are read and are sent as they are: the
        // compressing body did not end a streamed response cleanly (the client
        // saw a cut chunked transfer).
        .layer(
            CompressionLayer::new().compress_when(
                DefaultPredicate::new()
                    .and(NotForContentType::const_new("text/csv"))
                    .and(NotForContentType::const_new("application/x-ndjson")),
            ),
        )
        // Refuses cross-site state-changing requests by Origin / Sec-Fetch-Site;
        // the per-session token (checked in authentication) and the login form's
        // signed cookie are the second line.
        .option_layer(browsers.then(CsrfLayer::new))
        .option_layer(browsers.then_some(sessions));

    features
        .public
        .nest_service(
            "/static",
            ServiceBuilder::new()
                .layer(from_fn(error_pages::static_errors_are_not_found))
                .service(ServeDir::new(static_dir())),
        )
        .layer(limits(body::BODY_LIMIT, REQUEST_TIMEOUT))
        // Merged after the layer above: they carry their limits with their guard.
        .merge(protected)
        .merge(features.uploads)
        .with_state(state)
        // Lifts a form's CSRF token out of its body for authentication.
        .layer(tower::util::option_layer(
            browsers.then(|| from_fn(auth::read_form_csrf_token)),
        ))
        // Marks what was made inside the session layer (the scripts' edge marks
        // its responses itself, having no session layer), and renders a 403 in
        // the logged-in layout.
        .layer(tower::util::option_layer(browsers.then(|| {
            from_fn_with_state(pages_state, error_pages::inside_sessions)
        })))
        .layer(layers)
}

/// The session cookie's layer over the deployment's session store.
fn session_layer(
    state: &AppState,
) -> SessionManagerLayer<crate::auth::session_store::DeploymentSessionStore> {
    let settings = &state.settings;
    SessionManagerLayer::new(state.sessions.clone())
        .with_name("useradmin_session")
        .with_http_only(true)
        .with_secure(settings.cookie_secure)
        .with_same_site(SameSite::Lax)
        // Idle expiry; authentication slides it while a logged-in admin is
        // active. Not `always_save`: that would re-send the cookie on every request,
        // and a request still in flight with the pre-login id would overwrite
        // the browser's new cookie.
        .with_expiry(crate::http::session::idle_expiry(settings))
}

/// Each request's tracing span: its method, path and request id.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

type Limits =
    Layers<TimeoutLayer, Layers<RequestBodyLimitLayer, Layers<DefaultBodyLimit, Identity>>>;

/// A body limit (for the extractors, and for bodies they do not read) and a
/// time limit. One `ServiceBuilder` given to `Router::layer` once: the router
/// wraps (and boxes) each route once per `layer` call, so one call instead of
/// three saves every request two boxed services.
fn limits(max_body_bytes: usize, timeout: Duration) -> ServiceBuilder<Limits> {
    ServiceBuilder::new()
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
}

/// [`limits`] with a guard: every route under it answers only an authenticated
/// admin holding what the route declares ([`auth::Authorized`]), whether or not
/// its handler asks for the admin (the handler's own `CurrentAdmin` then costs
/// nothing). One layer, for the reason `limits` gives.
pub fn guarded(
    state: &AppState,
    max_body_bytes: usize,
    timeout: Duration,
) -> ServiceBuilder<Layers<FromExtractorLayer<auth::Authorized, AppState>, Limits>> {
    limits(max_body_bytes, timeout).layer(from_extractor_with_state(state.clone()))
}

/// `static/` beside the working directory (the container's /app), else the one
/// in the source tree (for `cargo run` from elsewhere).
fn static_dir() -> std::path::PathBuf {
    let here = std::path::PathBuf::from("static");
    if here.is_dir() {
        here
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static")
    }
}
