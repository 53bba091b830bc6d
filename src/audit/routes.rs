//! `/audit` and `/users/{id}/history`: the audit trail the database keeps
//!, newest first, filtered and keyset paginated, HTML and JSON from the
//! same handlers.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::audit::pages::AuditFilters;
use crate::audit::pages::AuditListPage;
use crate::audit::views::AuditEventView;
use crate::audit::views::AuditPageView;
use crate::domain::Permission;
use crate::domain::time_input_value;
use crate::http::routes::{self as r, Access, Routes};
use crate::{
    db,
    domain::{AuditQuery, FieldErrors, RawAuditQuery},
    http::error::{AppError, AppResult, ErrorBody},
    http::{extract::UserIdPath, negotiate::Format, respond::AdminContext},
    state::AppState,
};

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/audit",
            r::get(Access::Permission(Permission::AuditRead), list),
        )
        .route(
            "/users/{id}/history",
            r::get(Access::Permission(Permission::UsersRead), history),
        )
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, history),
    components(schemas(
        crate::audit::views::AuditPageView,
        crate::audit::views::AuditEventView,
        crate::audit::views::AuditActorView,
        crate::audit::views::AuditSubjectView
    ))
)]
pub struct Api;

#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 50)"),
        ("after" = Option<String>, Query, description = "`next` of the previous page"),
        ("subject" = Option<String>, Query, pattern = "^(user|token|webhook):[0-9]+$", description = "user:42"),
        ("actor" = Option<String>, Query, pattern = "^(admin:[0-9]+|token:[0-9]+|cli|sql|[^:]+@[^:]+)$", description = "an admin's email, admin:<id>, token:<id>, cli or sql"),
        ("action" = Option<String>, Query, pattern = "^[a-z0-9._]{1,64}$", description = "an action or its beginning: user. or user.updated"),
        ("since" = Option<String>, Query, description = "events at or after this time: 2026-12-01T09:30:00Z, or 2026-12-01T09:30 or 2026-12-01 in UTC"),
        ("until" = Option<String>, Query, description = "events before this time: 2026-12-01T09:30:00Z, or 2026-12-01T09:30 in UTC, or 2026-12-01 (that day included)"),
    ),
    responses(
        (status = 200, description = "one page of events, newest first", body = AuditPageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ctx: AdminContext,
    query: Result<Query<RawAuditQuery>, QueryRejection>,
) -> AppResult<Response> {
    let Query(raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let view = TrailView {
        heading: "Audit trail".into(),
        action: "/audit".into(),
        show_subject_filter: true,
    };
    respond(&state, &ctx, raw, view).await
}

#[utoipa::path(
    get,
    path = "/users/{id}/history",
    tag = "audit",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the user's id (deleted users keep their history)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 50)"),
        ("after" = Option<String>, Query, description = "`next` of the previous page"),
        ("action" = Option<String>, Query, pattern = "^[a-z0-9._]{1,64}$", description = "an action or its beginning"),
    ),
    responses(
        (status = 200, description = "the user's events, newest first", body = AuditPageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
    query: Result<Query<RawAuditQuery>, QueryRejection>,
) -> AppResult<Response> {
    let Query(mut raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    raw.subject = Some(format!("user:{}", id.get()));
    let name = match db::users::find(&state.db, id.get()).await? {
        Some(user) => user.name,
        None => format!("user {}", id.get()),
    };
    let view = TrailView {
        heading: format!("History of {name}"),
        action: format!("/users/{}/history", id.get()),
        show_subject_filter: false,
    };
    respond(&state, &ctx, raw, view).await
}

/// The actor filter as the form shows it: an admin by email, not `admin:1`
/// (what older links and the import's result page send).
async fn actor_as_typed(state: &AppState, actor: Option<&str>) -> AppResult<String> {
    let Some(actor) = actor else {
        return Ok(String::new());
    };
    let admin = actor
        .trim()
        .strip_prefix("admin:")
        .and_then(|id| id.parse::<i64>().ok());
    Ok(match admin {
        Some(id) => match db::users::find(&state.db, id).await? {
            Some(user) => user.email,
            None => actor.to_owned(),
        },
        None => actor.to_owned(),
    })
}

/// How one of the two pages presents itself.
struct TrailView {
    heading: String,
    action: String,
    show_subject_filter: bool,
}

async fn respond(
    state: &AppState,
    ctx: &AdminContext,
    raw: RawAuditQuery,
    view: TrailView,
) -> AppResult<Response> {
    let filters = AuditFilters {
        subject: raw.subject.clone().unwrap_or_default(),
        actor: actor_as_typed(state, raw.actor.as_deref()).await?,
        action: raw.action.clone().unwrap_or_default(),
        since: time_input_value(raw.since.as_deref().unwrap_or_default()),
        until: time_input_value(raw.until.as_deref().unwrap_or_default()),
    };
    let query = match AuditQuery::parse(raw) {
        Ok(query) => query,
        Err(error) if ctx.format == Format::Html => {
            let page = AuditListPage {
                layout: ctx.layout(view.heading.clone()).await?,
                heading: view.heading,
                action: view.action,
                show_subject_filter: view.show_subject_filter,
                filters,
                errors: FieldErrors::single("form", error.to_string()),
                events: Vec::new(),
                next_href: None,
            };
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
        Err(error) => return Err(AppError::BadRequest(error.to_string())),
    };
    let (rows, more) = db::audit::page(&state.db, &query).await?;
    let next = more.then(|| rows.last().map(|row| row.id)).flatten();
    let events: Vec<AuditEventView> = rows.into_iter().map(AuditEventView::from).collect();
    match ctx.format {
        Format::Json => Ok(Json(AuditPageView {
            data: events,
            next: next.map(|id| id.to_string()),
        })
        .into_response()),
        Format::Html => Ok(AuditListPage {
            layout: ctx.layout(view.heading.clone()).await?,
            next_href: next.map(|id| format!("{}?{}", view.action, query.link(Some(id)))),
            heading: view.heading,
            action: view.action,
            show_subject_filter: view.show_subject_filter,
            filters,
            errors: FieldErrors::default(),
            events,
        }
        .into_response()),
    }
}
