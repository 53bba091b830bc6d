//! `/scim/v2/Groups`: groups for identity providers (RFC 7643 §4.2). Every
//! change is one write-path call, one transaction: a SCIM client changes a
//! group's name, external id and members, never its roles.

use axum::{
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    ScimJson,
    attributes::Projection,
    error::{ScimError, ScimResult, ScimType},
    group::{GroupInput, ScimGroup},
    group_patch,
    list::{GroupListRequest, ListParams, SearchBody},
    routes::{BaseUrl, ScimActor, ScimBody, if_match, list_response, not_modified, read_body},
    user::weak_etag,
};
use crate::db::{self, groups::GroupFilter, groups::GroupRow};
use crate::domain::scim_filter::GroupCondition;
use crate::http::{conditional::IfMatch, error::AppError};
use crate::state::AppState;
use crate::write::{MemberChanges, ScimGroupChange};

/// A group id from the path: anything that is not a positive integer names no group.
fn group_id(raw: &str) -> ScimResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(ScimError::not_found)
}

/// The group as a resource, with its members unless they are excluded.
async fn resource(
    state: &AppState,
    row: &GroupRow,
    base: &str,
    projection: &Projection,
) -> ScimResult<Value> {
    let members = if projection.excludes("members") {
        Vec::new()
    } else {
        db::groups::member_refs(&state.db, row.id).await?
    };
    let group = serde_json::to_value(ScimGroup::from_row(row, &members, base)).unwrap_or_default();
    Ok(projection.apply(group))
}

/// A group as a response: the resource with its `ETag` and `Location`.
async fn group_response(
    state: &AppState,
    status: StatusCode,
    row: &GroupRow,
    base: &str,
    projection: &Projection,
) -> ScimResult<Response> {
    let body = resource(state, row, base, projection).await?;
    let mut response = (status, ScimJson(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&weak_etag(row.version)) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = HeaderValue::from_str(&format!("{base}/Groups/{}", row.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

fn query(params: Result<Query<ListParams>, QueryRejection>) -> ScimResult<GroupListRequest> {
    let Query(params) =
        params.map_err(|e| ScimError::invalid_value(format!("the query string: {e}")))?;
    GroupListRequest::from_params(params)
}

/// The stored filter the conditions make, or `None` when no group can match
/// (two different names, a member value that is no user id).
fn group_filter(conditions: &[GroupCondition]) -> Option<GroupFilter> {
    fn set<T: PartialEq>(slot: &mut Option<T>, value: T) -> Option<()> {
        match slot {
            Some(held) if *held != value => None,
            _ => {
                *slot = Some(value);
                Some(())
            }
        }
    }
    let mut filter = GroupFilter::default();
    for condition in conditions {
        match condition {
            GroupCondition::DisplayName(name) => {
                let lower = name.to_lowercase();
                match &filter.name {
                    Some(held) if held.to_lowercase() != lower => return None,
                    _ => filter.name = Some(name.clone()),
                }
            }
            GroupCondition::ExternalId(id) => set(&mut filter.external_id, id.clone())?,
            GroupCondition::Member(raw) => {
                let id = raw.trim().parse::<i64>().ok().filter(|id| *id > 0)?;
                set(&mut filter.member, id)?;
            }
        }
    }
    Some(filter)
}

/// A page of the groups `request` finds (from `offset`, at most `limit`), as
/// resources, and how many it finds in all.
pub(super) async fn found(
    state: &AppState,
    base: &str,
    request: &GroupListRequest,
    offset: i64,
    limit: i64,
) -> ScimResult<(Vec<Value>, i64)> {
    let Some(filter) = group_filter(&request.conditions) else {
        return Ok((Vec::new(), 0));
    };
    let total = db::groups::count(&state.db, &filter).await?;
    if limit == 0 || offset >= total {
        return Ok((Vec::new(), total));
    }
    let rows = db::groups::list(&state.db, &filter, offset, limit).await?;
    let members = if request.projection.excludes("members") {
        Vec::new()
    } else {
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        db::scim::groups::members_of(&state.db, &ids).await?
    };
    let resources = rows
        .iter()
        .map(|row| {
            let own: Vec<_> = members
                .iter()
                .filter(|(group, _)| *group == row.id)
                .map(|(_, member)| member.clone())
                .collect();
            let group = ScimGroup::from_row(row, &own, base);
            request
                .projection
                .apply(serde_json::to_value(group).unwrap_or_default())
        })
        .collect();
    Ok((resources, total))
}

async fn page(state: &AppState, base: &str, request: GroupListRequest) -> ScimResult<Response> {
    let offset = request.start_index - 1;
    let (resources, total) = found(state, base, &request, offset, request.count).await?;
    Ok(list_response(resources, total, request.start_index))
}

pub async fn list(
    _: ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ScimResult<Response> {
    page(&state, &base, query(params)?).await
}

pub async fn search(
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
    page(&state, &base, GroupListRequest::from_search(search)?).await
}

async fn find(state: &AppState, id: i64) -> ScimResult<GroupRow> {
    db::groups::find(&state.db, id)
        .await?
        .ok_or_else(ScimError::not_found)
}

pub async fn get(
    _: ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let row = find(&state, group_id(&id)?).await?;
    if let Some(response) = not_modified(&headers, &weak_etag(row.version)) {
        return Ok(response);
    }
    let projection = query(params)?.projection;
    group_response(&state, StatusCode::OK, &row, &base, &projection).await
}

pub async fn create(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ScimBody(body) = read_body(&headers, body)?;
    let input = GroupInput::parse(&body)?;
    let members = input.members.unwrap_or_default();
    let row = state
        .writer
        .create_scim_group(&actor, &input.name, input.external_id.as_ref(), &members)
        .await?;
    group_response(
        &state,
        StatusCode::CREATED,
        &row,
        &base,
        &Projection::default(),
    )
    .await
}

/// Makes `change` to the group when its version is one `If-Match` accepts.
async fn change(
    state: &AppState,
    actor: &crate::write::Actor,
    id: &str,
    if_match_header: Result<IfMatch, AppError>,
    wanted: &ScimGroupChange,
) -> ScimResult<GroupRow> {
    let id = group_id(id)?;
    let expected = if_match(if_match_header)?;
    let row = state
        .writer
        .change_scim_group(actor, id, wanted, expected.versions())
        .await?;
    Ok(row)
}

pub async fn replace(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    if_match_header: Result<IfMatch, AppError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ScimBody(body) = read_body(&headers, body)?;
    let input = GroupInput::parse(&body)?;
    let replaced = ScimGroupChange {
        name: Some(input.name),
        external_id: Some(input.external_id),
        // Okta sends the full list; a PUT without `members` keeps them.
        members: input
            .members
            .map_or_else(MemberChanges::default, |add| MemberChanges {
                add,
                remove: Vec::new(),
                replace: true,
            }),
    };
    let row = change(&state, &actor, &id, if_match_header, &replaced).await?;
    group_response(&state, StatusCode::OK, &row, &base, &Projection::default()).await
}

pub async fn patch(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    if_match_header: Result<IfMatch, AppError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ScimBody(body) = read_body(&headers, body)?;
    let patched = group_patch::parse(&body)?;
    let row = change(&state, &actor, &id, if_match_header, &patched).await?;
    group_response(&state, StatusCode::OK, &row, &base, &Projection::default()).await
}

pub async fn delete(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    if_match_header: Result<IfMatch, AppError>,
) -> ScimResult<Response> {
    let id = group_id(&id)?;
    let expected = if_match(if_match_header)?;
    state
        .writer
        .delete_group_holding(
            &actor,
            crate::write::SCIM_PROVISION,
            id,
            expected.versions(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
