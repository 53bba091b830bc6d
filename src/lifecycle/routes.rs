//! An account's life beside create and edit: disable and enable, the deleted
//! users and their restore, and bulk actions over many users at once.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::db::{self, users::Scope};
use crate::domain::Permission;
use crate::http::error::ErrorLink;
use crate::http::routes::{self as r, Access, Routes};
use crate::lifecycle::forms::BulkInput;
use crate::lifecycle::forms::DisableInput;
use crate::lifecycle::pages::BulkConfirmPage;
use crate::lifecycle::pages::DeletedUsersPage;
use crate::lifecycle::pages::DisablePage;
use crate::views::DeletedUserView;
use crate::views::UserView;
use crate::{
    domain::{DisabledReason, FieldErrors, ListQuery, RawListQuery},
    http::error::{AppError, AppResult, ErrorBody},
    http::{
        body::{Body, media_type},
        conditional::IfMatch,
        extract::UserIdPath,
        negotiate::Format,
        respond::AdminContext,
    },
    state::AppState,
    users::routes::find,
    write::{BulkAction, BulkOutcome, WriteError},
};

/// The most ids one bulk action takes.
pub const MAX_BULK_IDS: usize = 1000;

pub fn router() -> Routes {
    let lifecycle = Access::Permission(Permission::UsersLifecycle);
    Routes::new()
        .route(
            "/users/deleted",
            r::get(Access::Permission(Permission::UsersRead), deleted),
        )
        .route("/users/bulk", r::post(lifecycle, bulk))
        .route(
            "/users/{id}/disable",
            r::get(lifecycle, disable_form).post(lifecycle, disable),
        )
        .route("/users/{id}/enable", r::post(lifecycle, enable))
        .route("/users/{id}/restore", r::post(lifecycle, restore))
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(disable, enable, restore, deleted, bulk),
    components(schemas(
        crate::lifecycle::forms::DisableInput,
        crate::lifecycle::forms::BulkInput,
        BulkResult,
        BulkResponse,
        DeletedPageView,
        crate::views::DeletedUserView
    ))
)]
pub struct Api;

async fn disable_form(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    ctx.html_only()?;
    let user = find(&state, id.get()).await?;
    Ok(DisablePage {
        layout: ctx.layout(format!("Disable {}", user.name)).await?,
        user,
        reason: String::new(),
        errors: FieldErrors::default(),
    }
    .into_response())
}

#[utoipa::path(
    post,
    path = "/users/{id}/disable",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the user's id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read; 412 when it is stale"),
    ),
    request_body(content = DisableInput, content_type = "application/json"),
    responses(
        (status = 200, description = "the user, disabled: it cannot log in, its sessions ended and its tokens were revoked", body = UserView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the last active admin", body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
    IfMatch(if_match): IfMatch,
    body: Result<Body<DisableInput>, AppError>,
) -> AppResult<Response> {
    // A script may send no body at all: no reason.
    let input = match body {
        Ok(Body(input)) => input,
        Err(AppError::UnsupportedMediaType) => DisableInput::default(),
        Err(other) => return Err(other),
    };
    let expected = if_match.or(input.version);
    let written = match DisabledReason::parse(&input.reason) {
        Ok(reason) => state
            .writer
            .disable_user(&ctx.actor, id.get(), &reason, &expected)
            .await
            .map_err(AppError::from),
        Err(problem) => Err(AppError::Validation(FieldErrors::single("reason", problem))),
    };
    let row = match written {
        Ok(row) => row,
        Err(error)
            if ctx.format.is_html()
                && matches!(error, AppError::Validation(_) | AppError::Conflict { .. }) =>
        {
            return disable_again(&state, &ctx, id.get(), input.reason, error).await;
        }
        Err(error) => return Err(error),
    };
    let flash = format!("Disabled {}.", row.name);
    let location = format!("/users/{}", row.id);
    ctx.done(&location, UserView::from(row), flash).await
}

/// The disable form again, with what was wrong.
async fn disable_again(
    state: &AppState,
    ctx: &AdminContext,
    id: i64,
    reason: String,
    error: AppError,
) -> AppResult<Response> {
    let user = find(state, id).await?;
    let mut page = DisablePage {
        layout: ctx.layout(format!("Disable {}", user.name)).await?,
        user,
        reason,
        errors: FieldErrors::default(),
    };
    let status = crate::http::respond::form_errors(error, &mut page.errors)?;
    Ok((status, page).into_response())
}

#[utoipa::path(
    post,
    path = "/users/{id}/enable",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the user's id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read; 412 when it is stale"),
    ),
    responses(
        (status = 200, description = "the user, active again (no session or token comes back)", body = UserView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
    IfMatch(if_match): IfMatch,
) -> AppResult<Response> {
    let row = state
        .writer
        .enable_user(&ctx.actor, id.get(), &if_match)
        .await?;
    let flash = format!("Enabled {}.", row.name);
    let location = format!("/users/{}", row.id);
    ctx.done(&location, UserView::from(row), flash).await
}

#[utoipa::path(
    post,
    path = "/users/{id}/restore",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "a deleted user's id")),
    responses(
        (status = 200, description = "the user, back in the lists", body = UserView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "no such deleted user (purged, or never)", body = ErrorBody),
        (status = 409, description = "the user is not deleted, or its email was taken meanwhile", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    let row = match state.writer.restore_user(&ctx.actor, id.get()).await {
        Ok(row) => row,
        Err(WriteError::EmailTaken) => return email_taken(&state, &ctx, id.get()).await,
        Err(WriteError::NotFound) if db::users::find(&state.db, id.get()).await?.is_some() => {
            return Err(AppError::conflict("this user is not deleted"));
        }
        Err(other) => return Err(other.into()),
    };
    let flash = format!("Restored {}.", row.name);
    let location = format!("/users/{}", row.id);
    ctx.done(&location, UserView::from(row), flash).await
}

/// A restore refused because another user has the email now: the page names
/// that user and links to them, where the viewer may read users.
async fn email_taken(state: &AppState, ctx: &AdminContext, id: i64) -> AppResult<Response> {
    let error = AppError::conflict(
        "another user has this email now; change that user's email first, then restore",
    );
    let Some(deleted) = db::users::find_any(&state.db, id).await? else {
        return Err(error);
    };
    let holder = match db::users::find_by_email(&state.db, &deleted.email).await? {
        Some(holder) if ctx.format.is_html() => holder,
        _ => return Err(error),
    };
    let message = format!(
        "Another user, {}, already has this email ({}). Change that user's email first, then restore {}.",
        holder.name, holder.email, deleted.name
    );
    let link = ctx
        .admin
        .permissions
        .contains(Permission::UsersRead)
        .then(|| ErrorLink {
            href: format!("/users/{}", holder.id),
            text: format!("Go to {}", holder.name),
        });
    Ok(error.with_page(message, link))
}

/// `GET /users/deleted`: one page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeletedPageView {
    pub data: Vec<DeletedUserView>,
    pub next: Option<String>,
    pub prev: Option<String>,
    pub total: i64,
    /// As in `GET /users`: true when a search's count stopped at 10,000.
    pub total_is_lower_bound: bool,
}

#[utoipa::path(
    get,
    path = "/users/deleted",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 50)"),
        ("after" = Option<String>, Query, description = "`next` of the previous page"),
        ("before" = Option<String>, Query, description = "`prev` of the following page"),
        ("q" = Option<String>, Query, max_length = 200, description = "case-insensitive substring of name or email"),
    ),
    responses(
        (status = 200, description = "deleted users that can still be restored", body = DeletedPageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn deleted(
    State(state): State<AppState>,
    ctx: AdminContext,
    query: Result<Query<RawListQuery>, QueryRejection>,
) -> AppResult<Response> {
    let Query(raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let query = ListQuery::parse(raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let (rows, total) = db::users::page_of(&state.db, &query, Scope::Deleted).await?;
    let view = DeletedPageView {
        next: rows.next.map(|cursor| cursor.encode()),
        prev: rows.prev.map(|cursor| cursor.encode()),
        data: rows
            .rows
            .into_iter()
            .filter_map(|row| {
                let deleted_at = row.deleted_at?;
                Some(DeletedUserView {
                    user: UserView::from(row),
                    deleted_at,
                })
            })
            .collect(),
        total: total.count,
        total_is_lower_bound: total.is_lower_bound,
    };
    match ctx.format {
        Format::Json => Ok(Json(view).into_response()),
        Format::Html => deleted_page(&state, &ctx, &query, view).await,
    }
}

async fn deleted_page(
    state: &AppState,
    ctx: &AdminContext,
    query: &ListQuery,
    view: DeletedPageView,
) -> AppResult<Response> {
    Ok(DeletedUsersPage {
        layout: ctx.layout("Deleted users").await?,
        next_href: view.next.map(|c| {
            format!(
                "/users/deleted?{}",
                query.link(
                    query.sort,
                    query.order,
                    Some(crate::domain::PageCursor::After(&c))
                )
            )
        }),
        users: view.data,
        total: view.total,
        total_is_lower_bound: view.total_is_lower_bound,
        q: query.search.clone().unwrap_or_default(),
        restore_days: state.settings.user_restore.as_secs() / 86_400,
    }
    .into_response())
}

/// What one id of a bulk action came to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub id: i64,
    /// `done`, `not_found` or `conflict`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResponse {
    pub results: Vec<BulkResult>,
}

/// The bulk form of the list page: the chosen ids and the action.
#[derive(Deserialize, Default)]
pub struct BulkForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub reason: String,
    /// Set on the confirmation page: go ahead.
    #[serde(default)]
    pub confirmed: Option<String>,
    #[serde(default)]
    pub csrf_token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/users/bulk",
    tag = "users",
    security(("bearer" = [])),
    request_body(content = BulkInput, content_type = "application/json"),
    responses(
        (status = 200, description = "one result per id, in the order sent", body = BulkResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`users.lifecycle` is missing, or `roles.manage` for `promote` and `demote`, or (promoting) a permission the admin role confers (`permission` names it)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn bulk(
    State(state): State<AppState>,
    ctx: AdminContext,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let request = match BulkRequest::parse(&headers, &body, ctx.format.is_html()) {
        // The list's form sent with no user ticked: back to the list, saying so.
        Err(AppError::Validation(fields))
            if ctx.format.is_html() && !fields.get("ids").is_empty() =>
        {
            let flash = format!("Nothing was changed: {}.", fields.get("ids").join("; "));
            return ctx.redirect_with_flash("/users", flash).await;
        }
        parsed => parsed?,
    };
    // The route's users.lifecycle covers the others; admin rights are roles.
    if matches!(request.action, BulkAction::Promote | BulkAction::Demote) {
        ctx.admin.require(Permission::RolesManage)?;
    }
    if !request.confirmed {
        return confirmation_page(&state, &ctx, &request).await;
    }
    let outcomes = (state.writer)
        .bulk(&ctx.actor, request.action, &request.ids, &request.reason)
        .await?;
    let results: Vec<BulkResult> = request
        .ids
        .iter()
        .zip(outcomes)
        .map(|(&id, outcome)| BulkResult::of(id, outcome))
        .collect();
    let flash = bulk_flash(request.action, &results);
    ctx.done("/users", Json(BulkResponse { results }), flash)
        .await
}

/// A bulk action as asked for, checked.
struct BulkRequest {
    action: BulkAction,
    ids: Vec<i64>,
    reason: DisabledReason,
    /// Go ahead (otherwise: show what would be done, for a browser to confirm).
    confirmed: bool,
}

impl BulkRequest {
    /// From a JSON body or the list page's form. Scripts act at once; browsers
    /// confirm first.
    fn parse(headers: &axum::http::HeaderMap, body: &[u8], from_browser: bool) -> AppResult<Self> {
        let (action, ids, reason, confirmed) = match media_type(headers).as_deref() {
            Some("application/json") => {
                let input: BulkInput = parse_json(body)?;
                let reason = input.reason.unwrap_or_default();
                (input.action, input.ids, reason, true)
            }
            Some("application/x-www-form-urlencoded") => {
                let (form, ids) = parse_bulk_form(body)?;
                let confirmed = form.confirmed.is_some() || !from_browser;
                (form.action, ids, form.reason, confirmed)
            }
            _ => return Err(AppError::UnsupportedMediaType),
        };
        let action = BulkAction::parse(&action).ok_or_else(|| {
            AppError::Validation(FieldErrors::single(
                "action",
                "must be disable, enable, delete, restore, promote or demote",
            ))
        })?;
        check_bulk_ids(&ids)?;
        let reason = DisabledReason::parse(&reason)
            .map_err(|problem| AppError::Validation(FieldErrors::single("reason", problem)))?;
        Ok(Self {
            action,
            ids,
            reason,
            confirmed,
        })
    }
}

/// The list page's form: it repeats `id` once per checked row.
fn parse_bulk_form(body: &[u8]) -> AppResult<(BulkForm, Vec<i64>)> {
    let mut form = BulkForm::default();
    let mut ids = Vec::new();
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "id" => ids.push(
                value
                    .parse::<i64>()
                    .map_err(|_| AppError::BadRequest("every id must be a user id".into()))?,
            ),
            "action" => form.action = value.into_owned(),
            "reason" => form.reason = value.into_owned(),
            "confirmed" => form.confirmed = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok((form, ids))
}

fn check_bulk_ids(ids: &[i64]) -> AppResult<()> {
    if ids.is_empty() {
        return Err(AppError::Validation(FieldErrors::single(
            "ids",
            "choose at least one user",
        )));
    }
    if ids.len() > MAX_BULK_IDS {
        return Err(AppError::Validation(FieldErrors::single(
            "ids",
            format!("at most {MAX_BULK_IDS} ids at once"),
        )));
    }
    Ok(())
}

/// The confirmation page names every user the action will touch.
async fn confirmation_page(
    state: &AppState,
    ctx: &AdminContext,
    request: &BulkRequest,
) -> AppResult<Response> {
    let mut users = Vec::new();
    for &id in &request.ids {
        let found = match request.action {
            BulkAction::Restore => db::users::find_any(&state.db, id)
                .await?
                .filter(|u| u.deleted_at.is_some()),
            _ => db::users::find(&state.db, id).await?,
        };
        if let Some(user) = found {
            users.push(UserView::from(user));
        }
    }
    let verb = verb(request.action);
    Ok(BulkConfirmPage {
        layout: ctx.layout(format!("{verb} users")).await?,
        action: request.action.as_str(),
        verb,
        users,
        reason: request.reason.as_str().to_owned(),
    }
    .into_response())
}

impl BulkResult {
    fn of(id: i64, outcome: BulkOutcome) -> Self {
        let (result, message) = match outcome {
            BulkOutcome::Done => ("done", None),
            BulkOutcome::NotFound => ("not_found", None),
            BulkOutcome::LastAdmin => ("conflict", Some(crate::http::error::LAST_ADMIN.into())),
            BulkOutcome::EmailTaken => ("conflict", Some("another user has this email now".into())),
        };
        Self {
            id,
            result,
            message,
        }
    }
}

fn bulk_flash(action: BulkAction, results: &[BulkResult]) -> String {
    let done = results.iter().filter(|r| r.result == "done").count();
    let skipped = results.len() - done;
    let users = crate::domain::count(done as u64, "user", "users");
    if skipped == 0 {
        format!("{}: {users}.", verb(action))
    } else {
        format!("{}: {users}; {skipped} could not be changed.", verb(action))
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> AppResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => AppError::Unprocessable(format!("invalid body: {e}")),
            _ => AppError::BadRequest(format!("malformed JSON: {e}")),
        }
    })
}

/// How the pages name an action.
fn verb(action: BulkAction) -> &'static str {
    match action {
        BulkAction::Disable => "Disable",
        BulkAction::Enable => "Enable",
        BulkAction::Delete => "Delete",
        BulkAction::Restore => "Restore",
        BulkAction::Promote => "Make admin",
        BulkAction::Demote => "Remove admin rights from",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(done: usize, conflicts: usize) -> Vec<BulkResult> {
        let one = |result| BulkResult {
            id: 1,
            result,
            message: None,
        };
        let mut all: Vec<BulkResult> = (0..done).map(|_| one("done")).collect();
        all.extend((0..conflicts).map(|_| one("conflict")));
        all
    }

    #[test]
    fn the_bulk_flash_counts_users_in_words_that_fit() {
        assert_eq!(
            bulk_flash(BulkAction::Disable, &results(1, 0)),
            "Disable: 1 user."
        );
        assert_eq!(
            bulk_flash(BulkAction::Delete, &results(3, 0)),
            "Delete: 3 users."
        );
        assert_eq!(
            bulk_flash(BulkAction::Enable, &results(0, 2)),
            "Enable: 0 users; 2 could not be changed."
        );
    }
}
