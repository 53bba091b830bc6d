//! `/users`: the original service's JSON contract and the admin pages, from the
//! same handlers. `Format` (from `Accept`) decides what each answers.

use axum::{
    Extension, Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use bytes::Bytes;
use tower_sessions::Session;

use crate::{
    auth::{AuthMethod, CurrentAdmin, session},
    cache::Lookup,
    db::{
        self,
        users::{NewUserRecord, UserChangesRecord, WriteOutcome},
    },
    domain::{
        FieldErrors, ListQuery, NewUser, Password, RawListQuery, SortKey, SortOrder, UserChanges,
        UserInput,
    },
    error::{AppError, AppResult, ErrorBody},
    http::{
        body::Body,
        extract::{IfMatch, UserIdPath},
        layout,
        middleware::CacheGeneration,
        negotiate::Format,
        pages::{DeletePage, SortLink, UserDetailPage, UserFormPage, UsersListPage},
        views::{MessageView, Source, UserListResponse, UserPage, UserView, user_page_response},
    },
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/new", get(new_form))
        .route(
            "/users/{id}",
            get(show)
                .put(update)
                .patch(update)
                .post(update)
                .delete(destroy),
        )
        .route("/users/{id}/edit", get(edit_form))
        .route("/users/{id}/delete", get(delete_form).post(destroy))
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "page size, 1 to 1000 (default 50)"),
        ("after" = Option<String>, Query, description = "`next` of the previous page"),
        ("before" = Option<String>, Query, description = "`prev` of the following page"),
        ("q" = Option<String>, Query, description = "case-insensitive substring of name or email"),
        ("sort" = Option<String>, Query, description = "id, name, email or created_at; prefix - for descending"),
    ),
    responses(
        (status = 200, description = "one page of users", body = UserListResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    generation: Option<Extension<CacheGeneration>>,
    query: Result<Query<RawListQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Query(raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let query = ListQuery::parse(raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let generation = generation.map(|Extension(CacheGeneration(generation))| generation);
    let (source, page) = match state.user_cache.lookup(&query, generation).await {
        Lookup::Hit(page) => (Source::Cache, page),
        Lookup::Miss(ticket) => {
            let page = read_page(&state, &query).await?;
            state.user_cache.fill(ticket, page.clone()).await;
            (Source::Database, page)
        }
        Lookup::Skip => (Source::Database, read_page(&state, &query).await?),
    };
    match format {
        Format::Json => Ok(user_page_response(source, &page)),
        Format::Html => {
            let page: UserPage = serde_json::from_slice(&page)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("cached page unreadable: {e}")))?;
            Ok(list_page(
                &query,
                page,
                layout::for_admin(&session, &admin, "Users").await?,
            )
            .into_response())
        }
    }
}

/// One page from PostgreSQL, serialised as it is cached.
async fn read_page(state: &AppState, query: &ListQuery) -> AppResult<Bytes> {
    let (rows, total) = db::users::page(&state.db, query).await?;
    let page = UserPage {
        data: rows.rows.into_iter().map(UserView::from).collect(),
        next: rows.next.map(|cursor| cursor.encode()),
        prev: rows.prev.map(|cursor| cursor.encode()),
        total,
    };
    Ok(page.to_bytes())
}

fn list_page(
    query: &ListQuery,
    page: UserPage,
    layout: crate::http::pages::Layout,
) -> UsersListPage {
    let sort_param = |key: SortKey, order: SortOrder| {
        let sign = if order == SortOrder::Descending {
            "-"
        } else {
            ""
        };
        format!("{sign}{}", key.column())
    };
    let q = query.search.clone().unwrap_or_default();
    let href = |sort: &str, cursor: Option<(&str, &str)>| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            pairs.append_pair("q", &q);
        }
        pairs.append_pair("sort", sort);
        if query.limit != ListQuery::default().limit {
            pairs.append_pair("limit", &query.limit.to_string());
        }
        if let Some((name, value)) = cursor {
            pairs.append_pair(name, value);
        }
        format!("/users?{}", pairs.finish())
    };
    let current = sort_param(query.sort, query.order);
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
            href: href(&sort_param(key, order), None),
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
    UsersListPage {
        next_href: page
            .next
            .as_deref()
            .map(|c| href(&current, Some(("after", c)))),
        prev_href: page
            .prev
            .as_deref()
            .map(|c| href(&current, Some(("before", c)))),
        layout,
        page,
        q: q.clone(),
        sort: current.clone(),
        columns,
    }
}

async fn new_form(
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
) -> AppResult<Response> {
    html_only(format)?;
    let page = new_page(layout::for_admin(&session, &admin, "New user").await?);
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
        (status = 409, description = "email already used", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "validation failed", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    Body(input): Body<UserInput>,
) -> AppResult<Response> {
    let input = match format {
        Format::Html => input.blank_password_means_none(),
        Format::Json => input,
    };
    let (name, email, is_admin) = echo(&input);
    let result = async {
        let user = NewUser::parse(input).map_err(AppError::Validation)?;
        let password_hash = hash_if_set(&state, user.password.as_ref()).await?;
        let record = NewUserRecord {
            name: user.name.as_str(),
            email: user.email.as_str(),
            is_admin: user.is_admin,
            password_hash,
        };
        Ok::<_, AppError>(db::users::insert(&state.db, record).await?)
    }
    .await;
    let row = match (result, format) {
        (Ok(row), _) => row,
        (Err(error), Format::Html) => {
            let mut page = new_page(layout::for_admin(&session, &admin, "New user").await?);
            (page.name, page.email, page.is_admin) = (name, email, is_admin);
            return form_error(error, &mut page).map(|status| (status, page).into_response());
        }
        (Err(error), Format::Json) => return Err(error),
    };
    state.user_cache.invalidate().await;
    let location = format!("/users/{}", row.id);
    match format {
        Format::Json => Ok((
            StatusCode::CREATED,
            [(header::LOCATION, location)],
            UserView::from(row),
        )
            .into_response()),
        Format::Html => {
            session::set_flash(&session, format!("Created {}.", row.name)).await?;
            Ok(Redirect::to(&location).into_response())
        }
    }
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
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    let user = find(&state, id.get()).await?;
    match format {
        Format::Json => Ok(user.into_response()),
        Format::Html => Ok(UserDetailPage {
            layout: layout::for_admin(&session, &admin, user.name.clone()).await?,
            user,
        }
        .into_response()),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    html_only(format)?;
    let user = find(&state, id.get()).await?;
    let layout = layout::for_admin(&session, &admin, format!("Edit {}", user.name)).await?;
    Ok(edit_page(layout, &user, FieldErrors::default()).into_response())
}

/// The empty create form.
fn new_page(layout: crate::http::pages::Layout) -> UserFormPage {
    UserFormPage {
        layout,
        heading: "New user".into(),
        action: "/users".into(),
        submit_label: "Create user",
        cancel_href: "/users".into(),
        version: None,
        name: String::new(),
        email: String::new(),
        is_admin: false,
        errors: FieldErrors::default(),
        conflict: None,
        submitted_name: String::new(),
        submitted_email: String::new(),
        is_self: false,
    }
}

fn edit_page(
    layout: crate::http::pages::Layout,
    user: &UserView,
    errors: FieldErrors,
) -> UserFormPage {
    let is_self = layout.admin_id == Some(user.id);
    UserFormPage {
        layout,
        heading: format!("Edit {}", user.name),
        action: format!("/users/{}", user.id),
        submit_label: "Save changes",
        cancel_href: format!("/users/{}", user.id),
        version: Some(user.version),
        name: user.name.clone(),
        email: user.email.clone(),
        is_admin: user.is_admin,
        errors,
        conflict: None,
        submitted_name: String::new(),
        submitted_email: String::new(),
        is_self,
    }
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
        (status = 404, body = ErrorBody),
        (status = 409, description = "email already used, or the last admin", body = ErrorBody),
        (status = 412, description = "If-Match does not match", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    UserIdPath(id): UserIdPath,
    IfMatch(if_match): IfMatch,
    Body(input): Body<UserInput>,
) -> AppResult<Response> {
    let mut input = match format {
        Format::Html => input.blank_password_means_none(),
        Format::Json => input,
    };
    let current_password = input.current_password.take();
    let expected = if_match.or(input.version.map(|v| vec![v]));
    let (name, email, is_admin) = echo(&input);
    let own_password = id.get() == admin.user_id && input.password.is_some();
    let result = async {
        let changes = UserChanges::parse(input).map_err(AppError::Validation)?;
        if own_password {
            confirm_own_password(&state, admin.user_id, current_password).await?;
        }
        let password_hash = hash_if_set(&state, changes.password.as_ref()).await?;
        let record = UserChangesRecord {
            name: changes.name.as_ref().map(|n| n.as_str()),
            email: changes.email.as_ref().map(|e| e.as_str()),
            is_admin: changes.is_admin,
            password_hash,
        };
        written(db::users::update(&state.db, id.get(), record, expected.as_deref()).await?)
    }
    .await;
    let row = match (result, format) {
        (Ok(row), _) => row,
        (Err(error), Format::Json) => return Err(error),
        (Err(AppError::PreconditionFailed), Format::Html) => {
            // Someone saved first: show their values, keep nothing of ours.
            let current = find(&state, id.get()).await?;
            let layout =
                layout::for_admin(&session, &admin, format!("Edit {}", current.name)).await?;
            let mut page = edit_page(layout, &current, FieldErrors::default());
            page.submitted_name = name;
            page.submitted_email = email;
            page.conflict = Some(current);
            return Ok((StatusCode::CONFLICT, page).into_response());
        }
        (Err(error), Format::Html) => {
            let current = find(&state, id.get()).await?;
            let layout =
                layout::for_admin(&session, &admin, format!("Edit {}", current.name)).await?;
            let mut page = edit_page(layout, &current, FieldErrors::default());
            // The input is kept; the version stays the one the form was read at.
            page.version = expected
                .as_ref()
                .and_then(|v| v.first().copied())
                .or(page.version);
            (page.name, page.email, page.is_admin) = (name, email, is_admin);
            return form_error(error, &mut page).map(|status| (status, page).into_response());
        }
    };
    state.user_cache.invalidate().await;
    if own_password && admin.via == AuthMethod::Session {
        // The password change ended this admin's sessions; this one goes on
        // under a new id, as on /account/password.
        renew_own_session(&state, &session, admin.user_id).await?;
    }
    match format {
        Format::Json => Ok(UserView::from(row).into_response()),
        Format::Html => {
            session::set_flash(&session, format!("Saved {}.", row.name)).await?;
            Ok(Redirect::to(&format!("/users/{}", row.id)).into_response())
        }
    }
}

async fn delete_form(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    UserIdPath(id): UserIdPath,
) -> AppResult<Response> {
    html_only(format)?;
    let user = find(&state, id.get()).await?;
    Ok(DeletePage {
        layout: layout::for_admin(&session, &admin, format!("Delete {}", user.name)).await?,
        user,
    }
    .into_response())
}

/// The delete confirmation form: the version it was shown at.
#[derive(serde::Deserialize, Default)]
pub struct DeleteForm {
    pub version: Option<i32>,
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "the user's id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read; 412 when it is stale"),
    ),
    responses(
        (status = 200, body = MessageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the last admin", body = ErrorBody),
        (status = 412, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn destroy(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    UserIdPath(id): UserIdPath,
    IfMatch(if_match): IfMatch,
    body: Result<Body<DeleteForm>, AppError>,
) -> AppResult<Response> {
    // DELETE from a script has no body; the confirmation form has one.
    let form_version = body.ok().and_then(|Body(form)| form.version);
    let expected = if_match.or(form_version.map(|v| vec![v]));
    let row = match written(db::users::delete(&state.db, id.get(), expected.as_deref()).await?) {
        Err(AppError::PreconditionFailed) if format == Format::Html => {
            return Err(AppError::conflict(
                "this user was changed by someone else since you opened the page; nothing was deleted — review it and try again",
            ));
        }
        other => other?,
    };
    state.user_cache.invalidate().await;
    match format {
        Format::Json => Ok(Json(MessageView {
            message: format!("user {} deleted", row.id),
        })
        .into_response()),
        Format::Html => {
            session::set_flash(&session, format!("Deleted {} ({}).", row.name, row.email)).await?;
            Ok(Redirect::to("/users").into_response())
        }
    }
}

/// Setting your own password needs your current one (SPEC §5), wherever it is
/// set: a stolen session or token alone cannot take the account over.
async fn confirm_own_password(
    state: &AppState,
    admin_id: i64,
    current_password: Option<String>,
) -> AppResult<()> {
    let Some(current_password) = current_password.filter(|p| !p.is_empty()) else {
        return Err(AppError::Validation(FieldErrors::single(
            "current_password",
            "is required to change your own password",
        )));
    };
    let account = db::users::credentials_by_id(&state.db, admin_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if state
        .hasher
        .verify(current_password, account.password_hash)
        .await?
    {
        Ok(())
    } else {
        Err(AppError::Validation(FieldErrors::single(
            "current_password",
            "is not your current password",
        )))
    }
}

async fn renew_own_session(state: &AppState, session: &Session, admin_id: i64) -> AppResult<()> {
    let (Some(login), Some(account)) = (
        session::login(session).await?,
        db::users::credentials_by_id(&state.db, admin_id).await?,
    ) else {
        return Ok(());
    };
    session::renew(session, login, account.session_epoch).await
}

/// The hash to store for a password the client set, if it set one.
async fn hash_if_set(state: &AppState, password: Option<&Password>) -> AppResult<Option<String>> {
    Ok(match password {
        Some(password) => Some(state.hasher.hash(password).await?),
        None => None,
    })
}

async fn find(state: &AppState, id: i64) -> AppResult<UserView> {
    db::users::find(&state.db, id)
        .await?
        .map(UserView::from)
        .ok_or(AppError::NotFound)
}

/// The form pages have no JSON form.
fn html_only(format: Format) -> AppResult<()> {
    match format {
        Format::Html => Ok(()),
        Format::Json => Err(AppError::NotFound),
    }
}

/// What the user typed, to put back into the form.
fn echo(input: &UserInput) -> (String, String, bool) {
    (
        input.name.clone().unwrap_or_default(),
        input.email.clone().unwrap_or_default(),
        input.is_admin.unwrap_or(false),
    )
}

/// Puts a write's error into the form; errors that are not about the form
/// (database down, …) go to the error page instead.
fn form_error(error: AppError, page: &mut UserFormPage) -> AppResult<StatusCode> {
    let status = error.status();
    match error {
        AppError::Validation(fields) => page.errors = fields,
        AppError::Conflict {
            fields: Some(fields),
            ..
        } => page.errors = fields,
        AppError::Conflict { message, .. } => page.errors = FieldErrors::single("form", message),
        AppError::Unprocessable(message) => page.errors = FieldErrors::single("form", message),
        other => return Err(other),
    }
    Ok(status)
}

fn written<T>(outcome: WriteOutcome<T>) -> AppResult<T> {
    match outcome {
        WriteOutcome::Done(value) => Ok(value),
        WriteOutcome::NotFound => Err(AppError::NotFound),
        WriteOutcome::VersionMismatch => Err(AppError::PreconditionFailed),
        WriteOutcome::LastAdmin => Err(AppError::last_admin()),
    }
}
