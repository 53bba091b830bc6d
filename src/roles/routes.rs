//! `/roles`: the roles and what each allows (SPEC §14). Reading them needs
//! `users.read`; creating, editing and deleting custom ones `roles.manage`, and
//! no role can be given a permission its editor does not hold.

use axum::{
    Json,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::domain::Permission;
use crate::http::routes::{self as r, Access, Routes};
use crate::roles::forms::ForceParam;
use crate::roles::forms::RoleInput;
use crate::roles::pages::RolePage;
use crate::roles::pages::RolesPage;
use crate::roles::views::RoleView;
use crate::{
    db,
    domain::FieldErrors,
    http::error::{AppError, AppResult, ErrorBody},
    http::{negotiate::Format, respond::AdminContext, respond::form_errors},
    state::AppState,
};

pub fn router() -> Routes {
    let read = Access::Permission(Permission::UsersRead);
    let manage = Access::Permission(Permission::RolesManage);
    Routes::new()
        .route("/roles", r::get(read, list).post(manage, create))
        .route(
            "/roles/{id}",
            r::get(read, show)
                .patch(manage, update)
                .delete(manage, destroy),
        )
        // The pages' forms (HTML forms only GET and POST).
        .route("/roles/{id}/update", r::post(manage, update))
        .route("/roles/{id}/delete", r::post(manage, destroy))
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, show, update, destroy),
    components(schemas(RoleView, RoleInput))
)]
pub struct Api;

/// A role's id from its path: anything but a positive number is no role.
fn role_id(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AppError::NotFound)
}

/// The body, or the service's own answer when it cannot be read (413 above
/// the limit).
fn body_bytes(body: Result<Bytes, BytesRejection>) -> AppResult<Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest("the request body could not be read".into())
        }
    })
}

async fn all_roles(state: &AppState) -> AppResult<Vec<RoleView>> {
    Ok(db::roles::list(&state.db)
        .await?
        .into_iter()
        .map(RoleView::from)
        .collect())
}

async fn find_role(state: &AppState, id: i64) -> AppResult<RoleView> {
    db::roles::find(&state.db, id)
        .await?
        .map(RoleView::from)
        .ok_or(AppError::NotFound)
}

/// A write's refusal as a form's errors and the status to show it with: the
/// field errors and conflicts as everywhere, and a permission the editor does
/// not hold on the permissions (403). Anything else is the error page's.
fn refusal(error: AppError) -> AppResult<(StatusCode, FieldErrors)> {
    let mut errors = FieldErrors::default();
    if let AppError::MissingPermission {
        permission: Some(permission),
        ..
    } = error
    {
        errors.add(
            "permissions",
            format!("include {permission}, which you do not hold yourself, so you cannot give it"),
        );
        return Ok((StatusCode::FORBIDDEN, errors));
    }
    let status = form_errors(error, &mut errors)?;
    Ok((status, errors))
}

#[utoipa::path(
    get,
    path = "/roles",
    tag = "roles",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every role: the built-in ones first, then by name", body = Vec<RoleView>),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>, ctx: AdminContext) -> AppResult<Response> {
    let roles = all_roles(&state).await?;
    match ctx.format {
        Format::Json => Ok(Json(roles).into_response()),
        Format::Html => Ok(RolesPage {
            layout: ctx.layout("Roles").await?,
            roles,
            input: RoleInput::default(),
            errors: FieldErrors::default(),
        }
        .into_response()),
    }
}

#[utoipa::path(
    post,
    path = "/roles",
    tag = "roles",
    security(("bearer" = [])),
    request_body(content = RoleInput, content_type = "application/json"),
    responses(
        (status = 201, description = "the new role", body = RoleView,
            headers(("Location" = String, description = "the role's URL"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`roles.manage` is missing, or the role would grant a permission the actor does not hold (`permission` names it); nothing is created", body = ErrorBody),
        (status = 409, description = "a role with this name (in any case) exists", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "a bad name or description, or an unknown permission", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ctx: AdminContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<Response> {
    let input = RoleInput::read(&headers, &body_bytes(body)?)?;
    let created = match input.parse(true) {
        Ok(fields) => state
            .writer
            .create_role(&ctx.actor, &fields)
            .await
            .map_err(AppError::from),
        Err(errors) => Err(AppError::Validation(errors)),
    };
    let view = match created {
        Ok(row) => RoleView::from(row),
        Err(error) => return create_again(&state, &ctx, input, error).await,
    };
    let flash = format!("Role {} created.", view.name);
    ctx.created(format!("/roles/{}", view.id), Json(view), flash)
        .await
}

/// A refused new role: the error to a script; the roles page again, with the
/// form as filled in and its errors, to a browser.
async fn create_again(
    state: &AppState,
    ctx: &AdminContext,
    input: RoleInput,
    error: AppError,
) -> AppResult<Response> {
    if !ctx.format.is_html() {
        return Err(error);
    }
    let (status, errors) = refusal(error)?;
    let page = RolesPage {
        layout: ctx.layout("Roles").await?,
        roles: all_roles(state).await?,
        input,
        errors,
    };
    Ok((status, page).into_response())
}

#[utoipa::path(
    get,
    path = "/roles/{id}",
    tag = "roles",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = RoleView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let role = find_role(&state, role_id(&id)?).await?;
    match ctx.format {
        Format::Json => Ok(Json(role).into_response()),
        Format::Html => {
            let layout = ctx.layout(format!("Role {}", role.name)).await?;
            Ok(RolePage::new(layout, role).into_response())
        }
    }
}

#[utoipa::path(
    patch,
    path = "/roles/{id}",
    tag = "roles",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = RoleInput, content_type = "application/json"),
    responses(
        (status = 200, description = "the role as changed; its holders act with its new permissions from their next request", body = RoleView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`roles.manage` is missing, or a permission added is one the actor does not hold (`permission` names it); nothing is changed", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "a built-in role, or a name another role has (in any case)", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "a bad name or description, or an unknown permission", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<Response> {
    let id = role_id(&id)?;
    let input = RoleInput::read(&headers, &body_bytes(body)?)?;
    let updated = match input.parse(false) {
        Ok(fields) => state
            .writer
            .update_role(&ctx.actor, id, &fields)
            .await
            .map_err(AppError::from),
        Err(errors) => Err(AppError::Validation(errors)),
    };
    let view = match updated {
        Ok(row) => RoleView::from(row),
        Err(error) => return role_again(&state, &ctx, id, Some(input), error).await,
    };
    let flash = format!("Role {} saved.", view.name);
    ctx.done(&format!("/roles/{id}"), Json(view), flash).await
}

/// A refused change of a role: the error to a script; the role's page again,
/// with the edit form as filled in (or as stored) and the errors, to a browser.
async fn role_again(
    state: &AppState,
    ctx: &AdminContext,
    id: i64,
    input: Option<RoleInput>,
    error: AppError,
) -> AppResult<Response> {
    if !ctx.format.is_html() {
        return Err(error);
    }
    let (status, errors) = refusal(error)?;
    let role = find_role(state, id).await?;
    let layout = ctx.layout(format!("Role {}", role.name)).await?;
    let mut page = RolePage::new(layout, role);
    if let Some(input) = input {
        page.input = input;
    }
    page.errors = errors;
    Ok((status, page).into_response())
}

#[utoipa::path(
    delete,
    path = "/roles/{id}",
    tag = "roles",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1),
        ("force" = Option<bool>, Query, description = "also take the role from every user and group holding it (each removal is audited)"),
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "a built-in role, or one still granted (without `force=true`), or the last admin would be left without a permission", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn destroy(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    query: Result<Query<ForceParam>, QueryRejection>,
) -> AppResult<Response> {
    let id = role_id(&id)?;
    let Query(force) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let force = force.wanted().map_err(AppError::BadRequest)?;
    match state.writer.delete_role(&ctx.actor, id, force).await {
        Ok(role) => {
            let flash = format!("Role {} deleted.", role.name);
            ctx.done("/roles", StatusCode::NO_CONTENT, flash).await
        }
        Err(error) => role_again(&state, &ctx, id, None, error.into()).await,
    }
}
