//! SCIM 2.0 (RFC 7643/7644): a second, standard JSON face on the same users, for
//! identity providers (Okta, Microsoft Entra, …). It parses SCIM's forms into
//! the service's typed values and writes through the one write path; the
//! handlers are in [`routes`].

pub mod attributes;
pub mod discovery;
pub mod error;
pub mod group;
pub mod group_patch;
pub mod groups;
pub mod list;
pub mod patch;
pub mod routes;
pub mod search;
pub mod user;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// SCIM's media type, for every body this face sends.
pub const MEDIA_TYPE: &str = "application/scim+json";

/// A JSON body sent as `application/scim+json`.
pub struct ScimJson<T>(pub T);

impl<T: Serialize> IntoResponse for ScimJson<T> {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self.0).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json; charset=utf-8"),
        );
        response
    }
}
