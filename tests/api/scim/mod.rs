//! SCIM 2.0 at `/scim/v2`: discovery, the Users resource with filters, paging,
//! sorting and attribute selection, PATCH as Okta and Microsoft Entra send it,
//! ETags, the SCIM error schema, and the same write path (audited as `scim`).
//!
//! * `protocol`: discovery, authentication, media types, caching, locations.
//! * `filters`: filters, paging and sorting, and filters under attack.
//! * `users`: creating, replacing and patching users, and what is read back.
//! * `groups`: groups as Okta and Entra push them, PATCH's member forms,
//!   filters, versions, escalation and the last admin.

mod filters;
mod groups;
mod protocol;
mod users;

use reqwest::{Method, Response, header};
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const MEDIA: &str = "application/scim+json";

/// Status and body of a SCIM response, which must be `application/scim+json`.
pub(crate) async fn scim_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    if status == 204 || status == 304 {
        return (status, Value::Null);
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        content_type.starts_with(MEDIA),
        "{status} answered {content_type:?}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    scim_of(app.api.get(app.url(path)).send().await.unwrap()).await
}

async fn send_raw(app: &TestApp, method: Method, path: &str, body: &Value) -> Response {
    app.api
        .request(method, app.url(path))
        .header(header::CONTENT_TYPE, MEDIA)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    scim_of(
        app.api
            .request(method, app.url(path))
            .header(header::CONTENT_TYPE, MEDIA)
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    send(app, reqwest::Method::POST, "/scim/v2/Users", body).await
}

async fn patch(app: &TestApp, id: &str, operations: Value) -> (u16, Value) {
    send(
        app,
        reqwest::Method::PATCH,
        &format!("/scim/v2/Users/{id}"),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}),
    )
    .await
}

fn user(user_name: &str, name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"formatted": name},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

/// Asserts a SCIM error with this status and `scimType`.
fn assert_scim_error(status: u16, body: &Value, want_status: u16, scim_type: Option<&str>) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert_eq!(
        body["status"],
        want_status.to_string(),
        "status is a string"
    );
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The `userName`s a filter finds.
async fn found(app: &TestApp, filter: &str) -> Vec<String> {
    let response = app
        .api
        .get(app.url(&format!(
            "/scim/v2/Users?filter={}&count=1000",
            encoded(filter)
        )))
        .send()
        .await
        .unwrap();
    let (status, page) = scim_of(response).await;
    assert_eq!(status, 200, "{filter}: {page}");
    let mut names: Vec<String> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn list(app: &TestApp, filter: &str) -> (u16, Value) {
    let encoded: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let response = app
        .api
        .get(app.url(&format!("/scim/v2/Users?filter={encoded}")))
        .send()
        .await
        .unwrap();
    scim_of(response).await
}

fn patch_op(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Asserts a SCIM 400 with this `scimType` whose detail names `attribute`.
fn assert_refused(status: u16, body: &Value, scim_type: &str, attribute: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["scimType"], scim_type, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(attribute),
        "the detail should name {attribute}: {body}"
    );
}
