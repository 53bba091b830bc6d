//! `/health` (readiness: PostgreSQL and Redis answer) and `/health/live` (the
//! process serves). The compose healthcheck and load balancers call these.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::http::routes::{self as r, Access, Routes};
use crate::{db, redis, state::AppState};

/// Each dependency gets this long to answer; both are asked at once.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router() -> Routes {
    Routes::new()
        .route("/health", r::get(Access::Public, health))
        .route("/health/live", r::get(Access::Public, live))
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, live), components(schemas(HealthView, Checks)))]
pub struct Api;

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthView {
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Checks {
    database: &'static str,
    cache: &'static str,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses(
        (status = 200, description = "PostgreSQL and Redis answer", body = HealthView),
        (status = 503, description = "a dependency is down", body = HealthView),
    )
)]
pub async fn health(State(state): State<AppState>) -> Response {
    let (database, cache) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, db::ping(&state.db)),
        tokio::time::timeout(CHECK_TIMEOUT, redis::ping(&state.redis)),
    );
    let database_up = matches!(database, Ok(Ok(())));
    let cache_up = matches!(cache, Ok(Ok(())));
    if cache_up {
        // The list cache need not wait for its own probe to find Redis back.
        state.generation.redis_answered();
    }
    let healthy = database_up && cache_up;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let up_down = |up: bool| if up { "up" } else { "down" };
    let body = HealthView {
        status: if healthy { "healthy" } else { "unhealthy" },
        checks: Checks {
            database: up_down(database_up),
            cache: up_down(cache_up),
        },
    };
    (status, Json(body)).into_response()
}

#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    responses((status = 200, description = "the process serves", body = serde_json::Value))
)]
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "alive" }))
}
