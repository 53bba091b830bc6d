//! The OpenAPI 3.1 document of the JSON API, served at `/openapi.json`. Schemas
//! are derived from the very types the handlers read and write, and each
//! operation is declared on its handler, so the document moves with the code.

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    routes::{health, root, tokens, users},
    views::{MessageView, Source, TokenView, UserListResponse, UserView},
};
use crate::{
    domain::{FieldErrors, UserInput},
    error::ErrorBody,
    state::AppState,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "useradmin",
        description = "Manage users. Every /users and /tokens operation needs `Authorization: Bearer <token>` (create one with `useradmin token create`)."
    ),
    paths(
        root::index,
        health::health,
        health::live,
        users::list,
        users::create,
        users::show,
        users::update,
        users::destroy,
        tokens::list,
        tokens::create,
        tokens::revoke,
    ),
    components(schemas(
        UserView, UserInput, UserListResponse, Source, MessageView, ErrorBody, FieldErrors,
        TokenView, tokens::NewToken, tokens::CreatedToken, health::HealthView, health::Checks,
    )),
    modifiers(&BearerToken),
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
