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

use crate::audit::views::AuditActorView;
use crate::audit::views::AuditEventView;
use crate::audit::views::AuditPageView;
use crate::audit::views::AuditSubjectView;
use crate::health::{root, routes as health};
use crate::http::views::MessageView;
use crate::lifecycle::forms::BulkInput;
use crate::lifecycle::forms::DisableInput;
use crate::tokens::forms::NewToken;
use crate::transfer::{export_routes as export, import_routes as import};
use crate::users::forms::UserInput;
use crate::users::views::Source;
use crate::users::views::UserListResponse;
use crate::views::DeletedUserView;
use crate::views::TokenView;
use crate::views::UserView;
use crate::{
    audit::routes as audit, lifecycle::routes as lifecycle, tokens::routes as tokens,
    two_factor::routes as two_factor, users::routes as users, webhooks::routes as webhooks,
};
use crate::{domain::FieldErrors, http::error::ErrorBody, state::AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "useradmin",
        description = "Manage users. Every /users, /tokens and /audit operation needs `Authorization: Bearer <token>` (create one with `useradmin token create`)."
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
        audit::list,
        audit::history,
        lifecycle::disable,
        lifecycle::enable,
        lifecycle::restore,
        lifecycle::deleted,
        lifecycle::bulk,
        two_factor::reset,
        export::export,
        import::import,
        webhooks::list,
        webhooks::create,
        webhooks::show,
        webhooks::update,
        webhooks::destroy,
        webhooks::rotate_secret,
        webhooks::test,
        webhooks::deliveries,
        webhooks::redeliver,
    ),
    components(schemas(
        UserView, UserInput, UserListResponse, Source, MessageView, ErrorBody, FieldErrors,
        TokenView, NewToken, tokens::CreatedToken, AuditPageView, AuditEventView, AuditActorView,
        AuditSubjectView, DisableInput, BulkInput, lifecycle::BulkResult, lifecycle::BulkResponse,
        lifecycle::DeletedPageView, DeletedUserView, health::HealthView, health::Checks,
        import::ImportReport, crate::import::Counts, crate::import::PlannedRow, crate::import::Action,
        webhooks::WebhookInput, webhooks::WebhookListView, webhooks::CreatedWebhookView,
        crate::webhooks::views::WebhookView, crate::webhooks::views::DeliveryView, crate::webhooks::views::DeliveryPageView,
        two_factor::TwoFactorResetView,
    )),
    modifiers(&BearerToken, &Throttled),
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
    Ok(Bytes::from(serde_json::to_vec(&ApiDoc::openapi())?))
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
