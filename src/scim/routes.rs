//! `/scim/v2`: SCIM 2.0 for identity providers. Bearer tokens only (an identity
//! provider has no session), SCIM's media type and error schema throughout,
//! and every change through the one write path with `via: "scim"`.

use axum::{
    body::Bytes,
    extract::{FromRequestParts, Path, Query, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::db::{self, users::UserRow};
use crate::domain::Permission;
use crate::http::routes::{self as r, Access, Routes};
use crate::{
    auth::tokens,
    domain::{DisabledReason, ExpectedVersion, NewUser, UserChanges, UserStatus},
    http::conditional::IfMatch,
    scim::{
        LIST_SCHEMA, ScimJson, discovery,
        error::{ScimError, ScimResult, ScimType},
        groups,
        list::{ListParams, ListRequest, SearchBody},
        patch, search,
        user::{ScimUser, UserInput, UserState, weak_etag},
    },
    state::AppState,
    write::{Actor, ModifyError, Via},
};

/// Where it is mounted.
pub const PREFIX: &str = "/scim/v2";

/// Errors under [`PREFIX`] take SCIM's error schema, the layers' too (a
/// timeout, a body too large, an unknown route).
pub const ERROR_DIALECT: crate::http::error_pages::ErrorDialect =
    crate::http::error_pages::ErrorDialect {
        prefix: PREFIX,
        media_type: crate::scim::MEDIA_TYPE,
        render: render_error,
    };

fn render_error(status: axum::http::StatusCode, message: &str) -> Response {
    ScimError::new(status, None, message).into_response()
}

/// Why a user disabled through SCIM is disabled, as the admin pages show it.
const DEACTIVATED: &str = "Deactivated by the identity provider (SCIM)";

pub fn router() -> Routes {
    let scim = Access::Permission(Permission::ScimProvision);
    Routes::new()
        .route(
            "/ServiceProviderConfig",
            r::get(scim, service_provider_config),
        )
        .route("/ResourceTypes", r::get(scim, resource_types))
        .route("/ResourceTypes/{id}", r::get(scim, resource_type))
        .route("/Schemas", r::get(scim, schemas))
        .route("/Schemas/{id}", r::get(scim, schema))
        .route("/Users", r::get(scim, list_users).post(scim, create_user))
        .route("/Users/.search", r::post(scim, search_users))
        .route("/.search", r::post(scim, search::root))
        .route(
            "/Groups",
            r::get(scim, groups::list).post(scim, groups::create),
        )
        .route("/Groups/.search", r::post(scim, groups::search))
        .route(
            "/Groups/{id}",
            r::get(scim, groups::get)
                .put(scim, groups::replace)
                .patch(scim, groups::patch)
                .delete(scim, groups::delete),
        )
        .route(
            "/Users/{id}",
            r::get(scim, get_user)
                .put(scim, replace_user)
                .patch(scim, patch_user)
                .delete(scim, delete_user),
        )
        .map_router(|router| {
            router
                .fallback(not_found)
                .method_not_allowed_fallback(method_not_allowed)
                // Users, tokens' owners and errors: nothing here may be kept by
                // a cache (304s and 401s included, which the edge's JSON rule
                // does not see).
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
        })
}

async fn not_found() -> ScimError {
    ScimError::new(StatusCode::NOT_FOUND, None, "no such SCIM endpoint")
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this method is not allowed on this endpoint",
    )
}

/// The identity provider acting: a bearer token's owner, recorded as SCIM.
pub struct ScimActor(pub(super) Actor);

impl FromRequestParts<AppState> for ScimActor {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ScimResult<Self> {
        if tokens::bearer(&parts.headers).is_none() {
            return Err(ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "authentication required: send Authorization: Bearer <token>",
            ));
        }
        let mut actor = Actor::from_request_parts(parts, state).await?;
        // Public to the router (SCIM errors have their own schema): its
        // declared access is checked here.
        let admin = crate::auth::CurrentAdmin::from_request_parts(parts, state).await?;
        crate::http::auth::authorize(&admin, parts, state)
            .map_err(crate::http::error::AppError::from)?;
        actor.via = Via::Scim;
        Ok(Self(actor))
    }
}

/// Where `/scim/v2` is, for `location`s: under `PUBLIC_URL` when it is set,
/// else the relative reference `/scim/v2`. Never from the `Host` header, which
/// the client chooses: a forged one must not put another site's address into
/// what an identity provider stores and follows.
pub struct BaseUrl(pub(super) String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ScimError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> ScimResult<Self> {
        let public = state.settings.public_url.as_deref().unwrap_or("");
        Ok(Self(format!("{public}{PREFIX}")))
    }
}

/// A SCIM JSON body (`application/scim+json`, or `application/json`).
pub(super) struct ScimBody(pub(super) Value);

pub(super) fn read_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<ScimBody> {
    let body =
        body.map_err(|rejection| ScimError::new(rejection.status(), None, rejection.body_text()))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/scim+json" && essence != "application/json" {
        return Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "send the body as application/scim+json",
        ));
    }
    serde_json::from_slice(&body).map(ScimBody).map_err(|e| {
        ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// A user as a response: the resource with its `ETag` and `Location`.
fn user_response(status: StatusCode, row: &UserRow, base: &str) -> Response {
    let resource = ScimUser::from_row(row, base);
    let location = resource.meta.location.clone();
    let mut response = (status, ScimJson(resource)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&weak_etag(row.version)) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    response
}

pub(super) fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Response {
    ScimJson(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
    .into_response()
}

/// A user id from the path: anything that is not a positive integer names no user.
fn user_id(raw: &str) -> ScimResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(ScimError::not_found)
}

async fn find_user(state: &AppState, id: i64) -> ScimResult<UserRow> {
    db::users::find(&state.db, id)
        .await?
        .ok_or_else(ScimError::not_found)
}

pub(super) fn if_match(
    parts: Result<IfMatch, crate::http::error::AppError>,
) -> ScimResult<ExpectedVersion> {
    Ok(parts?.0)
}

async fn service_provider_config(_: ScimActor, BaseUrl(base): BaseUrl) -> Response {
    ScimJson(discovery::service_provider_config(&base)).into_response()
}

async fn resource_types(_: ScimActor, BaseUrl(base): BaseUrl) -> Response {
    let types = discovery::resource_types(&base);
    let total = types.len() as i64;
    list_response(types, total, 1)
}

async fn resource_type(
    _: ScimActor,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> ScimResult<Response> {
    discovery::resource_type(&base, &id)
        .map(|found| ScimJson(found).into_response())
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::NOT_FOUND,
                None,
                format!("no resource type {id}"),
            )
        })
}

async fn schemas(_: ScimActor, BaseUrl(base): BaseUrl) -> Response {
    let schemas = discovery::schemas(&base);
    let total = schemas.len() as i64;
    list_response(schemas, total, 1)
}

async fn schema(
    _: ScimActor,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> ScimResult<Response> {
    discovery::schema(&base, &id)
        .map(|found| ScimJson(found).into_response())
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("no schema {id}")))
}

async fn list_users(
    _: ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ScimResult<Response> {
    let Query(params) =
        params.map_err(|e| ScimError::invalid_value(format!("the query string: {e}")))?;
    list(&state, &base, ListRequest::from_params(params)?).await
}

async fn search_users(
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
    list(&state, &base, ListRequest::from_search(search)?).await
}

/// A page of the users `request` finds (from `offset`, at most `limit`), as
/// resources, and how many it finds in all.
pub(super) async fn found_users(
    state: &AppState,
    base: &str,
    request: &ListRequest,
    offset: i64,
    limit: i64,
) -> ScimResult<(Vec<Value>, i64)> {
    let (rows, total) = db::scim::page(
        &state.db,
        request.filter.as_ref(),
        request.sort,
        offset,
        limit,
    )
    .await?;
    let resources = rows
        .iter()
        .map(|row| {
            let resource =
                serde_json::to_value(ScimUser::from_row(row, base)).unwrap_or(Value::Null);
            request.projection.apply(resource)
        })
        .collect();
    Ok((resources, total))
}

async fn list(state: &AppState, base: &str, request: ListRequest) -> ScimResult<Response> {
    let offset = request.start_index - 1;
    let (resources, total) = found_users(state, base, &request, offset, request.count).await?;
    Ok(list_response(resources, total, request.start_index))
}

async fn get_user(
    _: ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let row = find_user(&state, user_id(&id)?).await?;
    let etag = weak_etag(row.version);
    if let Some(response) = not_modified(&headers, &etag) {
        return Ok(response);
    }
    let Query(params) =
        params.map_err(|e| ScimError::invalid_value(format!("the query string: {e}")))?;
    let projection = ListRequest::from_params(params)?.projection;
    if projection.is_everything() {
        return Ok(user_response(StatusCode::OK, &row, &base));
    }
    let resource = serde_json::to_value(ScimUser::from_row(&row, &base)).unwrap_or(Value::Null);
    let mut response = ScimJson(projection.apply(resource)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// A 304 when `If-None-Match` names `etag` (with or without `W/`) or is `*`.
pub(super) fn not_modified(headers: &HeaderMap, etag: &str) -> Option<Response> {
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag.trim_start_matches("W/")
        });
    unchanged.then(|| {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(value) = HeaderValue::from_str(etag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        response
    })
}

async fn create_user(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let ScimBody(body) = read_body(&headers, body)?;
    let user = new_user(UserInput::parse(&body)?);
    let row = state.writer.create_user(&actor, user).await?;
    Ok(user_response(StatusCode::CREATED, &row, &base))
}

/// The user a `POST /Users` creates: never an admin, without a password;
/// active unless the body says otherwise.
fn new_user(input: UserInput) -> NewUser {
    let active = input.active.unwrap_or(true);
    let created = UserState {
        email: input.email,
        name: input.name,
        active,
        external_id: input.external_id,
        profile: input.profile,
    };
    let scim_profile = created.profile_to_store();
    let UserState {
        email,
        name,
        external_id,
        ..
    } = created;
    NewUser {
        name,
        email,
        is_admin: false,
        password: None,
        external_id,
        status: if active {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        },
        disabled_reason: (!active).then(deactivated),
        scim_profile,
        roles: None,
    }
}

fn deactivated() -> DisabledReason {
    DisabledReason::parse(DEACTIVATED).unwrap_or_else(|_| unreachable!("a valid constant"))
}

/// What to write to move `before` to `after`.
fn changes_between(before: &UserState, after: &UserState) -> UserChanges {
    UserChanges {
        name: (after.name != before.name).then(|| after.name.clone()),
        email: (after.email != before.email).then(|| after.email.clone()),
        status: (after.active != before.active).then_some(if after.active {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        }),
        disabled_reason: (!after.active && before.active).then(deactivated),
        external_id: (after.external_id != before.external_id).then(|| after.external_id.clone()),
        // Written again with the name and email it goes with whenever either
        // changes, so the database can tell a SCIM write from a change made
        // elsewhere (which drops the stale parts).
        scim_profile: (after.profile != before.profile
            || after.name != before.name
            || after.email != before.email)
            .then(|| after.profile_to_store()),
        ..UserChanges::default()
    }
}

/// Moves the user to the state `next` works out from the one it is in, through
/// the write path's read-modify-write: without `If-Match`, a change that
/// landed in between makes it read again (a few times); with one, it answers
/// 412.
async fn modify(
    state: &AppState,
    actor: &Actor,
    id: i64,
    expected: ExpectedVersion,
    next: impl Fn(&UserState) -> ScimResult<UserState>,
) -> ScimResult<UserRow> {
    let changes = |row: &UserRow| -> ScimResult<Option<UserChanges>> {
        let before = UserState::of_row(row)?;
        let after = next(&before)?;
        Ok((after != before).then(|| changes_between(&before, &after)))
    };
    match state
        .writer
        .modify_user(actor, id, &expected, changes)
        .await
    {
        Ok(row) => Ok(row),
        Err(ModifyError::Missing) => Err(ScimError::not_found()),
        Err(ModifyError::Refused(error)) => Err(error),
        Err(ModifyError::Write(error)) => Err(error.into()),
    }
}

async fn replace_user(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    if_match_header: Result<IfMatch, crate::http::error::AppError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let id = user_id(&id)?;
    let expected = if_match(if_match_header)?;
    let ScimBody(body) = read_body(&headers, body)?;
    let input = UserInput::parse(&body)?;
    let row = modify(&state, &actor, id, expected, |before| {
        Ok(UserState {
            email: input.email.clone(),
            name: input.name.clone(),
            // A replace that does not mention `active` leaves it as it is.
            active: input.active.unwrap_or(before.active),
            external_id: input.external_id.clone(),
            profile: input.profile.clone(),
        })
    })
    .await?;
    Ok(user_response(StatusCode::OK, &row, &base))
}

async fn patch_user(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    if_match_header: Result<IfMatch, crate::http::error::AppError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let id = user_id(&id)?;
    let expected = if_match(if_match_header)?;
    let ScimBody(body) = read_body(&headers, body)?;
    let row = modify(&state, &actor, id, expected, |before| {
        patch::apply(before, &body)
    })
    .await?;
    Ok(user_response(StatusCode::OK, &row, &base))
}

async fn delete_user(
    ScimActor(actor): ScimActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    if_match_header: Result<IfMatch, crate::http::error::AppError>,
) -> ScimResult<Response> {
    let id = user_id(&id)?;
    let expected = if_match(if_match_header)?;
    state.writer.delete_user(&actor, id, &expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
