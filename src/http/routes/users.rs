//! `/users`: the original service's contract, now behind authentication.

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;

use crate::{
    cache::Lookup,
    db::{
        self,
        users::{NewUserRecord, UserChangesRecord, WriteOutcome},
    },
    domain::{ListQuery, NewUser, RawListQuery, UserChanges, UserInput},
    error::{AppError, AppResult},
    http::{
        body::Body,
        extract::{IfMatch, UserIdPath},
        views::{MessageView, Source, UserPage, UserView, user_page_response},
    },
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/users", get(list).post(create)).route(
        "/users/{id}",
        get(show).put(update).patch(update).delete(destroy),
    )
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<RawListQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Query(raw) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let query = ListQuery::parse(raw).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let page = match state.user_cache.lookup(&query).await {
        Lookup::Hit(page) => return Ok(user_page_response(Source::Cache, &page)),
        Lookup::Miss(ticket) => {
            let page = read_page(&state, &query).await?;
            state.user_cache.fill(ticket, page.clone()).await;
            page
        }
        Lookup::Skip => read_page(&state, &query).await?,
    };
    Ok(user_page_response(Source::Database, &page))
}

/// One page from PostgreSQL, serialised as it is cached.
async fn read_page(state: &AppState, query: &ListQuery) -> AppResult<Bytes> {
    let (rows, total) = tokio::try_join!(
        db::users::list(&state.db, query),
        db::users::count(&state.db, query.search.as_deref()),
    )?;
    let page = UserPage {
        data: rows.rows.into_iter().map(UserView::from).collect(),
        next: rows.next.map(|cursor| cursor.encode()),
        prev: rows.prev.map(|cursor| cursor.encode()),
        total,
    };
    Ok(page.to_bytes())
}

async fn create(
    State(state): State<AppState>,
    Body(input): Body<UserInput>,
) -> AppResult<Response> {
    let user = NewUser::parse(input).map_err(AppError::Validation)?;
    let password_hash = match &user.password {
        Some(password) => Some(state.hasher.hash(password).await?),
        None => None,
    };
    let row = db::users::insert(
        &state.db,
        NewUserRecord {
            name: user.name.as_str(),
            email: user.email.as_str(),
            is_admin: user.is_admin,
            password_hash,
        },
    )
    .await?;
    state.user_cache.invalidate().await;
    let location = format!("/users/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        UserView::from(row),
    )
        .into_response())
}

async fn show(State(state): State<AppState>, UserIdPath(id): UserIdPath) -> AppResult<UserView> {
    db::users::find(&state.db, id.get())
        .await?
        .map(UserView::from)
        .ok_or(AppError::NotFound)
}

async fn update(
    State(state): State<AppState>,
    UserIdPath(id): UserIdPath,
    IfMatch(expected): IfMatch,
    Body(input): Body<UserInput>,
) -> AppResult<UserView> {
    let changes = UserChanges::parse(input).map_err(AppError::Validation)?;
    let password_hash = match &changes.password {
        Some(password) => Some(state.hasher.hash(password).await?),
        None => None,
    };
    let record = UserChangesRecord {
        name: changes.name.as_ref().map(|n| n.as_str()),
        email: changes.email.as_ref().map(|e| e.as_str()),
        is_admin: changes.is_admin,
        password_hash,
    };
    let row = written(db::users::update(&state.db, id.get(), record, expected.as_deref()).await?)?;
    state.user_cache.invalidate().await;
    Ok(UserView::from(row))
}

async fn destroy(
    State(state): State<AppState>,
    UserIdPath(id): UserIdPath,
    IfMatch(expected): IfMatch,
) -> AppResult<Json<MessageView>> {
    let row = written(db::users::delete(&state.db, id.get(), expected.as_deref()).await?)?;
    state.user_cache.invalidate().await;
    Ok(Json(MessageView {
        message: format!("user {} deleted", row.id),
    }))
}

fn written<T>(outcome: WriteOutcome<T>) -> AppResult<T> {
    match outcome {
        WriteOutcome::Done(value) => Ok(value),
        WriteOutcome::NotFound => Err(AppError::NotFound),
        WriteOutcome::VersionMismatch => Err(AppError::PreconditionFailed),
        WriteOutcome::LastAdmin => Err(AppError::last_admin()),
    }
}
