//! Export over HTTP: every user that matches the list's filters, streamed as
//! the batches are read (see `crate::export`).
//!
//! `GET /users` with `Accept: text/csv` or `application/x-ndjson`, or (for links)
//! `GET /users/export?format=csv|ndjson&…` with the list's parameters.

use axum::{
    body::Body,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Deserialize;

use crate::domain::Permission;
use crate::http::routes::{self as r, Access, Routes};
pub use crate::transfer::export::ExportFormat;
use crate::{
    db,
    domain::{ListQuery, RawListQuery},
    http::error::{AppError, AppResult, ErrorBody},
    http::respond::AdminContext,
    state::AppState,
    transfer::export::produce,
};

pub fn router() -> Routes {
    Routes::new().route(
        "/users/export",
        r::get(Access::Permission(Permission::UsersRead), export),
    )
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(export))]
pub struct Api;

#[derive(Deserialize)]
pub struct FormatParam {
    pub format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/users/export",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("format" = Option<String>, Query, pattern = "^(csv|ndjson)$", description = "csv (default) or ndjson"),
        ("q" = Option<String>, Query, max_length = 200, description = "as on GET /users"),
        ("sort" = Option<String>, Query, pattern = "^-?(id|name|email|created_at)$", description = "as on GET /users"),
        ("status" = Option<String>, Query, pattern = "^(active|disabled)$", description = "as on GET /users"),
        ("is_admin" = Option<bool>, Query, description = "as on GET /users"),
    ),
    responses(
        (status = 200, description = "every matching user, streamed",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    _ctx: AdminContext,
    format: Result<Query<FormatParam>, QueryRejection>,
    query: Result<Query<RawListQuery>, QueryRejection>,
) -> AppResult<Response> {
    let Query(format) = format.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let format = match format.format.as_deref().map(str::trim) {
        None | Some("") | Some("csv") => ExportFormat::Csv,
        Some("ndjson") => ExportFormat::Ndjson,
        Some(_) => return Err(AppError::BadRequest("format must be csv or ndjson".into())),
    };
    let Query(raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let query = ListQuery::parse(raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
    stream(&state, query, format).await
}

/// The response: headers at once, then the rows as the batches come.
pub async fn stream(
    state: &AppState,
    query: ListQuery,
    format: ExportFormat,
) -> AppResult<Response> {
    // The snapshot is taken before the answer starts, so a database that is down
    // is a 503 rather than a cut body.
    let snapshot = db::users::snapshot(&state.db).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(produce(snapshot, query, format, sender, |_| {}));
    let body = Body::from_stream(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|chunk| (chunk, receiver)) },
    ));
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let disposition = format!(
        "attachment; filename=\"users-{stamp}.{}\"",
        format.extension()
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
