//! `/groups`: groups, their fields and roles (SPEC §14). Their members are
//! `members.rs`. Reading needs `users.read`; changing, `groups.manage`; giving
//! a group roles, `roles.manage` too. Each change is checked again against
//! what the actor holds when it is written (`write/groups.rs`).

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::domain::{ExpectedVersion, FieldErrors, Permission, PermissionSet, RawListQuery};
use crate::groups::forms::GroupInput;
use crate::groups::forms::read_group_input;
use crate::groups::members;
use crate::groups::pages::GroupFormValues;
use crate::groups::pages::GroupsPage;
use crate::groups::pages::RoleChoice;
use crate::groups::views::GroupListView;
use crate::groups::views::GroupView;
use crate::http::conditional::IfMatch;
use crate::http::routes::{self as r, Access, Routes};
use crate::{
    db,
    db::groups::GroupFilter,
    http::error::{AppError, AppResult, ErrorBody},
    http::{negotiate::Format, respond::AdminContext},
    state::AppState,
};

/// Groups per page of the list.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;

pub fn router() -> Routes {
    let read = Access::Permission(Permission::UsersRead);
    let manage = Access::Permission(Permission::GroupsManage);
    Routes::new()
        .route("/groups", r::get(read, list).post(manage, create))
        .route(
            "/groups/{id}",
            r::get(read, show)
                .patch(manage, update)
                .post(manage, update)
                .delete(manage, destroy),
        )
        .route("/groups/{id}/delete", r::post(manage, destroy))
        .merge(members::router())
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list,
        create,
        show,
        update,
        destroy,
        members::members,
        members::add,
        members::remove
    ),
    components(schemas(
        crate::groups::views::GroupView,
        crate::groups::views::GroupListView,
        crate::groups::views::MemberResult,
        crate::groups::views::MemberResultsView,
        crate::groups::forms::GroupInput,
        crate::groups::forms::MembersInput,
        crate::write::MemberOutcome
    ))
)]
pub struct Api;

/// A group's id from the path: not a number is 400, one no group can have 404.
pub(crate) fn group_id(raw: &str) -> AppResult<i64> {
    positive_id(raw, "group")
}

/// An id from the path (`what`'s): not a number is 400, one no row can have 404.
pub(crate) fn positive_id(raw: &str, what: &str) -> AppResult<i64> {
    match raw.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        Ok(_) => Err(AppError::NotFound),
        Err(_) => Err(AppError::BadRequest(format!(
            "a {what} id must be a positive integer"
        ))),
    }
}

/// The group as the API shows it; 404 when there is none.
pub(crate) async fn find(state: &AppState, id: i64) -> AppResult<GroupView> {
    db::groups::find(&state.db, id)
        .await?
        .map(GroupView::from)
        .ok_or(AppError::NotFound)
}

/// What writing `input` needs the actor to hold, then and when it is
/// written: `groups.manage`, and with `roles`, `roles.manage`.
pub(crate) fn needs(ctx: &AdminContext, roles_given: bool) -> AppResult<PermissionSet> {
    let mut needs = PermissionSet::EMPTY.with(Permission::GroupsManage);
    if roles_given {
        ctx.admin.require(Permission::RolesManage)?;
        needs = needs.with(Permission::RolesManage);
    }
    Ok(needs)
}

/// Every role, as the forms offer them.
pub(crate) async fn role_choices(state: &AppState) -> AppResult<Vec<RoleChoice>> {
    Ok(db::roles::list(&state.db)
        .await?
        .into_iter()
        .map(|role| RoleChoice {
            name: role.name,
            description: role.description,
        })
        .collect())
}

/// `GET /groups`'s parameters, as they arrive.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    q: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// The parsed parameters: the search, and which part of the list.
struct ListRequest {
    filter: GroupFilter,
    limit: i64,
    offset: i64,
}

impl ListParams {
    fn parse(self) -> AppResult<ListRequest> {
        let number =
            |raw: Option<String>, name: &str, range: std::ops::RangeInclusive<i64>| match raw
                .as_deref()
                .map(str::trim)
            {
                None | Some("") => Ok(None),
                Some(text) => text
                    .parse::<i64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .map(Some)
                    .ok_or_else(|| {
                        AppError::BadRequest(format!(
                            "{name} must be an integer from {} to {}",
                            range.start(),
                            range.end()
                        ))
                    }),
            };
        let limit = number(self.limit, "limit", 1..=MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
        let offset = number(self.offset, "offset", 0..=i64::from(i32::MAX))?.unwrap_or(0);
        let search = self
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if search
            .as_ref()
            .is_some_and(|q| q.chars().count() > 200 || q.contains('\0'))
        {
            return Err(AppError::BadRequest(
                "q must be at most 200 characters, without NUL".into(),
            ));
        }
        Ok(ListRequest {
            filter: GroupFilter {
                search,
                ..GroupFilter::default()
            },
            limit,
            offset,
        })
    }
}

#[utoipa::path(
    get,
    path = "/groups",
    tag = "groups",
    security(("bearer" = [])),
    params(
        ("q" = Option<String>, Query, max_length = 200, description = "part of the name, any case"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 50)"),
        ("offset" = Option<u32>, Query, minimum = 0, description = "groups to skip (default 0)"),
    ),
    responses(
        (status = 200, description = "the groups matching `q`, by name", body = GroupListView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ctx: AdminContext,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Query(params) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let request = params.parse()?;
    let view = read_list(&state, &request).await?;
    match ctx.format {
        Format::Json => Ok(axum::Json(view).into_response()),
        Format::Html => {
            let page = list_page(&state, &ctx, &request, view).await?;
            Ok(page.into_response())
        }
    }
}

async fn read_list(state: &AppState, request: &ListRequest) -> AppResult<GroupListView> {
    let rows = db::groups::list(&state.db, &request.filter, request.offset, request.limit).await?;
    Ok(GroupListView {
        data: rows.into_iter().map(GroupView::from).collect(),
        total: db::groups::count(&state.db, &request.filter).await?,
    })
}

async fn list_page(
    state: &AppState,
    ctx: &AdminContext,
    request: &ListRequest,
    view: GroupListView,
) -> AppResult<GroupsPage> {
    let q = request.filter.search.clone().unwrap_or_default();
    let href = |offset: i64| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            pairs.append_pair("q", &q);
        }
        if request.limit != DEFAULT_LIMIT {
            pairs.append_pair("limit", &request.limit.to_string());
        }
        pairs.append_pair("offset", &offset.to_string());
        format!("/groups?{}", pairs.finish())
    };
    let shown = request.offset + view.data.len() as i64;
    Ok(GroupsPage {
        layout: ctx.layout("Groups").await?,
        prev_href: (request.offset > 0).then(|| href((request.offset - request.limit).max(0))),
        next_href: (shown < view.total).then(|| href(shown)),
        groups: view.data,
        total: view.total,
        q,
        input: GroupFormValues::default(),
        errors: FieldErrors::default(),
        all_roles: role_choices(state).await?,
    })
}

#[utoipa::path(
    post,
    path = "/groups",
    tag = "groups",
    security(("bearer" = [])),
    request_body(content = GroupInput, content_type = "application/json"),
    responses(
        (status = 201, description = "created", body = GroupView,
            headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`groups.manage` is missing; or `roles.manage` with `roles`, or a permission of a role given (`permission` names it)", body = ErrorBody),
        (status = 409, description = "the name (any case) or the external id is taken", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "a bad name (1 to 100 characters), description, external id, or an unknown role", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ctx: AdminContext,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let input = read_group_input(&headers, &body)?;
    let written = async {
        let fields = input.parse(true).map_err(AppError::Validation)?;
        let needs = needs(&ctx, fields.roles.is_some())?;
        let row = (state.writer)
            .create_group_holding(&ctx.actor, needs, &fields)
            .await?;
        Ok::<_, AppError>(row)
    }
    .await;
    let row = match written {
        Ok(row) => row,
        Err(error) if ctx.format.is_html() => {
            return create_again(&state, &ctx, input, error).await;
        }
        Err(error) => return Err(error),
    };
    let flash = format!("Created the group {}.", row.name);
    ctx.created(format!("/groups/{}", row.id), GroupView::from(row), flash)
        .await
}

/// The list page again with the create form as typed and what was wrong.
async fn create_again(
    state: &AppState,
    ctx: &AdminContext,
    input: GroupInput,
    error: AppError,
) -> AppResult<Response> {
    let (status, errors) = page_errors(error)?;
    let request = ListParams::default().parse()?;
    let view = read_list(state, &request).await?;
    let mut page = list_page(state, ctx, &request, view).await?;
    page.input = typed(input);
    page.errors = errors;
    Ok((status, page).into_response())
}

/// A form's fields as typed.
pub(crate) fn typed(input: GroupInput) -> GroupFormValues {
    GroupFormValues {
        name: input.name.unwrap_or_default(),
        description: input.description.unwrap_or_default(),
        external_id: input.external_id.flatten().unwrap_or_default(),
        roles: input.roles,
    }
}

/// A write's error as a form shows it, with the status to show it with:
/// besides what `form_errors` places, a stale version (409) and a permission
/// the actor lacks (403). Other errors are handed back for the error page.
pub(crate) fn page_errors(error: AppError) -> AppResult<(StatusCode, FieldErrors)> {
    let mut errors = FieldErrors::default();
    match error {
        AppError::PreconditionFailed => Ok((
            StatusCode::CONFLICT,
            FieldErrors::single(
                "form",
                "this group was changed by someone else since you opened the page; \
                 nothing was saved — review it and try again",
            ),
        )),
        AppError::MissingPermission {
            permission: Some(permission),
            ..
        } => Ok((
            StatusCode::FORBIDDEN,
            FieldErrors::single(
                "form",
                format!(
                    "this needs the permission {}, which you do not hold; nothing was changed",
                    permission.as_str()
                ),
            ),
        )),
        other => {
            let status = crate::http::respond::form_errors(other, &mut errors)?;
            Ok((status, errors))
        }
    }
}

#[utoipa::path(
    get,
    path = "/groups/{id}",
    tag = "groups",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "the group's id")),
    responses(
        (status = 200, body = GroupView, headers(("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    query: Result<Query<RawListQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let group = find(&state, group_id(&id)?).await?;
    match ctx.format {
        Format::Json => Ok(group.into_response()),
        Format::Html => {
            let Query(raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
            let page = members::group_page(&state, &ctx, group, raw).await?;
            Ok(page.into_response())
        }
    }
}

#[utoipa::path(
    patch,
    path = "/groups/{id}",
    tag = "groups",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the group's id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read; 412 when it is stale"),
    ),
    request_body(content = GroupInput, content_type = "application/json",
        description = "absent fields stay as they are; `roles` replaces the list"),
    responses(
        (status = 200, body = GroupView, headers(("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`groups.manage` is missing; or `roles.manage` with `roles`, or a permission of a role added (`permission` names it)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the name or external id is taken, or the last admin would lose the admin role", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let id = group_id(&id)?;
    let input = read_group_input(&headers, &body)?;
    let expected = if_match.or(input.version);
    let row = match write_update(&state, &ctx, id, &input, &expected).await {
        Ok(row) => row,
        Err(error) if ctx.format.is_html() => {
            return members::page_again(&state, &ctx, id, typed(input), String::new(), error).await;
        }
        Err(error) => return Err(error),
    };
    let flash = match input.roles {
        Some(_) => format!("Saved the roles of {}.", row.name),
        None => format!("Saved {}.", row.name),
    };
    ctx.done(&format!("/groups/{id}"), GroupView::from(row), flash)
        .await
}

async fn write_update(
    state: &AppState,
    ctx: &AdminContext,
    id: i64,
    input: &GroupInput,
    expected: &ExpectedVersion,
) -> AppResult<db::groups::GroupRow> {
    let fields = input.parse(false).map_err(AppError::Validation)?;
    let needs = needs(ctx, fields.roles.is_some())?;
    Ok(state
        .writer
        .update_group_holding(&ctx.actor, needs, id, &fields, expected.versions())
        .await?)
}

#[utoipa::path(
    delete,
    path = "/groups/{id}",
    tag = "groups",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the group's id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read; 412 when it is stale"),
    ),
    responses(
        (status = 204, description = "deleted: its members no longer hold its roles"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the last admin holds the admin role only through this group", body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn destroy(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let id = group_id(&id)?;
    // A script's DELETE has no body; the page's form sends the version it showed.
    let form_version = match crate::http::body::media_type(&headers).as_deref() {
        Some("application/x-www-form-urlencoded") => read_group_input(&headers, &body)?.version,
        _ => None,
    };
    let expected = if_match.or(form_version);
    let row = state
        .writer
        .delete_group_holding(&ctx.actor, needs(&ctx, false)?, id, expected.versions())
        .await
        .map_err(|error| match error {
            crate::write::WriteError::VersionMismatch if ctx.format.is_html() => {
                AppError::conflict(
                    "this group was changed by someone else since you opened the page; \
                 nothing was deleted — review it and try again",
                )
            }
            other => other.into(),
        })?;
    let flash = format!("Deleted the group {}.", row.name);
    ctx.done("/groups", StatusCode::NO_CONTENT, flash).await
}
