use serde_json::Value;

use crate::helpers::{json_of, spawn_app};

#[tokio::test]
async fn the_api_document_is_openapi_3_1_and_every_operation_in_it_is_served() {
    let app = spawn_app().await;
    let (status, doc) = json_of(
        app.anonymous
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/",
        "/health",
        "/health/live",
        "/users",
        "/users/{id}",
        "/tokens",
        "/tokens/{id}/revoke",
    ] {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if path == "/tokens/{id}/revoke" {
                continue; // would revoke the token this test uses
            }
            let url = app.url(&path.replace("{id}", "999999"));
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let mut request = app.api.request(method.clone(), &url);
            if matches!(
                method,
                reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
            ) {
                request = request.json(
                    &serde_json::json!({"name": "Doc", "email": "doc@example.com", "label": "doc"}),
                );
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16().to_string();
            assert!(
                operation["responses"].get(&status).is_some(),
                "{method} {path} answered {status}, which the document does not list"
            );
            operations += 1;
        }
    }
    assert!(operations >= 10);
}

#[tokio::test]
async fn the_documented_list_shape_is_the_one_sent() {
    let app = spawn_app().await;
    let (_, doc) = json_of(
        app.anonymous
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let documented: Vec<&String> = doc["components"]["schemas"]["UserListResponse"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    for source in ["database", "cache"] {
        let (_, page) = app.get_json("/users").await;
        assert_eq!(page["source"], source);
        let sent: Vec<&String> = page.as_object().unwrap().keys().collect();
        let mut documented = documented.clone();
        documented.sort();
        let mut sent = sent.clone();
        sent.sort();
        assert_eq!(sent, documented);
        let _: useradmin::users::views::UserListResponse =
            serde_json::from_value(page.clone()).unwrap();
        assert!(matches!(page["data"], Value::Array(_)));
    }
}
