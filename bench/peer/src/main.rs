//! The bare peer of `GET /users/{id}`: the same SELECT by id and the same JSON,
//! on the same axum and sqlx, with no middleware, no authentication and no cache.
//! `bench/run` measures it beside useradmin, so their ratio shows what the
//! service's own layers cost. The JSON is byte for byte the service's user
//! object, with what the user holds (`roles`, `groups`, `permissions`, kept in
//! the users row by the database since migration 0020): a peer that read fewer
//! columns would leave their decoding and serialising on the service's side of
//! the ratio.
//!
//! With `PEER_PAGE_FILE`, it also answers `GET /page` with that file's bytes,
//! read once at start and held in memory: the cheapest answer axum can give,
//! the reference of the cached user list (same bytes, no cache look-up).
//!
//!     DATABASE_URL=postgres://... PORT=5873 [PEER_NO_PING=1] [PEER_PAGE_FILE=page.json] \
//!         useradmin-bench-peer

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, header},
    routing::get,
};
use serde::Serialize;
use sqlx::{PgPool, postgres::PgPoolOptions};
use time::OffsetDateTime;

#[derive(Serialize, sqlx::FromRow)]
struct User {
    id: i64,
    name: String,
    email: String,
    is_admin: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: i32,
    status: String,
    disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    disabled_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_login_at: Option<OffsetDateTime>,
    external_id: Option<String>,
    roles: Vec<String>,
    groups: sqlx::types::Json<Vec<GroupRef>>,
    permissions: Vec<String>,
}

/// A group as the service's user object names it.
#[derive(Serialize, serde::Deserialize)]
struct GroupRef {
    id: i64,
    name: String,
}

async fn user(State(db): State<PgPool>, Path(id): Path<i64>) -> Result<Json<User>, StatusCode> {
    sqlx::query_as(
        "select id, name, email, is_admin, created_at, updated_at, version, status, \
         disabled_reason, disabled_at, last_login_at, external_id, \
         access_roles as roles, access_groups as groups, access_permissions as permissions \
         from users where id = $1 and deleted_at is null",
    )
    .bind(id)
    .fetch_optional(&db)
    .await
    .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
    .map(Json)
    .ok_or(StatusCode::NOT_FOUND)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "5873".into())
        .parse()?;
    // The same pool size as useradmin's default. sqlx pings every connection
    // before handing it out unless told not to; useradmin does not (it pings only
    // connections that sat idle), so `PEER_NO_PING=1` measures the peer with the
    // service's own pool behaviour, and without it the stock axum + sqlx stack.
    let ping = std::env::var_os("PEER_NO_PING").is_none();
    let db = PgPoolOptions::new()
        .max_connections(16)
        .test_before_acquire(ping)
        .connect(&url)
        .await?;
    let mut app = Router::new()
        .route("/users/{id}", get(user))
        .route("/health", get(|| async { "ok" }))
        .with_state(db);
    if let Some(file) = std::env::var_os("PEER_PAGE_FILE") {
        // Cloning `Bytes` bumps a reference count: no copy per request.
        let page = Bytes::from(std::fs::read(file)?);
        app = app.route(
            "/page",
            get(move || {
                let page = page.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], page) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
