//! `/webhooks`: endpoints that hear of user and token changes (SPEC §11), their
//! delivery logs, a test event and redelivery. A new secret is shown once.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::domain::Permission;
use crate::http::pages::ConfirmPage;
use crate::http::routes::{self as r, Access, Routes};
use crate::webhooks::pages::WebhookPage;
use crate::webhooks::pages::WebhooksPage;
use crate::webhooks::views::DeliveryPageView;
use crate::webhooks::views::DeliveryView;
use crate::webhooks::views::WebhookView;
use crate::{
    db,
    domain::{FieldErrors, WEBHOOK_EVENTS, WebhookEvents},
    http::error::{AppError, AppResult, ErrorBody},
    http::{body::media_type, negotiate::Format, respond::AdminContext},
    state::AppState,
    webhooks::address_guard,
    write::{CreatedWebhook, WebhookChanges},
};

/// Deliveries per page of a log.
const DELIVERIES_PER_PAGE: i64 = 50;

pub fn router() -> Routes {
    let manage = Access::Permission(Permission::WebhooksManage);
    Routes::new()
        .route("/webhooks", r::get(manage, list).post(manage, create))
        .route(
            "/webhooks/{id}",
            r::get(manage, show)
                .patch(manage, update)
                .delete(manage, destroy),
        )
        .route("/webhooks/{id}/update", r::post(manage, update))
        .route(
            "/webhooks/{id}/delete",
            r::get(manage, delete_form).post(manage, destroy),
        )
        .route(
            "/webhooks/{id}/rotate-secret",
            r::get(manage, rotate_form).post(manage, rotate_secret),
        )
        .route("/webhooks/{id}/test", r::post(manage, test))
        .route("/webhooks/{id}/deliveries", r::get(manage, deliveries))
        .route(
            "/webhooks/deliveries/{id}/redeliver",
            r::post(manage, redeliver),
        )
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
        rotate_secret,
        test,
        deliveries,
        redeliver
    ),
    components(schemas(
        WebhookInput,
        WebhookListView,
        CreatedWebhookView,
        crate::webhooks::views::WebhookView,
        crate::webhooks::views::DeliveryView,
        crate::webhooks::views::DeliveryPageView
    ))
)]
pub struct Api;

/// `POST /webhooks` and `PATCH /webhooks/{id}`, as JSON or as the page's form
/// (which repeats `events` once per ticked box).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// An `http` or `https` URL that resolves to a public address.
    pub url: Option<String>,
    /// `user.created`, `user.*`, `token.revoked`, … (see the list page).
    pub events: Option<Vec<String>>,
    /// False pauses deliveries (they wait, and go out when it is resumed).
    pub active: Option<bool>,
}

fn read_input(headers: &HeaderMap, body: &[u8]) -> AppResult<WebhookInput> {
    match media_type(headers).as_deref() {
        Some("application/json") => serde_json::from_slice(body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => AppError::Unprocessable(format!("invalid body: {e}")),
                _ => AppError::BadRequest(format!("malformed JSON: {e}")),
            }
        }),
        Some("application/x-www-form-urlencoded") => {
            let mut input = WebhookInput::default();
            for (key, value) in form_urlencoded::parse(body) {
                match key.as_ref() {
                    "url" => input.url = Some(value.into_owned()),
                    "events" => input
                        .events
                        .get_or_insert_with(Vec::new)
                        .push(value.into_owned()),
                    "active" => input.active = Some(value == "true"),
                    _ => {}
                }
            }
            Ok(input)
        }
        _ => Err(AppError::UnsupportedMediaType),
    }
}

/// The parsed input, or every field's problem.
async fn parse(
    state: &AppState,
    input: &WebhookInput,
    creating: bool,
) -> Result<WebhookChanges, FieldErrors> {
    let mut errors = FieldErrors::default();
    let url = match (&input.url, creating) {
        (None, true) => {
            errors.add("url", "is required");
            None
        }
        (None, false) => None,
        (Some(raw), _) => {
            match address_guard::check_url(raw.trim(), state.settings.webhook_allow_private).await {
                Ok(url) => Some(url),
                Err(refused) => {
                    errors.add("url", refused.to_string());
                    None
                }
            }
        }
    };
    let events = match (&input.events, creating) {
        (None, true) => {
            errors.add("events", "choose at least one event");
            None
        }
        (None, false) => None,
        (Some(events), _) => errors.take("events", WebhookEvents::parse(events)),
    };
    if errors.is_empty() {
        Ok(WebhookChanges {
            url,
            events,
            active: input.active,
        })
    } else {
        Err(errors)
    }
}

async fn all_webhooks(state: &AppState) -> AppResult<Vec<WebhookView>> {
    Ok(db::webhooks::list(&state.db)
        .await?
        .into_iter()
        .map(WebhookView::from)
        .collect())
}

fn webhook_id(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AppError::NotFound)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookListView {
    pub data: Vec<WebhookView>,
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every endpoint (never its secret)", body = WebhookListView),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>, ctx: AdminContext) -> AppResult<Response> {
    let webhooks = all_webhooks(&state).await?;
    match ctx.format {
        Format::Json => Ok(Json(WebhookListView { data: webhooks }).into_response()),
        Format::Html => Ok(WebhooksPage {
            layout: ctx.layout("Webhooks").await?,
            webhooks,
            url: String::new(),
            chosen: Vec::new(),
            errors: FieldErrors::default(),
            all_events: WEBHOOK_EVENTS.to_vec(),
        }
        .into_response()),
    }
}

/// An endpoint as created or given a new secret: the only time it is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedWebhookView {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it.
    pub secret: String,
}

#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    security(("bearer" = [])),
    request_body(content = WebhookInput, content_type = "application/json"),
    responses(
        (status = 201, description = "the endpoint, with its secret: shown this once", body = CreatedWebhookView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, description = "a bad URL (or one that reaches a private address) or events", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ctx: AdminContext,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let input = read_input(&headers, &body)?;
    let changes = match parse(&state, &input, true).await {
        Ok(changes) => changes,
        Err(errors) if ctx.format.is_html() => {
            return create_again(&state, &ctx, input, errors).await;
        }
        Err(errors) => return Err(AppError::Validation(errors)),
    };
    let (Some(url), Some(events)) = (changes.url, changes.events) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "a parsed endpoint lacks its URL"
        )));
    };
    let created = state
        .writer
        .create_webhook(&ctx.actor, &url, &events)
        .await?;
    created_response(&state, &ctx, created).await
}

/// The list page again with the form as typed and its errors (422).
async fn create_again(
    state: &AppState,
    ctx: &AdminContext,
    input: WebhookInput,
    errors: FieldErrors,
) -> AppResult<Response> {
    let page = WebhooksPage {
        layout: ctx.layout("Webhooks").await?,
        webhooks: all_webhooks(state).await?,
        url: input.url.unwrap_or_default(),
        chosen: input.events.unwrap_or_default(),
        errors,
        all_events: WEBHOOK_EVENTS.to_vec(),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// A new endpoint with its secret: JSON, or its page (201).
async fn created_response(
    state: &AppState,
    ctx: &AdminContext,
    created: CreatedWebhook,
) -> AppResult<Response> {
    let view = WebhookView::from(created.webhook);
    match ctx.format {
        Format::Json => Ok((
            StatusCode::CREATED,
            Json(CreatedWebhookView {
                webhook: view,
                secret: created.secret,
            }),
        )
            .into_response()),
        // Rendered, not redirected: the secret is kept nowhere to show it again.
        Format::Html => {
            webhook_page(state, ctx, view, Some(created.secret), StatusCode::CREATED).await
        }
    }
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = WebhookView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = webhook_id(&id)?;
    let webhook = db::webhooks::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let view = WebhookView::from(webhook);
    match ctx.format {
        Format::Json => Ok(Json(view).into_response()),
        Format::Html => webhook_page(&state, &ctx, view, None, StatusCode::OK).await,
    }
}

async fn webhook_page(
    state: &AppState,
    ctx: &AdminContext,
    webhook: WebhookView,
    secret: Option<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let deliveries = db::deliveries::list(&state.db, webhook.id, None, DELIVERIES_PER_PAGE)
        .await?
        .into_iter()
        .map(DeliveryView::from)
        .collect();
    let page = WebhookPage {
        layout: ctx.layout(format!("Webhook {}", webhook.url)).await?,
        webhook,
        secret,
        deliveries,
        all_events: WEBHOOK_EVENTS.to_vec(),
    };
    Ok((status, page).into_response())
}

#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    request_body(content = WebhookInput, content_type = "application/json"),
    responses(
        (status = 200, description = "the endpoint as changed (`active: false` pauses it)", body = WebhookView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let id = webhook_id(&id)?;
    let input = read_input(&headers, &body)?;
    let changes = parse(&state, &input, false)
        .await
        .map_err(AppError::Validation)?;
    let row = state.writer.update_webhook(&ctx.actor, id, changes).await?;
    let flash = match input.active {
        Some(true) => "Deliveries resumed.".to_owned(),
        Some(false) => "Deliveries paused: they wait until you resume.".to_owned(),
        None => "Webhook saved.".to_owned(),
    };
    ctx.done(
        &format!("/webhooks/{id}"),
        Json(WebhookView::from(row)),
        flash,
    )
    .await
}

/// `GET /webhooks/{id}/delete`: the confirmation, naming the endpoint.
async fn delete_form(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    ctx.html_only()?;
    let webhook = find_webhook(&state, &id).await?;
    let page = ConfirmPage {
        layout: ctx.layout(format!("Delete webhook {}", webhook.url)).await?,
        heading: format!("Delete the webhook {}?", webhook.url),
        consequence: "Its receiver hears of no further changes, and its delivery log is deleted with it. This cannot be undone.".into(),
        action: format!("/webhooks/{}/delete", webhook.id),
        button: "Delete the webhook".into(),
        cancel: format!("/webhooks/{}", webhook.id),
    };
    Ok(page.into_response())
}

/// `GET /webhooks/{id}/rotate-secret`: the confirmation, naming the endpoint.
async fn rotate_form(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    ctx.html_only()?;
    let webhook = find_webhook(&state, &id).await?;
    let page = ConfirmPage {
        layout: ctx.layout(format!("Rotate the secret of {}", webhook.url)).await?,
        heading: format!("Rotate the signing secret of {}?", webhook.url),
        consequence: "The current secret stops signing at once: the receiver refuses every delivery until it is given the new secret, which is shown only once, on the next page.".into(),
        action: format!("/webhooks/{}/rotate-secret", webhook.id),
        button: "Rotate the secret".into(),
        cancel: format!("/webhooks/{}", webhook.id),
    };
    Ok(page.into_response())
}

async fn find_webhook(state: &AppState, raw_id: &str) -> AppResult<WebhookView> {
    let id = webhook_id(raw_id)?;
    let row = db::webhooks::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(WebhookView::from(row))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "deleted, with its delivery log"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn destroy(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = webhook_id(&id)?;
    state.writer.delete_webhook(&ctx.actor, id).await?;
    ctx.done(
        "/webhooks",
        StatusCode::NO_CONTENT,
        "Webhook deleted.".to_owned(),
    )
    .await
}

#[utoipa::path(
    post,
    path = "/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "the new secret, shown this once; the old one no longer signs", body = CreatedWebhookView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = webhook_id(&id)?;
    let rotated = state.writer.rotate_webhook_secret(&ctx.actor, id).await?;
    let view = WebhookView::from(rotated.webhook);
    match ctx.format {
        Format::Json => Ok(Json(CreatedWebhookView {
            webhook: view,
            secret: rotated.secret,
        })
        .into_response()),
        Format::Html => {
            webhook_page(&state, &ctx, view, Some(rotated.secret), StatusCode::OK).await
        }
    }
}

#[utoipa::path(
    post,
    path = "/webhooks/{id}/test",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 202, description = "a `webhook.test` event is queued", body = DeliveryView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn test(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = webhook_id(&id)?;
    let delivery = state.writer.send_test_event(&ctx.actor, id).await?;
    match ctx.format {
        Format::Json => {
            Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(delivery))).into_response())
        }
        Format::Html => {
            ctx.redirect_with_flash(
                &format!("/webhooks/{id}"),
                "Test event queued: it appears in the log below.".to_owned(),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct DeliveryQuery {
    after: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, minimum = 1),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200),
        ("after" = Option<String>, Query, description = "the `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "the endpoint's deliveries, newest first", body = DeliveryPageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    _ctx: AdminContext,
    Path(id): Path<String>,
    query: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let id = webhook_id(&id)?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let limit = delivery_limit(query.limit.as_deref())?;
    let before = delivery_cursor(query.after.as_deref())?;
    db::webhooks::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let rows = db::deliveries::list(&state.db, id, before, limit + 1).await?;
    Ok(Json(delivery_page(rows, limit)).into_response())
}

/// `?limit=`: 1 to 200, 50 when absent.
fn delivery_limit(raw: Option<&str>) -> AppResult<i64> {
    match raw {
        None | Some("") => Ok(DELIVERIES_PER_PAGE),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| AppError::BadRequest("limit must be an integer from 1 to 200".into())),
    }
}

/// `?after=`: the `next` of an earlier page, the id the page starts below.
fn delivery_cursor(raw: Option<&str>) -> AppResult<Option<i64>> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Some)
            .ok_or_else(|| {
                AppError::BadRequest("after must be the `next` of an earlier page".into())
            }),
    }
}

/// A page of at most `limit` deliveries from up to `limit + 1` rows; the extra
/// row says there is a next page.
fn delivery_page(rows: Vec<db::deliveries::DeliveryRow>, limit: i64) -> DeliveryPageView {
    let more = rows.len() as i64 > limit;
    let data: Vec<DeliveryView> = rows
        .into_iter()
        .take(limit as usize)
        .map(DeliveryView::from)
        .collect();
    let next = more
        .then(|| data.last().map(|d| d.id.to_string()))
        .flatten();
    DeliveryPageView { data, next }
}

#[utoipa::path(
    post,
    path = "/webhooks/deliveries/{id}/redeliver",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "a delivery's id")),
    responses(
        (status = 202, description = "queued again, with the same `webhook-id`", body = DeliveryView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn redeliver(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = webhook_id(&id)?;
    let delivery = state.writer.redeliver(&ctx.actor, id).await?;
    match ctx.format {
        Format::Json => {
            Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(delivery))).into_response())
        }
        Format::Html => {
            ctx.redirect_with_flash(
                &format!("/webhooks/{}", delivery.webhook_id),
                format!("Delivery {id} queued again."),
            )
            .await
        }
    }
}
