//! `/`: the original service's greeting for scripts; browsers go to the user list.

use axum::{
    Json, Router,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use crate::http::views::MessageView;
use crate::{http::negotiate::Format, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index))
}

#[utoipa::path(
    get,
    path = "/",
    responses((status = 200, description = "a greeting", body = MessageView))
)]
pub async fn index(format: Format) -> Response {
    match format {
        Format::Html => Redirect::to("/users").into_response(),
        Format::Json => Json(MessageView {
            message: "useradmin: manage users at /users (send Authorization: Bearer <token>)"
                .into(),
        })
        .into_response(),
    }
}
