//! The OpenAPI 3.1 document of the JSON API, served at `/openapi.json`. Schemas
//! are derived from the very types the handlers read and write, and each
//! operation is declared on its handler, so the document moves with the code.

use axum::{
    extract::State,
    http::{HeaderValue, Method, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, ResponseBuilder, Schema,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::domain::WEBHOOK_EVENTS;
use crate::domain::{
    DisabledReason, MAX_SEARCH_CHARS, Password, TokenLabel, UserEmail, UserName,
    WEBHOOK_URL_MAX_CHARS,
};
use crate::http::routes::{self as r, Access, AccessTable, Routes};
use crate::{
    audit, domain::FieldErrors, groups, health, http::error::ErrorBody, http::views::MessageView,
    lifecycle, roles, tokens, transfer, two_factor, users, webhooks,
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

/// Where a length limit the domain states goes: a property of a body's schema,
/// or a query parameter of an operation.
enum LimitAt {
    Property(&'static str, &'static str),
    Query(&'static str, &'static str),
}

/// The length limits of the bodies and queries, as the domain states them
/// (utoipa's `max_length` takes only a literal, so they are written in here).
const LIMITS: [(LimitAt, Option<usize>, usize); 9] = [
    (
        LimitAt::Property("UserInput", "name"),
        None,
        UserName::MAX_CHARS,
    ),
    (
        LimitAt::Property("UserInput", "email"),
        None,
        UserEmail::MAX_CHARS,
    ),
    (
        LimitAt::Property("UserInput", "password"),
        Some(Password::MIN_CHARS),
        Password::MAX_CHARS,
    ),
    (
        LimitAt::Property("UserInput", "disabled_reason"),
        None,
        DisabledReason::MAX_CHARS,
    ),
    (
        LimitAt::Property("NewToken", "label"),
        None,
        TokenLabel::MAX_CHARS,
    ),
    (
        LimitAt::Property("DisableInput", "reason"),
        None,
        DisabledReason::MAX_CHARS,
    ),
    (
        LimitAt::Property("BulkInput", "reason"),
        None,
        DisabledReason::MAX_CHARS,
    ),
    (
        LimitAt::Property("WebhookInput", "url"),
        None,
        WEBHOOK_URL_MAX_CHARS,
    ),
    (LimitAt::Query("/users", "q"), None, MAX_SEARCH_CHARS),
];

/// Text with no control character (`char::is_control`: U+0000–U+001F,
/// U+007F–U+009F) and something besides white space: what a name or a label
/// must be.
pub const NAME_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// An address as the service takes one: the local part's characters (at most
/// 64), `@`, and host name labels (a subset of what it takes: no IP literal,
/// no internationalised name).
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$";

/// The patterns validation holds bodies to, so that data generated from the
/// document (a fuzzer's, a client's) gets past validation.
const PATTERNS: [(&str, &str, &str); 5] = [
    ("UserInput", "name", NAME_PATTERN),
    ("UserInput", "email", EMAIL_PATTERN),
    ("RoleInput", "name", NAME_PATTERN),
    ("GroupInput", "name", NAME_PATTERN),
    ("NewToken", "label", NAME_PATTERN),
];

/// The events a webhook may subscribe to, listed as the items of
/// `WebhookInput.events` (at least one), so that a client (or a fuzzer) picks
/// known ones.
fn webhook_events(openapi: &mut utoipa::openapi::OpenApi) {
    let property = openapi
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("WebhookInput"))
        .and_then(|schema| match schema {
            RefOr::T(Schema::Object(object)) => object.properties.get_mut("events"),
            _ => None,
        });
    let Some(RefOr::T(Schema::Array(array))) = property else {
        return;
    };
    // At least one: an empty list is refused.
    array.min_items = Some(1);
    if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut array.items
        && let RefOr::T(Schema::Object(item)) = items.as_mut()
    {
        item.enum_values = Some(WEBHOOK_EVENTS.iter().map(|e| (*e).into()).collect());
    }
}

struct Limits;

impl Modify for Limits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (at, min, max) in &LIMITS {
            let schema = match at {
                LimitAt::Property(schema, property) => openapi
                    .components
                    .as_mut()
                    .and_then(|c| c.schemas.get_mut(*schema))
                    .and_then(|schema| match schema {
                        RefOr::T(Schema::Object(object)) => object.properties.get_mut(*property),
                        _ => None,
                    }),
                LimitAt::Query(path, name) => openapi
                    .paths
                    .paths
                    .get_mut(*path)
                    .and_then(|item| item.get.as_mut())
                    .and_then(|operation| operation.parameters.as_mut())
                    .and_then(|parameters| {
                        parameters.iter_mut().find_map(|parameter| match parameter {
                            RefOr::T(parameter) if parameter.name == *name => Some(parameter),
                            _ => None,
                        })
                    })
                    .and_then(|parameter| parameter.schema.as_mut()),
            };
            if let Some(RefOr::T(Schema::Object(object))) = schema {
                object.max_length = Some(*max);
                if min.is_some() {
                    object.min_length = *min;
                }
            }
        }
        for (schema, property, pattern) in PATTERNS {
            let property = openapi
                .components
                .as_mut()
                .and_then(|c| c.schemas.get_mut(schema))
                .and_then(|schema| match schema {
                    RefOr::T(Schema::Object(object)) => object.properties.get_mut(property),
                    _ => None,
                });
            if let Some(RefOr::T(Schema::Object(object))) = property {
                object.pattern = Some(pattern.to_owned());
            }
        }
    }
}

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

/// Every operation whose route needs a permission may answer 403, naming it
/// (the route table is the one that decides, so the document follows it).
struct Forbidden<'a>(&'a AccessTable);

impl Modify for Forbidden<'_> {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, operation) in operations {
                let (Some(operation), Some(Access::Permission(permission))) =
                    (operation, self.0.access(&method, path))
                else {
                    continue;
                };
                let forbidden = ResponseBuilder::new()
                    .description(format!(
                        "`{permission}` is needed, and neither the account nor the token's \
                         scopes hold it: `{{\"error\": \"forbidden\", \"permission\": \"{permission}\"}}` \
                         (a token also gets `WWW-Authenticate: Bearer error=\"insufficient_scope\"`)"
                    ))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build();
                operation
                    .responses
                    .responses
                    .entry("403".into())
                    .or_insert_with(|| forbidden.into());
            }
        }
    }
}

pub fn router() -> Routes {
    Routes::new().route("/openapi.json", r::get(Access::Public, serve))
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
        .merge_from(webhooks::routes::Api::openapi())
        .merge_from(groups::routes::Api::openapi())
        .merge_from(roles::routes::Api::openapi());
    Throttled.modify(&mut document);
    Forbidden(&super::router::access_table()).modify(&mut document);
    Limits.modify(&mut document);
    webhook_events(&mut document);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` names a schema the document holds (`Permission`'s, with
    /// its hand-written schema, included).
    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        found.push(target);
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let document: serde_json::Value = serde_json::from_slice(&document().unwrap()).unwrap();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(
            found.contains(&"#/components/schemas/Permission"),
            "{found:?}"
        );
        for target in found {
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(
                document["components"]["schemas"].get(name).is_some(),
                "{target} does not resolve"
            );
        }
        let permission = &document["components"]["schemas"]["Permission"];
        assert_eq!(permission["enum"].as_array().unwrap().len(), 11);
    }

    #[test]
    fn every_limit_lands_in_the_document() {
        let document: serde_json::Value = serde_json::from_slice(&document().unwrap()).unwrap();
        for (at, min, max) in &LIMITS {
            let schema = match at {
                LimitAt::Property(schema, property) => {
                    &document["components"]["schemas"][schema]["properties"][property]
                }
                LimitAt::Query(path, name) => document["paths"][path]["get"]["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == *name)
                    .map(|p| &p["schema"])
                    .unwrap(),
            };
            assert_eq!(schema["maxLength"], *max, "{schema}");
            if let Some(min) = min {
                assert_eq!(schema["minLength"], *min, "{schema}");
            }
        }
    }
}
