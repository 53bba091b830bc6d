//! What the JSON API lists, and users looked up by email, as the tests read them.

use serde_json::Value;

use crate::{TestApp, assert_error, json_of};

/// `GET path` (a list), which must answer 200; its body.
pub async fn list_page(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get_json(path).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The emails of a list page's users, in the order listed.
pub fn emails_of(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids of a list page's users, in the order listed.
pub fn ids_of(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect()
}

/// `GET path` through the admin's token, which must be refused with `status` as
/// a JSON error (the failure names the path); the error's body.
pub async fn assert_get_refused(app: &TestApp, path: &str, status: u16) -> Value {
    let response = app.api.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), status, "GET {path}");
    assert_error(response, status).await
}

/// The events of `GET /audit?…` (JSON).
pub async fn audit_events(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/audit?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// `POST path` with a JSON body, through the admin's token; status and body.
pub async fn post_json(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .api
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(response).await
}

/// The name of the (not deleted) user with this exact email, if there is one.
pub async fn user_name_by_email(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar("select name from users where email = $1 and deleted_at is null")
        .bind(email)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}
