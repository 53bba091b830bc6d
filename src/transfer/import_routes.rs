//! `POST /users/import`: CSV, NDJSON or a JSON array in; the plan (`?dry_run=true`)
//! or the applied import out. The pages: upload → preview → confirm → result,
//! the previewed rows waiting in Redis (see `crate::import::pending`).

use axum::{
    Json, Router,
    extract::{FromRequest, Multipart, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use bytes::Bytes;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::domain::{Permission, PermissionSet};
use crate::http::routes::{self as r, Access, Routes};
use crate::transfer::pages::ImportPage;
use crate::transfer::pages::ImportPreviewPage;
use crate::transfer::pages::ImportResultPage;
use crate::{
    http,
    http::error::{AppError, AppResult, ErrorBody, ErrorDetails},
    http::session::ImportResult,
    http::{
        body::{Body, media_type},
        negotiate::Format,
        respond::AdminContext,
        upload::{is_length_limit, receive_file, too_large},
    },
    import::plan::LISTED_ROWS,
    import::{
        Counts, FileError, ImportFormat, Plan, PlannedRow, RowBatches,
        pending::{PendingImport, PendingImports},
    },
    state::AppState,
    write::{Actor, ActorKind, ImportMode, ImportOutcome},
};

/// Changes shown on the preview page; the counts cover every row.
const PREVIEW_CHANGES: usize = 200;

/// Bytes a multipart form adds around its file (boundaries, the CSRF field).
pub const FORM_OVERHEAD: u64 = 64 * 1024;

/// The upload and its confirmation, with the import's own body limit and
/// timeout: confirming applies the whole file.
/// Guarded here, not with the other protected routes, for those limits.
pub fn upload_routes() -> Routes {
    let write = Access::Permission(Permission::UsersWrite);
    Routes::new()
        .route("/users/import", r::get(write, page).post(write, import))
        .route("/users/import/confirm", r::post(write, confirm))
}

/// [`upload_routes`] with their guard and limits.
pub fn upload_router(state: &AppState, routes: Routes) -> Router<AppState> {
    let import_limit = usize::try_from(state.settings.import_max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(FORM_OVERHEAD as usize);
    routes
        .into_router()
        .route_layer(http::guarded(state, import_limit, http::IMPORT_TIMEOUT))
        .route_layer(axum::middleware::from_fn_with_state(
            state.settings.import_max_bytes,
            name_the_import_limit,
        ))
}

/// The result page, like any other.
pub fn router() -> Routes {
    Routes::new().route(
        "/users/import/done",
        r::get(Access::Permission(Permission::UsersWrite), done),
    )
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(import),
    components(schemas(
        ImportReport,
        crate::import::Counts,
        crate::import::PlannedRow,
        crate::import::Action
    ))
)]
pub struct Api;

/// A body refused by the upload's outer limit (its declared length) names
/// the import's limit, as a body refused while it streams does.
pub async fn name_the_import_limit(
    State(limit): State<u64>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.extensions().get::<ErrorDetails>().is_none()
    {
        return AppError::FileTooLarge(too_large(limit).to_string()).into_response();
    }
    response
}

/// What an import did or would do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Present when nothing was imported because rows are invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub dry_run: bool,
    /// Whether the changes were written (all of them; otherwise none).
    pub applied: bool,
    pub counts: Counts,
    /// The rows listed, in the file's order: the first 1,000 rows with errors,
    /// the first 1,000 that change a user and the first 1,000 unchanged ones
    /// (every row of a smaller file). `counts` covers every row.
    pub rows: Vec<PlannedRow>,
    /// Rows counted but not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted_rows: u64,
    /// The audit events the import wrote (a link to `GET /audit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<String>,
}

#[utoipa::path(
    post,
    path = "/users/import",
    tag = "users",
    security(("bearer" = [])),
    params(("dry_run" = Option<bool>, Query, description = "answer the plan and write nothing")),
    request_body(description = "users, matched to existing ones by email (any case)", content(
        (String = "text/csv"), (String = "application/x-ndjson"), (Vec<Object> = "application/json"),
    )),
    responses(
        (status = 200, description = "the plan, or the import applied", body = ImportReport),
        (status = 400, description = "the file is not valid CSV/NDJSON/JSON (the line is named)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`users.write` is missing; or `roles.manage` for a file that changes anyone's `is_admin`; or, making anyone an admin, a permission the admin role confers (`permission` names it). Nothing was imported", body = ErrorBody),
        (status = 413, description = "over IMPORT_MAX_BYTES", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "rows are invalid: nothing was imported", body = ImportReport),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    ctx: AdminContext,
    request: Request,
) -> AppResult<Response> {
    let dry_run = dry_run(request.uri().query())?;
    let upload = match receive(&state, request).await {
        Ok(upload) => upload,
        Err(refused) if ctx.format == Format::Html => return upload_page(&ctx, refused).await,
        Err(refused) => return Err(refused.into_error()),
    };
    if ctx.format == Format::Html {
        return preview(&state, &ctx, upload).await;
    }
    if !ctx.admin.permissions.includes(PermissionSet::ALL) {
        // Planned first, to see whether it touches admin rights.
        let batches = RowBatches::from_chunks(upload.file.clone(), upload.format);
        let planned = (state.writer)
            .import(&ctx.actor, batches, ImportMode::DryRun, &upload.source)
            .await?;
        if let ImportOutcome::Planned(plan) | ImportOutcome::Stale(plan) = &planned {
            may_change_admin_flags(&ctx, plan, &upload.file)?;
        }
    }
    let mode = if dry_run {
        ImportMode::DryRun
    } else {
        ImportMode::Apply { previewed: None }
    };
    let batches = RowBatches::from_chunks(upload.file, upload.format);
    let outcome = state
        .writer
        .import(&ctx.actor, batches, mode, &upload.source)
        .await;
    crate::import::release_memory();
    import_response(outcome?, dry_run, &ctx.actor)
}

/// An import that changes anyone's admin flag needs `roles.manage`, and one
/// that makes anyone an admin needs every permission (the admin role's: no
/// escalation), as a PATCH of `is_admin` does. The plan lists only so many
/// rows: when some went unlisted, a file that names `is_admin` at all counts
/// as changing it.
fn may_change_admin_flags(ctx: &AdminContext, plan: &Plan, file: &[Bytes]) -> AppResult<()> {
    let flag = |row: &PlannedRow| row.changes.get("is_admin").map(|[_, new]| new.clone());
    let listed: Vec<serde_json::Value> = plan
        .changes()
        .filter_map(|row| match row.action {
            crate::import::Action::Create => flag(row).filter(|new| new.as_bool() == Some(true)),
            _ => flag(row),
        })
        .collect();
    let unlisted = plan.omitted > 0 && mentions(file, b"is_admin");
    if listed.is_empty() && !unlisted {
        return Ok(());
    }
    ctx.admin.require(Permission::RolesManage)?;
    if unlisted || listed.iter().any(|new| new.as_bool() == Some(true)) {
        let held = ctx.admin.permissions;
        if let Some(missing) = held.first_missing(PermissionSet::ALL) {
            return Err(AppError::MissingPermission {
                permission: Some(missing),
                token: !ctx.admin.by_session(),
            });
        }
    }
    Ok(())
}

/// Whether the file's bytes hold `needle` (across the chunks' seams too).
fn mentions(file: &[Bytes], needle: &[u8]) -> bool {
    let mut carry: Vec<u8> = Vec::new();
    file.iter().any(|chunk| {
        carry.extend_from_slice(chunk);
        let found = carry.windows(needle.len()).any(|w| w == needle);
        let keep = carry.len().saturating_sub(needle.len() - 1);
        carry.drain(..keep);
        found
    })
}

/// The JSON answer to `POST /users/import`: the report, 422 when rows are
/// invalid, 400 for a file that cannot be read or holds no rows.
fn import_response(outcome: ImportOutcome, dry_run: bool, actor: &Actor) -> AppResult<Response> {
    Ok(match outcome {
        ImportOutcome::Unreadable(error) => return Err(Refused::File(error).into_error()),
        ImportOutcome::Planned(plan) if is_empty(&plan) => {
            return Err(Refused::Empty.into_error());
        }
        ImportOutcome::Planned(plan) if plan.is_valid() => {
            Json(report(plan, dry_run, None)).into_response()
        }
        ImportOutcome::Planned(plan) | ImportOutcome::Stale(plan) => {
            let mut report = report(plan, dry_run, None);
            report.error = Some(invalid_rows_message(report.counts.error));
            (StatusCode::UNPROCESSABLE_ENTITY, Json(report)).into_response()
        }
        ImportOutcome::Applied { plan, at } => {
            Json(report(plan, false, Some(audit_link(actor, at)))).into_response()
        }
    })
}

/// "3 rows are invalid; nothing was imported", naming how many are listed.
fn invalid_rows_message(errors: u64) -> String {
    format!(
        "{} {} invalid; nothing was imported{}",
        errors,
        if errors == 1 { "row is" } else { "rows are" },
        if errors > LISTED_ROWS as u64 {
            format!(" (the first {LISTED_ROWS} are listed)")
        } else {
            String::new()
        }
    )
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// A file without a single row.
fn is_empty(plan: &Plan) -> bool {
    let Counts {
        create,
        update,
        unchanged,
        error,
    } = plan.counts;
    create + update + unchanged + error == 0
}

/// `GET /users/import`: the upload form.
async fn page(ctx: AdminContext) -> AppResult<Response> {
    ctx.html_only()?;
    Ok(ImportPage {
        layout: ctx.layout("Import users").await?,
        error: None,
    }
    .into_response())
}

#[derive(Deserialize)]
struct ConfirmInput {
    plan: String,
}

/// `POST /users/import/confirm`: applies the previewed plan, if it still holds.
async fn confirm(
    State(state): State<AppState>,
    ctx: AdminContext,
    Body(input): Body<ConfirmInput>,
) -> AppResult<Response> {
    ctx.html_only()?;
    let pending_imports =
        PendingImports::new(state.redis.clone(), &state.settings.redis_key_prefix);
    let Some((pending, file)) = held_import(&ctx, &pending_imports, &input.plan).await? else {
        return upload_page(&ctx, Refused::Expired).await;
    };
    let outcome = state
        .writer
        .import(
            &ctx.actor,
            RowBatches::from_chunks(vec![file.clone()], pending.format),
            ImportMode::Apply {
                previewed: Some(pending.digest.clone()),
            },
            &pending.source,
        )
        .await;
    crate::import::release_memory();
    let outcome = outcome?;
    // Applied, unreadable or replanned, this preview is done with.
    pending_imports.forget(&input.plan).await;
    match outcome {
        ImportOutcome::Applied { plan, at } => applied(&ctx, pending.source, &plan, at).await,
        // The file was read when it was previewed; it reads the same now.
        ImportOutcome::Unreadable(error) => {
            ctx.session.release_import().await?;
            upload_page(&ctx, Refused::File(error)).await
        }
        // Someone changed the users meanwhile: show the plan as it is now.
        ImportOutcome::Stale(plan) | ImportOutcome::Planned(plan) => {
            preview_again(&ctx, &pending_imports, pending, file, plan).await
        }
    }
}

/// A confirmed import, applied: its result kept for the result page, to which
/// it redirects.
async fn applied(
    ctx: &AdminContext,
    source: String,
    plan: &Plan,
    at: time::OffsetDateTime,
) -> AppResult<Response> {
    ctx.session.release_import().await?;
    ctx.session
        .keep_import_result(ImportResult {
            source,
            created: plan.counts.create,
            updated: plan.counts.update,
            unchanged: plan.counts.unchanged,
            audit_href: audit_link(&ctx.actor, at),
        })
        .await?;
    Ok(Redirect::to("/users/import/done").into_response())
}

/// The previewed import the session holds under `plan_id`, if it is still in
/// Redis and was previewed by this admin.
async fn held_import(
    ctx: &AdminContext,
    pending_imports: &PendingImports,
    plan_id: &str,
) -> AppResult<Option<(PendingImport, Bytes)>> {
    if !ctx.session.holds_import(plan_id).await? {
        return Ok(None);
    }
    Ok(pending_imports
        .get(plan_id)
        .await
        .map_err(AppError::Internal)?
        .filter(|(pending, _)| pending.admin_id == ctx.admin.user_id))
}

/// A confirmation that found the users changed since the preview: the plan as
/// it is now (409), held again for another confirmation when it can be applied.
async fn preview_again(
    ctx: &AdminContext,
    pending_imports: &PendingImports,
    pending: PendingImport,
    file: Bytes,
    plan: Plan,
) -> AppResult<Response> {
    let source = pending.source.clone();
    let id = if plan.is_valid() && plan.counts.create + plan.counts.update > 0 {
        let pending = PendingImport {
            digest: plan.digest(),
            ..pending
        };
        let id = pending_imports
            .put(&pending, &[file])
            .await
            .map_err(AppError::Internal)?;
        ctx.session.hold_import(&id).await?;
        Some(id)
    } else {
        ctx.session.release_import().await?;
        None
    };
    let notice =
        Some("Users changed since the preview: this is the plan as it stands now.".to_owned());
    preview_page(ctx, &source, plan, id, notice, StatusCode::CONFLICT).await
}

/// `GET /users/import/done`: what the confirmed import did (the confirmation
/// answers 303 here, like every form post that succeeds).
async fn done(ctx: AdminContext) -> AppResult<Response> {
    ctx.html_only()?;
    let Some(result) = ctx.session.import_result().await? else {
        return Ok(Redirect::to("/users/import").into_response());
    };
    Ok(ImportResultPage {
        layout: ctx.layout("Import done").await?,
        source: result.source,
        counts: Counts {
            create: result.created,
            update: result.updated,
            unchanged: result.unchanged,
            error: 0,
        },
        audit_href: result.audit_href,
    }
    .into_response())
}

/// A file as received: its chunks, not yet read as rows.
struct Upload {
    source: String,
    format: ImportFormat,
    file: Vec<Bytes>,
}

/// Why an upload was not read.
enum Refused {
    File(FileError),
    Empty,
    NoFile,
    MediaType,
    Form(String),
    Expired,
}

impl Refused {
    fn status(&self) -> StatusCode {
        match self {
            Self::File(FileError::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Expired => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::File(error) => error.to_string(),
            Self::Empty => "the file holds no users".into(),
            Self::NoFile => "choose a file to import".into(),
            Self::MediaType => "send the file as CSV (Content-Type: text/csv), NDJSON \
                 (application/x-ndjson) or a JSON array (application/json), or as the file \
                 field of a multipart/form-data form"
                .into(),
            Self::Form(message) => message.clone(),
            Self::Expired => {
                "That preview has expired or belongs to another session; upload the file again."
                    .into()
            }
        }
    }

    fn into_error(self) -> AppError {
        match self {
            Self::File(FileError::TooLarge(message)) => AppError::FileTooLarge(message),
            Self::MediaType => AppError::UnsupportedMediaTypeOf(self.message()),
            other => AppError::BadRequest(other.message()),
        }
    }
}

/// Receives the file: the body (a file of its media type) or a form's `file`
/// field (its format from its name or first character).
async fn receive(state: &AppState, request: Request) -> Result<Upload, Refused> {
    let limit = state.settings.import_max_bytes;
    let media = media_type(request.headers()).unwrap_or_default();
    let upload = if media == "multipart/form-data" {
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|e| Refused::Form(e.body_text()))?;
        loop {
            let Some(mut field) = form
                .next_field()
                .await
                .map_err(|e| multipart_refusal(e, limit))?
            else {
                return Err(Refused::NoFile);
            };
            if field.name() != Some("file") {
                continue;
            }
            let source = field
                .file_name()
                .filter(|name| !name.is_empty())
                .map(str::to_owned);
            let Some(source) = source else {
                return Err(Refused::NoFile);
            };
            let first = field
                .chunk()
                .await
                .map_err(|e| multipart_refusal(e, limit))?
                .unwrap_or_default();
            let format = ImportFormat::guess(Some(&source), &first);
            let rest = field.map_err(|e| {
                let too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE || is_length_limit(&e);
                chunk_error(too_large, e.body_text())
            });
            let file = receive_file(first, rest, limit)
                .await
                .map_err(Refused::File)?;
            break Upload {
                source,
                format,
                file,
            };
        }
    } else {
        let format = ImportFormat::from_media_type(&media).ok_or(Refused::MediaType)?;
        let body = request
            .into_body()
            .into_data_stream()
            .map_err(|e| chunk_error(is_length_limit(&e), e.to_string()));
        let file = receive_file(Bytes::new(), body, limit)
            .await
            .map_err(Refused::File)?;
        Upload {
            source: format!("request body ({media})"),
            format,
            file,
        }
    };
    if upload.file.is_empty() {
        return Err(Refused::Empty);
    }
    Ok(upload)
}

/// A chunk that could not be read, as the file reader sees it.
fn chunk_error(too_large: bool, message: String) -> std::io::Error {
    if too_large {
        std::io::Error::new(std::io::ErrorKind::FileTooLarge, message)
    } else {
        std::io::Error::other(message)
    }
}

/// A form that could not be read; over the limit, the import's own refusal.
fn multipart_refusal(error: axum::extract::multipart::MultipartError, limit: u64) -> Refused {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE || is_length_limit(&error) {
        Refused::File(too_large(limit))
    } else {
        Refused::Form(error.body_text())
    }
}

fn dry_run(query: Option<&str>) -> AppResult<bool> {
    let mut dry_run = false;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "dry_run" {
            dry_run = match value.as_ref() {
                "true" | "1" | "" => true,
                "false" | "0" => false,
                _ => return Err(AppError::BadRequest("dry_run must be true or false".into())),
            };
        }
    }
    Ok(dry_run)
}

fn report(plan: Plan, dry_run: bool, audit: Option<String>) -> ImportReport {
    let applied = audit.is_some();
    ImportReport {
        error: None,
        dry_run,
        applied,
        counts: plan.counts,
        rows: plan.rows,
        omitted_rows: plan.omitted,
        audit,
    }
}

/// The audit trail's page of this import's events: its actor, at the instant
/// of its transaction (every event of it carries that time).
fn audit_link(actor: &Actor, at: time::OffsetDateTime) -> String {
    let actor = match (actor.kind, actor.id) {
        (ActorKind::Admin, Some(id)) => format!("admin:{id}"),
        (ActorKind::Token, Some(id)) => format!("token:{id}"),
        _ => "cli".to_owned(),
    };
    let since = at.format(&Rfc3339).unwrap_or_default();
    let until = (at + time::Duration::MICROSECOND)
        .format(&Rfc3339)
        .unwrap_or_default();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("actor", &actor)
        .append_pair("since", &since)
        .append_pair("until", &until)
        .finish();
    format!("/audit?{query}")
}

/// The page flow's first step: plan, keep the file, show the preview. A
/// session keeps one preview: a new upload replaces the one before.
async fn preview(state: &AppState, ctx: &AdminContext, upload: Upload) -> AppResult<Response> {
    let pending_imports =
        PendingImports::new(state.redis.clone(), &state.settings.redis_key_prefix);
    if let Some(earlier) = ctx.session.pending_import().await? {
        pending_imports.forget(&earlier).await;
        ctx.session.release_import().await?;
    }
    let batches = RowBatches::from_chunks(upload.file.clone(), upload.format);
    let outcome = state
        .writer
        .import(&ctx.actor, batches, ImportMode::DryRun, &upload.source)
        .await;
    crate::import::release_memory();
    let plan = match outcome? {
        ImportOutcome::Planned(plan) | ImportOutcome::Stale(plan) => plan,
        ImportOutcome::Unreadable(error) => {
            return upload_page(ctx, Refused::File(error)).await;
        }
        ImportOutcome::Applied { .. } => {
            return Err(AppError::Internal(anyhow::anyhow!("a dry run wrote")));
        }
    };
    if is_empty(&plan) {
        return upload_page(ctx, Refused::Empty).await;
    }
    // Refused at the preview: confirming applies this very plan (or shows
    // the new one), so it is not offered at all.
    may_change_admin_flags(ctx, &plan, &upload.file)?;
    let id = if plan.is_valid() && (plan.counts.create + plan.counts.update) > 0 {
        let pending = PendingImport {
            admin_id: ctx.admin.user_id,
            source: upload.source.clone(),
            digest: plan.digest(),
            format: upload.format,
        };
        let id = pending_imports
            .put(&pending, &upload.file)
            .await
            .map_err(AppError::Internal)?;
        ctx.session.hold_import(&id).await?;
        Some(id)
    } else {
        None
    };
    let status = if plan.is_valid() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    preview_page(ctx, &upload.source, plan, id, None, status).await
}

async fn preview_page(
    ctx: &AdminContext,
    source: &str,
    plan: Plan,
    plan_id: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let changes: Vec<PlannedRow> = plan.changes().take(PREVIEW_CHANGES).cloned().collect();
    let errors: Vec<PlannedRow> = plan.errors().cloned().collect();
    let page = ImportPreviewPage {
        layout: ctx.layout("Import preview").await?,
        source: source.to_owned(),
        counts: plan.counts,
        shown_changes: changes.len() as u64,
        changes,
        shown_errors: errors.len() as u64,
        errors,
        plan_id,
        notice,
    };
    Ok((status, page).into_response())
}

async fn upload_page(ctx: &AdminContext, refused: Refused) -> AppResult<Response> {
    let status = refused.status();
    let page = ImportPage {
        layout: ctx.layout("Import users").await?,
        error: Some(refused.message()),
    };
    Ok((status, [(header::CACHE_CONTROL, "no-store")], page).into_response())
}
