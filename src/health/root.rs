//! `/`: the original service's greeting for scripts; browsers go to the user list.

use axum::{
    Json,
    response::{IntoResponse, Redirect, Response},
};

use crate::http::negotiate::Format;
use crate::http::routes::{self as r, Access, Routes};
use crate::http::views::MessageView;

pub fn router() -> Routes {
    Routes::new().route("/", r::get(Access::Public, index))
}

/// This feature's operations in the API document, listed beside its routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(index), components(schemas(crate::http::views::MessageView)))]
pub struct Api;

#[utoipa::path(
    get,
    path = "/",
    tag = "root",
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
