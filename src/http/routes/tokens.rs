//! `/tokens`: API tokens for scripts. A new token is shown once.

use axum::{
    Extension, Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{
    auth::{CurrentAdmin, session, tokens},
    db,
    domain::FieldErrors,
    error::{AppError, AppResult, ErrorBody},
    http::{body::Body, layout, negotiate::Format, pages::TokensPage, views::TokenView},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}/revoke", post(revoke))
}

#[utoipa::path(
    get,
    path = "/tokens",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every token (never the tokens themselves)", body = Vec<TokenView>),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
) -> AppResult<Response> {
    let tokens = all_tokens(&state).await?;
    match format {
        Format::Json => Ok(Json(tokens).into_response()),
        Format::Html => Ok(TokensPage {
            layout: layout::for_admin(&session, &admin, "API tokens").await?,
            tokens,
            new_token: None,
            label: String::new(),
            errors: FieldErrors::default(),
        }
        .into_response()),
    }
}

async fn all_tokens(state: &AppState) -> AppResult<Vec<TokenView>> {
    Ok(db::tokens::list(&state.db)
        .await?
        .into_iter()
        .map(TokenView::from)
        .collect())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// What the token is for: 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    #[serde(default)]
    label: String,
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
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    Extension(admin): Extension<CurrentAdmin>,
    Body(input): Body<NewToken>,
) -> AppResult<Response> {
    let label = input.label.trim().to_owned();
    let problem = if label.is_empty() {
        Some("must not be empty")
    } else if label.chars().count() > 100 || label.chars().any(char::is_control) {
        Some("must be at most 100 characters, without control characters")
    } else {
        None
    };
    if let Some(problem) = problem {
        let errors = FieldErrors::single("label", problem);
        return match format {
            Format::Json => Err(AppError::Validation(errors)),
            Format::Html => {
                let page = TokensPage {
                    layout: layout::for_admin(&session, &admin, "API tokens").await?,
                    tokens: all_tokens(&state).await?,
                    new_token: None,
                    label: input.label,
                    errors,
                };
                Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
            }
        };
    }
    let token = tokens::generate();
    let row = db::tokens::insert(&state.db, &label, &tokens::hash(&token), admin.user_id).await?;
    match format {
        Format::Json => Ok((
            StatusCode::CREATED,
            Json(CreatedToken {
                view: TokenView::from(row),
                token,
            }),
        )
            .into_response()),
        // Rendered, not redirected: the token must not be kept anywhere to show
        // it again after a redirect.
        Format::Html => Ok((
            StatusCode::CREATED,
            TokensPage {
                layout: layout::for_admin(&session, &admin, "API tokens").await?,
                tokens: all_tokens(&state).await?,
                new_token: Some(token),
                label: String::new(),
                errors: FieldErrors::default(),
            },
        )
            .into_response()),
    }
}

#[utoipa::path(
    post,
    path = "/tokens/{id}/revoke",
    tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the token's id")),
    responses(
        (status = 200, description = "the revoked token", body = TokenView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    format: Format,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    if !db::tokens::revoke(&state.db, id).await? {
        return Err(AppError::NotFound);
    }
    // Ends the trust every instance has in its cached token checks.
    state.user_cache.invalidate().await;
    match format {
        Format::Json => {
            let token = all_tokens(&state)
                .await?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or(AppError::NotFound)?;
            Ok(Json(token).into_response())
        }
        Format::Html => {
            session::set_flash(&session, format!("Token {id} revoked.")).await?;
            Ok(Redirect::to("/tokens").into_response())
        }
    }
}
