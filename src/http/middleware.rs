//! Cross-cutting request handling: authentication, error bodies, panics.

use std::any::Any;

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    auth::{AuthMethod, CurrentAdmin, tokens},
    db,
    error::{AppError, ErrorBody, ErrorDetails},
    state::AppState,
};

/// Lets a request through only for an authenticated admin, and records who it is.
pub async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(admin) => {
            request.extensions_mut().insert(admin);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<CurrentAdmin, AppError> {
    let Some(token) = tokens::bearer(headers) else {
        return Err(AppError::Unauthenticated);
    };
    let owner = db::tokens::authenticate(&state.db, &tokens::hash(token))
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let stale = owner
        .last_used_at
        .is_none_or(|at| time::OffsetDateTime::now_utc() - at > time::Duration::MINUTE);
    if stale {
        // Bookkeeping only: the request does not wait for it, nor fail with it.
        let db = state.db.clone();
        tokio::spawn(async move {
            if let Err(e) = db::tokens::touch(&db, owner.token_id).await {
                tracing::warn!(error = %e, "could not record token use");
            }
        });
    }
    Ok(CurrentAdmin {
        user_id: owner.user_id,
        via: AuthMethod::Token,
    })
}

/// Gives every error response a body in the error format, including those made
/// outside our handlers (unknown route, wrong method, body limit, timeout).
pub async fn error_bodies(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let already_shaped = response.extensions().get::<ErrorDetails>().is_some()
        || response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || already_shaped {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "not found".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge.to_string(),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
            "the request took too long; try again".to_owned()
        }
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let mut fresh = (
        status,
        Json(ErrorBody {
            error: message.clone(),
            fields: None,
        }),
    )
        .into_response();
    for (name, value) in parts.headers.iter() {
        fresh.headers_mut().insert(name, value.clone());
    }
    fresh.extensions_mut().insert(ErrorDetails {
        message,
        fields: None,
    });
    fresh
}

/// A panic in a handler is a bug: it is logged, and the client gets a plain 500
/// with no detail.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    AppError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}
