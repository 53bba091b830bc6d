//! A group's members: listed exactly as `GET /users?group=<id>` lists them
//! (the same handler, cache and cursors), added by id (scripts) or by email
//! (the group's page), removed one by one. And the group's page, which shows
//! them.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::domain::{FieldErrors, ListQuery, PageCursor, Permission, RawListQuery};
use crate::groups::forms::NewMembers;
use crate::groups::forms::check_count;
use crate::groups::forms::emails_of;
use crate::groups::forms::read_new_members;
use crate::groups::pages::GroupFormValues;
use crate::groups::pages::GroupPage;
use crate::groups::routes::{find, group_id, needs, page_errors, positive_id, role_choices};
use crate::groups::views::GroupView;
use crate::groups::views::MemberResult;
use crate::groups::views::MemberResultsView;
use crate::http::auth::KnownGeneration;
use crate::http::routes::{self as r, Access, Routes};
use crate::users::views::UserListResponse;
use crate::{
    db,
    http::error::{AppError, AppResult, ErrorBody},
    http::respond::AdminContext,
    state::AppState,
    write::{MemberChanges, MemberOutcome, MemberResults},
};

pub fn router() -> Routes {
    let read = Access::Permission(Permission::UsersRead);
    let manage = Access::Permission(Permission::GroupsManage);
    Routes::new()
        .route(
            "/groups/{id}/members",
            r::get(read, members).post(manage, add),
        )
        .route("/groups/{id}/members/{user_id}", r::delete(manage, remove))
        .route(
            "/groups/{id}/members/{user_id}/remove",
            r::post(manage, remove),
        )
}

#[utoipa::path(
    get,
    path = "/groups/{id}/members",
    tag = "groups",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the group's id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 50)"),
        ("after" = Option<String>, Query, description = "`next` of the previous page"),
        ("before" = Option<String>, Query, description = "`prev` of the following page"),
        ("q" = Option<String>, Query, max_length = 200, description = "case-insensitive substring of name or email"),
        ("sort" = Option<String>, Query, pattern = "^-?(id|name|email|created_at)$",
            description = "id, name, email or created_at; prefix - for descending"),
    ),
    responses(
        (status = 200, description = "one page of the members, as `GET /users?group=<id>` lists them", body = UserListResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn members(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    generation: KnownGeneration,
    headers: HeaderMap,
    query: Result<Query<RawListQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let group = find(&state, group_id(&id)?).await?;
    let Query(mut raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    if ctx.format.is_html() {
        return Ok(group_page(&state, &ctx, group, raw).await?.into_response());
    }
    // The users list, with the group as its filter: one list, one cache.
    raw.group = Some(group.id.to_string());
    crate::users::routes::list(State(state), ctx, generation, headers, Ok(Query(raw))).await
}

/// The group's page, with one page of its members as `raw` asks.
pub(crate) async fn group_page(
    state: &AppState,
    ctx: &AdminContext,
    group: GroupView,
    mut raw: RawListQuery,
) -> AppResult<GroupPage> {
    raw.group = Some(group.id.to_string());
    let query = ListQuery::parse(raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let (members, _) = crate::users::routes::read_page(state, &query).await?;
    let href = |from: PageCursor<'_>| {
        format!(
            "/groups/{}?{}",
            group.id,
            query.link(query.sort, query.order, Some(from))
        )
    };
    Ok(GroupPage {
        layout: ctx.layout(format!("Group {}", group.name)).await?,
        next_href: members.next.as_deref().map(|c| href(PageCursor::After(c))),
        prev_href: members.prev.as_deref().map(|c| href(PageCursor::Before(c))),
        members,
        q: query.search.clone().unwrap_or_default(),
        input: GroupFormValues::of(&group),
        group,
        emails: String::new(),
        errors: FieldErrors::default(),
        all_roles: role_choices(state).await?,
    })
}

/// The group's page again after a refused form, with what was typed and
/// what was wrong; errors that are not about a form become the error page.
pub(crate) async fn page_again(
    state: &AppState,
    ctx: &AdminContext,
    id: i64,
    input: GroupFormValues,
    emails: String,
    error: AppError,
) -> AppResult<Response> {
    // Someone else saved first: their values are shown, none of ours.
    let stale = matches!(error, AppError::PreconditionFailed);
    let (status, errors) = page_errors(error)?;
    let group = find(state, id).await?;
    let mut page = group_page(state, ctx, group, RawListQuery::default()).await?;
    if !stale {
        page.input = GroupFormValues {
            roles: input.roles.or(page.input.roles.take()),
            ..input
        };
    }
    page.emails = emails;
    page.errors = errors;
    Ok((status, page).into_response())
}

#[utoipa::path(
    post,
    path = "/groups/{id}/members",
    tag = "groups",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "the group's id")),
    request_body(content = crate::groups::forms::MembersInput, content_type = "application/json"),
    responses(
        (status = 200, description = "one result per id, in the order sent: `done`, `not_found` or `already_member`", body = MemberResultsView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`groups.manage` is missing, or the group carries a permission the actor lacks (`permission` names it): nobody was added", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "no ids, or more than 1,000", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let id = group_id(&id)?;
    let (ids, typed) = match read_new_members(&headers, &body)? {
        NewMembers::Ids(ids) => (Ok(ids), String::new()),
        NewMembers::Emails(text) => (resolve_emails(&state, &text).await, text),
    };
    let written = match ids {
        Ok(ids) => add_ids(&state, &ctx, id, ids).await,
        Err(error) => Err(error),
    };
    let results = match written {
        Ok(results) => results,
        Err(error) if ctx.format.is_html() => {
            let input = GroupFormValues::of(&find(&state, id).await?);
            return page_again(&state, &ctx, id, input, typed, error).await;
        }
        Err(error) => return Err(error),
    };
    let flash = added_flash(&results);
    let view = MemberResultsView {
        results: (results.added.into_iter())
            .map(|(id, result)| MemberResult { id, result })
            .collect(),
    };
    ctx.done(&format!("/groups/{id}"), Json(view), flash).await
}

async fn add_ids(
    state: &AppState,
    ctx: &AdminContext,
    group_id: i64,
    ids: Vec<i64>,
) -> AppResult<MemberResults> {
    let changes = MemberChanges {
        add: ids,
        ..MemberChanges::default()
    };
    Ok(state
        .writer
        .change_members_holding(&ctx.actor, needs(ctx, false)?, group_id, &changes)
        .await?)
}

/// The users with these emails; every email that names no user is a 422 on
/// `emails`, and nobody is added.
async fn resolve_emails(state: &AppState, text: &str) -> AppResult<Vec<i64>> {
    let emails = emails_of(text);
    check_count(emails.len(), "emails")?;
    let mut ids = Vec::with_capacity(emails.len());
    let mut unknown = Vec::new();
    for email in emails {
        match db::users::find_by_email(&state.db, &email).await? {
            Some(user) => ids.push(user.id),
            None => unknown.push(email),
        }
    }
    if unknown.is_empty() {
        return Ok(ids);
    }
    Err(AppError::Validation(FieldErrors::single(
        "emails",
        format!(
            "name no user: {} (nobody was added; correct or remove them and try again)",
            unknown.join(", ")
        ),
    )))
}

fn added_flash(results: &MemberResults) -> String {
    let count = |wanted: MemberOutcome| {
        (results.added.iter())
            .filter(|(_, outcome)| *outcome == wanted)
            .count()
    };
    let (done, already) = (
        count(MemberOutcome::Done),
        count(MemberOutcome::AlreadyMember),
    );
    let mut flash = format!(
        "Added {done} {} to {}.",
        if done == 1 { "member" } else { "members" },
        results.group.name
    );
    if already > 0 {
        flash.push_str(&format!(" {already} already in it."));
    }
    flash
}

#[utoipa::path(
    delete,
    path = "/groups/{id}/members/{user_id}",
    tag = "groups",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the group's id"),
        ("user_id" = i64, Path, minimum = 1, description = "the member's user id"),
    ),
    responses(
        (status = 204, description = "removed: the user no longer holds the group's roles"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "no such group, or the user is not in it", body = ErrorBody),
        (status = 409, description = "the last admin holds the admin role only through this group", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path((id, user_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let (id, user_id) = (group_id(&id)?, positive_id(&user_id, "user")?);
    let changes = MemberChanges {
        remove: vec![user_id],
        ..MemberChanges::default()
    };
    let results = state
        .writer
        .change_members_holding(&ctx.actor, needs(&ctx, false)?, id, &changes)
        .await?;
    if results.removed.first().map(|(_, outcome)| *outcome) != Some(MemberOutcome::Done) {
        return Err(AppError::NotFound);
    }
    let who = match db::users::find(&state.db, user_id).await? {
        Some(user) => user.name,
        None => format!("user {user_id}"),
    };
    let flash = format!("Removed {who} from {}.", results.group.name);
    ctx.done(&format!("/groups/{id}"), StatusCode::NO_CONTENT, flash)
        .await
}
