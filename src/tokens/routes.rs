//! `/tokens`: API tokens for scripts. A new token is shown once.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::domain::Permission;
use crate::http::pages::ConfirmPage;
use crate::http::pages::Layout;
use crate::http::routes::{self as r, Access, Routes};
use crate::tokens::forms::NewToken;
use crate::tokens::pages::TokensPage;
use crate::views::TokenView;
use crate::{
    db,
    domain::{FieldErrors, token_grant},
    http::error::{AppError, AppResult, ErrorBody},
    http::{body::Body, negotiate::Format, respond::AdminContext},
    state::AppState,
};

/// `tokens.manage` is one's own tokens (SPEC §14): an admin who may also grant
/// roles (`roles.manage`) sees and revokes everyone's; anyone else only their
/// own (another's token is not found).
fn sees_all(ctx: &AdminContext) -> bool {
    ctx.admin.permissions.contains(Permission::RolesManage)
}

pub fn router() -> Routes {
    let manage = Access::Permission(Permission::TokensManage);
    Routes::new()
        .route("/tokens", r::get(manage, list).post(manage, create))
        .route(
            "/tokens/{id}/revoke",
            r::get(manage, revoke_form).post(manage, revoke),
        )
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, revoke),
    components(schemas(crate::views::TokenView, crate::tokens::forms::NewToken, CreatedToken))
)]
pub struct Api;

#[utoipa::path(
    get,
    path = "/tokens",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one's own tokens, or with `roles.manage` every token (never the tokens themselves)", body = Vec<TokenView>),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>, ctx: AdminContext) -> AppResult<Response> {
    let tokens = visible_tokens(&state, &ctx).await?;
    match ctx.format {
        Format::Json => Ok(Json(tokens).into_response()),
        Format::Html => Ok(tokens_page(
            ctx.layout("API tokens").await?,
            tokens,
            state.settings.token_max_days,
        )
        .into_response()),
    }
}

/// The tokens this admin may see and revoke.
async fn visible_tokens(state: &AppState, ctx: &AdminContext) -> AppResult<Vec<TokenView>> {
    let all = sees_all(ctx);
    Ok(db::tokens::list(&state.db)
        .await?
        .into_iter()
        .filter(|token| all || token.created_by == ctx.admin.user_id)
        .map(TokenView::from)
        .collect())
}

fn tokens_page(layout: Layout, tokens: Vec<TokenView>, max_days: u32) -> TokensPage {
    TokensPage {
        max_days,
        layout,
        tokens,
        new_token: None,
        input: NewToken::default(),
        errors: FieldErrors::default(),
    }
}

/// A token as created: the only time the token itself is in a response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    view: TokenView,
    token: String,
}

#[utoipa::path(
    post,
    path = "/tokens",
    tag = "tokens",
    security(("bearer" = [])),
    request_body(content = NewToken, content_type = "application/json"),
    responses(
        (status = 201, description = "the new token: shown this once", body = CreatedToken),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`tokens.manage` is missing, or a scope asked for is one the creator does not hold (`permission` names it)", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "a bad label, an unknown scope, or a lifetime over `TOKEN_MAX_DAYS`", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ctx: AdminContext,
    Body(input): Body<NewToken>,
) -> AppResult<Response> {
    let creator = ctx.admin.permissions;
    let parsed = match input.parse(creator, state.settings.token_max_days) {
        Ok(parsed) => parsed,
        Err(errors) => return input_again(&state, &ctx, input, errors).await,
    };
    // No escalation: a token gets no permission its creator lacks.
    if let Some(permission) = token_grant::exceeds(parsed.grant.scopes, creator) {
        return Err(AppError::MissingPermission {
            permission: Some(permission),
            token: false,
        });
    }
    let created = state
        .writer
        .create_scoped_token(&ctx.actor, &parsed.label, ctx.admin.user_id, &parsed.grant)
        .await?;
    created_answer(&state, &ctx, created).await
}

/// 201 with the new token, shown this once: as JSON, or on the tokens page.
async fn created_answer(
    state: &AppState,
    ctx: &AdminContext,
    created: crate::write::CreatedToken,
) -> AppResult<Response> {
    match ctx.format {
        Format::Json => Ok((
            StatusCode::CREATED,
            Json(CreatedToken {
                view: TokenView::from(created.row),
                token: created.token,
            }),
        )
            .into_response()),
        // Rendered, not redirected: the token must not be kept anywhere to show
        // it again after a redirect.
        Format::Html => Ok((
            StatusCode::CREATED,
            TokensPage {
                new_token: Some(created.token),
                ..tokens_page(
                    ctx.layout("API tokens").await?,
                    visible_tokens(state, ctx).await?,
                    state.settings.token_max_days,
                )
            },
        )
            .into_response()),
    }
}

/// Input that does not parse: 422 with the errors, or the tokens page again
/// with the form as filled in.
async fn input_again(
    state: &AppState,
    ctx: &AdminContext,
    input: NewToken,
    errors: FieldErrors,
) -> AppResult<Response> {
    if !ctx.format.is_html() {
        return Err(AppError::Validation(errors));
    }
    let page = TokensPage {
        input,
        errors,
        ..tokens_page(
            ctx.layout("API tokens").await?,
            visible_tokens(state, ctx).await?,
            state.settings.token_max_days,
        )
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// `GET /tokens/{id}/revoke`: the confirmation, naming the token.
async fn revoke_form(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    ctx.html_only()?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let token = visible_tokens(&state, &ctx)
        .await?
        .into_iter()
        .find(|t| t.id == id && t.revoked_at.is_none())
        .ok_or(AppError::NotFound)?;
    let page = ConfirmPage {
        layout: ctx.layout(format!("Revoke token {}", token.label)).await?,
        heading: format!("Revoke the token “{}”?", token.label),
        consequence: "Every script that sends it is refused from now on. A revoked token cannot be used again; make a new one if a script still needs access.".into(),
        action: format!("/tokens/{}/revoke", token.id),
        button: "Revoke the token".into(),
        cancel: "/tokens".into(),
    };
    Ok(page.into_response())
}

#[utoipa::path(
    post,
    path = "/tokens/{id}/revoke",
    tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the token's id")),
    responses(
        (status = 200, description = "the revoked token", body = TokenView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such token, or (without `roles.manage`) another admin's", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    ctx: AdminContext,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    if !sees_all(&ctx)
        && !visible_tokens(&state, &ctx)
            .await?
            .iter()
            .any(|t| t.id == id)
    {
        return Err(AppError::NotFound);
    }
    let row = state.writer.revoke_token(&ctx.actor, id).await?;
    let flash = format!("Token {id} revoked.");
    ctx.done("/tokens", Json(TokenView::from(row)), flash).await
}
