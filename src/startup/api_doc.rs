//! The OpenAPI 3.1 document of the JSON API, served at `/openapi.json`. Schemas
//! are derived from the very types the handlers read and write, and each
//! operation is declared on its handler, so the document moves with the code.

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{
    audit, domain::FieldErrors, health, http::error::ErrorBody, http::views::MessageView,
    lifecycle, state::AppState, tokens, transfer, two_factor, users, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "useradmin",
        description = "Manage users. Every /users, /tokens and /audit operation needs `Authorization: Bearer <token>` (create one with `useradmin token create`)."
    ),
    components(schemas(ErrorBody, FieldErrors, MessageView)),
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

/// Every operation that takes a bearer token may answer 429: an address whose
/// tokens keep failing is refused for a while (failed guesses are throttled).
struct Throttled;

impl Modify for Throttled {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let too_many = ResponseBuilder::new()
            .description("too many failed token checks from this address; see Retry-After")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    operation
                        .responses
                        .responses
                        .insert("429".into(), too_many.clone().into());
                }
            }
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(serve))
}

/// The document as served, built once at start: it cannot change while the
/// process runs.
pub fn document() -> anyhow::Result<Bytes> {
    Ok(Bytes::from(serde_json::to_vec(&openapi())?))
}

/// The service's description and every feature's operations; one line per
/// feature.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi()
        .merge_from(health::root::Api::openapi())
        .merge_from(health::routes::Api::openapi())
        .merge_from(users::routes::Api::openapi())
        .merge_from(tokens::routes::Api::openapi())
        .merge_from(audit::routes::Api::openapi())
        .merge_from(lifecycle::routes::Api::openapi())
        .merge_from(two_factor::routes::Api::openapi())
        .merge_from(transfer::export_routes::Api::openapi())
        .merge_from(transfer::import_routes::Api::openapi())
        .merge_from(webhooks::routes::Api::openapi());
    Throttled.modify(&mut document);
    document
}

async fn serve(State(document): State<Bytes>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document,
    )
        .into_response()
}
