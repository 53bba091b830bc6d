//! The HTTP surface: routes, extractors, responders and middleware.

pub mod body;
pub mod extract;
pub mod middleware;
pub mod negotiate;
pub mod routes;
pub mod views;

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, Request, StatusCode},
    middleware::{from_fn, from_fn_with_state},
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::state::AppState;

/// A request still running after this answers 503 (SPEC §7: below the drain limit).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route and layer of the service.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .merge(routes::users::router())
        .route_layer(from_fn_with_state(state.clone(), middleware::require_admin));

    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
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
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(from_fn(middleware::error_bodies))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(body::BODY_LIMIT))
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT));

    Router::new()
        .merge(routes::root::router())
        .merge(routes::health::router())
        .merge(protected)
        .with_state(state)
        .layer(layers)
}
