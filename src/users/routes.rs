//! `/users`: the original service's JSON contract and the admin pages, from the
//! same handlers. Each reads as parse → write (or read) → respond.

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use bytes::Bytes;

use crate::audit::views::AuditEventView;
use crate::domain::Permission;
use crate::http::pages::Layout;
use crate::http::routes::{self as r, Access, Routes};
use crate::http::views::MessageView;
use crate::http::{
    auth::KnownGeneration,
    body::Body,
    conditional::IfMatch,
    extract::UserIdPath,
    negotiate::Format,
    respond::{AdminContext, PageContext, form_errors},
};
use crate::users::forms::DeleteForm;
use crate::users::forms::UserBody;
use crate::users::forms::UserInput;
use crate::users::pages::DeletePage;
use crate::users::pages::ListChoices;
use crate::users::pages::ListFilterValues;
use crate::users::pages::PermissionSource;
use crate::users::pages::RoleChoice;
use crate::users::pages::SortLink;
use crate::users::pages::UserDetailPage;
use crate::users::pages::UserFormPage;
use crate::users::pages::UsersListPage;
use crate::users::views::Source;
use crate::users::views::UserListResponse;
use crate::users::views::UserPage;
use crate::users::views::user_page_response;
use crate::views::UserView;
use crate::{
    cache::Lookup,
    db,
    domain::{
        AuditQuery, ExpectedVersion, FieldErrors, ListQuery, NewUser, PageCursor, RawListQuery,
        SortKey, SortOrder, UserChanges, UserFilters,
    },
    http::error::{AppError, AppResult, ErrorBody},
    state::AppState,
    transfer::export_routes::{self as export, ExportFormat},
    users::forms::PurgeParam,
};

/// How many of a user's latest events its page shows.
const RECENT_HISTORY: u32 = 10;

/// The most groups the list's group filter offers.
const MAX_GROUP_CHOICES: i64 = 500;

pub fn router() -> Routes {
    let (read, write) = (
        Access::Permission(Permission::UsersRead),
        Access::Permission(Permission::UsersWrite),
    );
    // Deleting; purging (`?purge=true`) also needs users.purge, checked by
    // the handler (the table cannot tell a query apart).
    let lifecycle = Access::Permission(Permission::UsersLifecycle);
    Routes::new()
        .route("/users", r::get(read, list).post(write, create))
        .route("/users/new", r::get(write, new_form))
        .route(
            "/users/{id}",
            r::get(read, show)
                .put(write, update)
                .patch(write, update)
                .post(write, update)
                .delete(lifecycle, destroy),
        )
        .route("/users/{id}/edit", r::get(write, edit_form))
        .route(
            "/users/{id}/delete",
            r::get(lifecycle, delete_form).post(lifecycle, destroy),
        )
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, show, update, destroy),
    components(schemas(
        crate::views::UserView,
        crate::users::forms::UserInput,
        crate::users::views::UserListResponse,
        crate::users::views::Source,
        crate::http::views::MessageView
    ))
)]
pub struct Api;

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 50)"),
        ("after" = Option<String>, Query, description = "`next` of the previous page"),
        ("before" = Option<String>, Query, description = "`prev` of the following page"),
        ("q" = Option<String>, Query, description = "case-insensitive substring of name or email"),
        ("sort" = Option<String>, Query, pattern = "^-?(id|name|email|created_at)$",
            description = "id, name, email or created_at; prefix - for descending"),
        ("status" = Option<String>, Query, pattern = "^(active|disabled)$", description = "only active or only disabled users"),
        ("is_admin" = Option<bool>, Query, description = "only admins, or only users who are not"),
        ("created_after" = Option<String>, Query, format = DateTime, description = "created after this time"),
        ("created_before" = Option<String>, Query, format = DateTime, description = "created before this time"),
        ("last_login_before" = Option<String>, Query, format = DateTime, description = "dormant: last logged in before this time, or never"),
        ("group" = Option<i64>, Query, minimum = 1, description = "only members of the group with this id"),
        ("role" = Option<String>, Query, description = "only holders of the role with this name (any case), directly or through a group"),
    ),
    responses(
        (status = 200, description = "one page of users", body = UserListResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ctx: AdminContext,
    KnownGeneration(generation): KnownGeneration,
    headers: axum::http::HeaderMap,
    query: Result<Query<RawListQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Query(raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let query = ListQuery::parse(raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
    if let Some(format) = ExportFormat::from_accept(&headers) {
        return export::stream(&state, query, format).await;
    }
    let (source, bytes, read) = match state.user_cache.lookup(&query, generation).await {
        Lookup::Hit(bytes) => (Source::Cache, bytes, None),
        Lookup::Miss(ticket) => {
            let (page, bytes) = read_page(&state, &query).await?;
            state.user_cache.fill(ticket, bytes.clone()).await;
            (Source::Database, bytes, Some(page))
        }
        Lookup::Skip => {
            let (page, bytes) = read_page(&state, &query).await?;
            (Source::Database, bytes, Some(page))
        }
    };
    match ctx.format {
        Format::Json => Ok(user_page_response(source, bytes)),
        Format::Html => {
            // Only a page that came from the cache needs reading back.
            let page = match read {
                Some(page) => page,
                None => serde_json::from_slice(&bytes).map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("cached page unreadable: {e}"))
                })?,
            };
            let choices = list_choices(&state).await?;
            let layout = ctx.layout("Users").await?;
            Ok(list_page(&query, page, choices, layout).into_response())
        }
    }
}

/// One page from PostgreSQL, and the bytes it is cached and sent as.
pub(crate) async fn read_page(state: &AppState, query: &ListQuery) -> AppResult<(UserPage, Bytes)> {
    let (rows, total) = db::users::page(&state.db, query).await?;
    let page = UserPage {
        data: rows.rows.into_iter().map(UserView::from).collect(),
        next: rows.next.map(|cursor| cursor.encode()),
        prev: rows.prev.map(|cursor| cursor.encode()),
        total: total.count,
        total_is_lower_bound: total.is_lower_bound,
    };
    let bytes = page.to_bytes();
    Ok((page, bytes))
}

/// The groups and roles the list's filters offer.
async fn list_choices(state: &AppState) -> AppResult<ListChoices> {
    let groups = db::groups::list(&state.db, &Default::default(), 0, MAX_GROUP_CHOICES).await?;
    let roles = db::roles::list(&state.db).await?;
    Ok(ListChoices {
        groups: groups.into_iter().map(|g| (g.id, g.name)).collect(),
        roles: roles.into_iter().map(|r| r.name).collect(),
    })
}

fn list_page(
    query: &ListQuery,
    page: UserPage,
    choices: ListChoices,
    layout: Layout,
) -> UsersListPage {
    let href = |sort: SortKey, order: SortOrder, from: Option<PageCursor<'_>>| {
        format!("/users?{}", query.link(sort, order, from))
    };
    let columns = [
        (SortKey::Id, "Id"),
        (SortKey::Name, "Name"),
        (SortKey::Email, "Email"),
        (SortKey::CreatedAt, "Created"),
    ]
    .into_iter()
    .map(|(key, label)| {
        let active = key == query.sort;
        // A click on the active column turns its order around.
        let order = if active && query.order == SortOrder::Ascending {
            SortOrder::Descending
        } else {
            SortOrder::Ascending
        };
        SortLink {
            label,
            href: href(key, order, None),
            indicator: match (active, query.order) {
                (false, _) => "",
                (true, SortOrder::Ascending) => "▲",
                (true, SortOrder::Descending) => "▼",
            },
            aria_sort: match (active, query.order) {
                (false, _) => "none",
                (true, SortOrder::Ascending) => "ascending",
                (true, SortOrder::Descending) => "descending",
            },
        }
    })
    .collect();
    let unfiltered = ListQuery {
        filters: Default::default(),
        ..query.clone()
    };
    UsersListPage {
        filters: filter_values(&query.filters),
        choices,
        filter_pairs: query.filters.pairs(),
        export_query: query.link(query.sort, query.order, None),
        clear_filters_href: format!("/users?{}", unfiltered.link(query.sort, query.order, None)),
        next_href: page
            .next
            .as_deref()
            .map(|c| href(query.sort, query.order, Some(PageCursor::After(c)))),
        prev_href: page
            .prev
            .as_deref()
            .map(|c| href(query.sort, query.order, Some(PageCursor::Before(c)))),
        layout,
        page,
        q: query.search.clone().unwrap_or_default(),
        sort: query.sort_param(),
        columns,
    }
}

/// The filter bar's fields as its inputs show them.
fn filter_values(filters: &UserFilters) -> ListFilterValues {
    let day = |at: Option<time::OffsetDateTime>| {
        at.map(|at| at.to_offset(time::UtcOffset::UTC).date().to_string())
            .unwrap_or_default()
    };
    ListFilterValues {
        status: filters
            .status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        is_admin: filters.is_admin.map(|a| a.to_string()).unwrap_or_default(),
        created_after: day(filters.created_after),
        created_before: day(filters.created_before),
        last_login_before: day(filters.last_login_before),
        group: filters.group.map(|g| g.to_string()).unwrap_or_default(),
        role: filters.role.clone().unwrap_or_default(),
    }
}

async fn new_form(State(state): State<AppState>, ctx: AdminContext) -> AppResult<Response> {
    ctx.html_only()?;
    let page = new_page(ctx.layout("New user").await?, &state).await?;
    Ok(page.into_response())
}

#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    security(("bearer" = [])),
    request_body(content = UserInput, content_type = "application/json"),
    responses(
        (status = 201, description = "created", body = UserView,
            headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`users.write` is missing, or `roles.manage` with `roles` or `is_admin`, or a permission the roles granted confer (`permission` names it); nothing was created", body = ErrorBody),
        (status = 409, description = "email already used", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "validation failed", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserBody(input): UserBody,
) -> AppResult<Response> {
    let input = for_format(&ctx, input);
    // users.write is the route's; granting roles needs more.
    if input.touches_roles() {
        ctx.admin.require(Permission::RolesManage)?;
    }
    let written = async {
        let user = NewUser::parse(input.fields()).map_err(AppError::Validation)?;
        Ok::<_, AppError>(state.writer.create_user(&ctx.actor, user).await?)
    }
    .await;
    let row = match written {
        Ok(row) => row,
        Err(error) if ctx.format.is_html() => {
            let mut page = new_page(ctx.layout("New user").await?, &state).await?;
            page.keep_input(&input);
            let status = form_errors(error, &mut page.errors)?;
            page.find_email_holder(&state, None).await?;
            return Ok((status, page).into_response());
        }
        Err(error) => return Err(error),
    };
    let flash = format!("Created {}.", row.name);
    ctx.created(format!("/users/{}", row.id), UserView::from(row), flash)
        .await
}

#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "the user's id")),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    PageContext(page): PageContext,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    let user = find(&state, id.get()).await?;
    let Some(ctx) = page else {
        return Ok(user.into_response());
    };
    let recent = AuditQuery {
        limit: RECENT_HISTORY,
        subject: Some(("user".into(), user.id)),
        ..AuditQuery::default()
    };
    let (events, more_history) = db::audit::page(&state.db, &recent).await?;
    let held = db::roles::held_by(&state.db, user.id).await?;
    Ok(UserDetailPage {
        layout: ctx.layout(user.name.clone()).await?,
        sources: PermissionSource::of(&held),
        user,
        events: events.into_iter().map(AuditEventView::from).collect(),
        more_history,
        two_factor: db::two_factor::is_enabled(&state.db, id.get()).await?,
    }
    .into_response())
}

async fn edit_form(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    ctx.html_only()?;
    let user = find(&state, id.get()).await?;
    let layout = ctx.layout(format!("Edit {}", user.name)).await?;
    Ok(edit_page(layout, &state, &user).await?.into_response())
}

#[utoipa::path(
    method(put, patch),
    path = "/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the user's id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read; 412 when it is stale"),
    ),
    request_body(content = UserInput, content_type = "application/json",
        description = "absent fields stay as they are"),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`users.write` is missing; or `roles.manage` with `roles` or `is_admin`; or `credentials.reset` with another user's `password`; or a permission the roles granted confer (`permission` names it). Nothing was changed", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "email already used, or the last admin", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
    IfMatch(if_match): IfMatch,
    UserBody(input): UserBody,
) -> AppResult<Response> {
    let mut input = for_format(&ctx, input);
    require_for_update(&ctx, id.get(), &input)?;
    let expected = if_match.or(input.version);
    let current_password = input.current_password.take();
    let own_password = ctx.actor.is_admin(id.get()) && input.password.is_some();
    let written = async {
        let changes = UserChanges::parse(input.fields()).map_err(AppError::Validation)?;
        let row = state
            .writer
            .update_user(&ctx.actor, id.get(), changes, &expected, current_password)
            .await?;
        Ok::<_, AppError>(row)
    }
    .await;
    let row = match written {
        Ok(row) => row,
        Err(error) if ctx.format.is_html() => {
            return edit_again(&state, &ctx, id.get(), &input, &expected, error).await;
        }
        Err(error) => return Err(error),
    };
    if own_password && ctx.admin.by_session() {
        // The password change ended this admin's sessions; this one goes on
        // under a new id, as on /account/password.
        renew_own_session(&state, &ctx).await?;
    }
    let flash = format!("Saved {}.", row.name);
    let location = format!("/users/{}", row.id);
    ctx.done(&location, UserView::from(row), flash).await
}

/// What a change needs beyond the route's `users.write`: `roles.manage` to
/// change roles or `is_admin`, `credentials.reset` to set another user's
/// password. Checked before anything is written.
fn require_for_update(ctx: &AdminContext, id: i64, input: &UserInput) -> AppResult<()> {
    if input.touches_roles() {
        ctx.admin.require(Permission::RolesManage)?;
    }
    if input.password.is_some() && !ctx.actor.is_admin(id) {
        ctx.admin.require(Permission::CredentialsReset)?;
    }
    Ok(())
}

/// The edit form again after a refused save. Someone else saved first: their
/// values, none of ours (409). Our input was refused: it stays, with the errors.
async fn edit_again(
    state: &AppState,
    ctx: &AdminContext,
    id: i64,
    input: &UserInput,
    expected: &ExpectedVersion,
    error: AppError,
) -> AppResult<Response> {
    let current = find(state, id).await?;
    let layout = ctx.layout(format!("Edit {}", current.name)).await?;
    let mut page = edit_page(layout, state, &current).await?;
    if matches!(error, AppError::PreconditionFailed) {
        page.submitted_name = input.name.clone().unwrap_or_default();
        page.submitted_email = input.email.clone().unwrap_or_default();
        page.conflict = Some(current);
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    // The version stays the one the form was read at.
    page.version = expected.first().or(page.version);
    page.keep_input(input);
    let status = form_errors(error, &mut page.errors)?;
    page.find_email_holder(state, Some(id)).await?;
    Ok((status, page).into_response())
}

async fn renew_own_session(state: &AppState, ctx: &AdminContext) -> AppResult<()> {
    if let Some(account) = db::users::credentials_by_id(&state.db, ctx.admin.user_id).await? {
        ctx.session.renew(account.session_epoch).await?;
    }
    Ok(())
}

async fn delete_form(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    ctx.html_only()?;
    let user = find(&state, id.get()).await?;
    Ok(DeletePage {
        layout: ctx.layout(format!("Delete {}", user.name)).await?,
        user,
    }
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the user's id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read; 412 when it is stale"),
        ("purge" = Option<bool>, Query, description = "true: erase at once, for good (the row, and the user's name and email in its audit events); otherwise the user can be restored"),
    ),
    responses(
        (status = 200, body = MessageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`users.lifecycle` is missing, or `users.purge` with `?purge=true` (`permission` names it)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the last admin", body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn destroy(
    State(state): State<AppState>,
    ctx: AdminContext,
    UserIdPath(id): UserIdPath,
    IfMatch(if_match): IfMatch,
    purge: Result<Query<PurgeParam>, axum::extract::rejection::QueryRejection>,
    body: Result<Body<DeleteForm>, AppError>,
) -> AppResult<Response> {
    let Query(purge) = purge.map_err(|e| AppError::BadRequest(e.body_text()))?;
    if purge.wanted()? {
        return purge_user(&state, &ctx, id.get()).await;
    }
    // DELETE from a script has no body; the confirmation form has one.
    let form_version = body.ok().and_then(|Body(form)| form.version);
    let expected = if_match.or(form_version);
    let row = match state
        .writer
        .delete_user(&ctx.actor, id.get(), &expected)
        .await
    {
        Err(crate::write::WriteError::VersionMismatch) if ctx.format.is_html() => {
            return Err(AppError::conflict(
                "this user was changed by someone else since you opened the page; nothing was deleted — review it and try again",
            ));
        }
        other => other?,
    };
    let flash = format!(
        "Deleted {} ({}). It can be restored from Deleted users.",
        row.name, row.email
    );
    let body = Json(MessageView {
        message: format!("user {} deleted", row.id),
    });
    ctx.done("/users", body, flash).await
}

/// `DELETE /users/{id}?purge=true`, for good: the row goes, and its name and
/// email leave the audit trail.
async fn purge_user(state: &AppState, ctx: &AdminContext, id: i64) -> AppResult<Response> {
    // The route table names users.lifecycle for DELETE; purging needs more.
    ctx.admin.require(Permission::UsersPurge)?;
    state.writer.purge_user(&ctx.actor, id).await?;
    let body = Json(MessageView {
        message: format!("user {id} purged"),
    });
    ctx.done("/users", body, format!("Purged user {id}.")).await
}

/// The user as the API shows it; 404 when there is none (or it is deleted).
pub(crate) async fn find(state: &AppState, id: i64) -> AppResult<UserView> {
    db::users::find(&state.db, id)
        .await?
        .map(UserView::from)
        .ok_or(AppError::NotFound)
}

/// A browser form sends an empty password field to mean "no change".
fn for_format(ctx: &AdminContext, input: UserInput) -> UserInput {
    if ctx.format.is_html() {
        input.blank_password_means_none()
    } else {
        input
    }
}

/// The empty create form.
async fn new_page(layout: Layout, state: &AppState) -> AppResult<UserFormPage> {
    // Only an admin who may grant roles is offered them.
    let roles = if layout.permissions.contains(Permission::RolesManage) {
        db::roles::list(&state.db).await?
    } else {
        Vec::new()
    };
    Ok(UserFormPage {
        layout,
        heading: "New user".into(),
        action: "/users".into(),
        submit_label: "Create user",
        cancel_href: "/users".into(),
        version: None,
        name: String::new(),
        email: String::new(),
        is_admin: false,
        roles: roles
            .into_iter()
            .filter(|role| !role.name.eq_ignore_ascii_case("admin"))
            .map(|role| RoleChoice {
                name: role.name,
                description: role.description,
                checked: false,
            })
            .collect(),
        errors: FieldErrors::default(),
        conflict: None,
        email_holder: None,
        submitted_name: String::new(),
        submitted_email: String::new(),
        is_self: false,
        may_set_password: true,
    })
}

/// The edit form, filled from the stored user.
async fn edit_page(layout: Layout, state: &AppState, user: &UserView) -> AppResult<UserFormPage> {
    let is_self = layout.admin_id == Some(user.id);
    let may_set_password = is_self || layout.permissions.contains(Permission::CredentialsReset);
    let mut page = UserFormPage {
        heading: format!("Edit {}", user.name),
        action: format!("/users/{}", user.id),
        submit_label: "Save changes",
        cancel_href: format!("/users/{}", user.id),
        version: Some(user.version),
        name: user.name.clone(),
        email: user.email.clone(),
        is_admin: user.roles.iter().any(|r| r.eq_ignore_ascii_case("admin")),
        is_self,
        may_set_password,
        ..new_page(layout, state).await?
    };
    page.check_roles(&user.roles);
    Ok(page)
}

impl UserFormPage {
    /// Puts back what the user typed.
    fn keep_input(&mut self, input: &UserInput) {
        self.name = input.name.clone().unwrap_or_default();
        self.email = input.email.clone().unwrap_or_default();
        self.is_admin = input.is_admin.unwrap_or(false);
        if let Some(roles) = &input.roles {
            self.check_roles(roles);
        }
    }

    /// When the email entered is taken, the user who holds it, for the form
    /// to link to (where the viewer may read users). `editing`: the user
    /// the form edits, who is not "another user".
    async fn find_email_holder(&mut self, state: &AppState, editing: Option<i64>) -> AppResult<()> {
        if self.errors.get("email").is_empty() || !self.layout.may("users.read") {
            return Ok(());
        }
        self.email_holder = db::users::find_by_email(&state.db, self.email.trim())
            .await?
            .filter(|holder| Some(holder.id) != editing)
            .map(|holder| (holder.id, holder.name));
        Ok(())
    }

    /// Ticks the role boxes of these names.
    fn check_roles(&mut self, names: &[String]) {
        for role in &mut self.roles {
            role.checked = names.iter().any(|n| n.eq_ignore_ascii_case(&role.name));
        }
    }
}
