//! `POST /.search` (RFC 7644 §3.4.3): a search across resource types. Users
//! come first, then groups; a filter (or a sort) applies to the types that
//! have its attributes (`userName` only to users, `members` only to groups,
//! `displayName` to both), and one that fits neither is refused.

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::HeaderMap,
    response::Response,
};

use super::{
    error::{ScimError, ScimResult, ScimType},
    groups,
    list::{GroupListRequest, ListRequest, SearchBody},
    routes::{BaseUrl, ScimActor, ScimBody, found_users, list_response, read_body},
};
use crate::state::AppState;

pub async fn root(
    _: ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ScimBody(body) = read_body(&headers, body)?;
    let search: SearchBody = serde_json::from_value(body).map_err(|e| {
        ScimError::bad_request(ScimType::InvalidSyntax, format!("not a SearchRequest: {e}"))
    })?;
    let (users, groups) = match (
        ListRequest::from_search(search.clone()),
        GroupListRequest::from_search(search),
    ) {
        (Err(refused), Err(_)) => return Err(refused),
        (users, groups) => (users.ok(), groups.ok()),
    };
    search_both(&state, &base, users, groups).await
}

/// Users from `startIndex`, then groups after the last user, up to `count`.
async fn search_both(
    state: &AppState,
    base: &str,
    users: Option<ListRequest>,
    groups: Option<GroupListRequest>,
) -> ScimResult<Response> {
    let (start_index, count) = match (&users, &groups) {
        (Some(users), _) => (users.start_index, users.count),
        (None, Some(groups)) => (groups.start_index, groups.count),
        (None, None) => return Ok(list_response(Vec::new(), 0, 1)),
    };
    let offset = start_index - 1;
    let (mut resources, users_total) = match &users {
        Some(request) => found_users(state, base, request, offset, count).await?,
        None => (Vec::new(), 0),
    };
    let mut total = users_total;
    if let Some(request) = &groups {
        let left = count - resources.len() as i64;
        let group_offset = (offset - users_total).max(0);
        let (found, groups_total) = groups::found(state, base, request, group_offset, left).await?;
        resources.extend(found);
        total += groups_total;
    }
    Ok(list_response(resources, total, start_index))
}
