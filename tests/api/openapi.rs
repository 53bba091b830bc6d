use serde_json::{Value, json};

use crate::helpers::{Options, json_of, post_json, spawn_app, spawn_app_with};

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

/// SPEC §14: every route declares what it needs, in the one table the guard
/// checks; an operation the document lists without an entry would answer 403
/// to everyone (the guard fails closed), so this test refuses it first.
#[tokio::test]
async fn every_operation_in_the_document_and_every_registered_route_declares_its_access() {
    use useradmin::http::routes::Access;
    use useradmin::startup::router::{access_entries, access_table};

    let app = spawn_app().await;
    let (_, doc) = json_of(
        app.anonymous
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let table = access_table();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let method_ = method.to_uppercase().parse().unwrap();
            let access = table.access(&method_, path);
            assert!(access.is_some(), "{method} {path} declares no access");
            let answers_403 = item[method]["responses"].get("403").is_some();
            assert_eq!(
                answers_403,
                matches!(access, Some(Access::Permission(_))),
                "{method} {path}: a 403 in the document exactly where a permission is needed"
            );
        }
    }
    let entries = access_entries();
    assert!(entries.len() >= 50, "{} routes", entries.len());
    for entry in &entries {
        assert_eq!(
            table.access(&entry.method, &entry.path),
            Some(entry.access),
            "{} {} is declared twice, differently",
            entry.method,
            entry.path
        );
    }
    // Spot checks of SPEC §14's mapping.
    for (method, path, expected) in [
        ("GET", "/users", "users.read"),
        ("POST", "/users", "users.write"),
        ("PATCH", "/users/{id}", "users.write"),
        ("DELETE", "/users/{id}", "users.lifecycle"),
        ("POST", "/users/bulk", "users.lifecycle"),
        ("GET", "/users/export", "users.read"),
        ("POST", "/users/import", "users.write"),
        ("GET", "/users/{id}/history", "users.read"),
        ("GET", "/users/deleted", "users.read"),
        ("POST", "/users/{id}/2fa/reset", "credentials.reset"),
        ("POST", "/tokens", "tokens.manage"),
        ("POST", "/webhooks/{id}/test", "webhooks.manage"),
        ("GET", "/audit", "audit.read"),
        ("PATCH", "/scim/v2/Users/{id}", "scim.provision"),
    ] {
        match table.access(&method.parse().unwrap(), path) {
            Some(Access::Permission(p)) => assert_eq!(p.as_str(), expected, "{method} {path}"),
            other => panic!("{method} {path}: {other:?}"),
        }
    }
    for (method, path) in [
        ("POST", "/account/password"),
        ("POST", "/account/2fa/enable"),
        ("POST", "/logout"),
    ] {
        assert_eq!(
            table.access(&method.parse().unwrap(), path),
            Some(Access::Login)
        );
    }
    for (method, path) in [
        ("GET", "/login"),
        ("GET", "/health"),
        ("GET", "/openapi.json"),
    ] {
        assert_eq!(
            table.access(&method.parse().unwrap(), path),
            Some(Access::Public)
        );
    }
}

/// The pattern the document gives `schema.property`.
fn pattern_of(doc: &Value, schema: &str, property: &str) -> regex::Regex {
    let pattern = doc["components"]["schemas"][schema]["properties"][property]["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{schema}.{property} has no pattern"));
    regex::Regex::new(pattern).expect("an ECMA pattern that is also a Rust one")
}

#[tokio::test]
async fn names_and_emails_the_document_allows_are_the_ones_the_service_takes() {
    let app = spawn_app().await;
    let (_, doc) = json_of(
        app.anonymous
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let role_name = pattern_of(&doc, "RoleInput", "name");
    let user_name = pattern_of(&doc, "UserInput", "name");
    let email = pattern_of(&doc, "UserInput", "email");
    let names = [
        "Alice",
        "  Bob  ",
        "Zoë",
        "A\u{1}B",
        "A\u{7f}B",
        "A\u{85}B",
        "tab\there",
        "   ",
        "\u{9f}",
    ];
    for (n, name) in names.into_iter().enumerate() {
        let response = app
            .api
            .post(app.url("/roles"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        let taken = response.status() == 201;
        assert!(
            taken || response.status() == 422,
            "{name:?}: {}",
            response.status()
        );
        assert_eq!(role_name.is_match(name), taken, "role name {name:?}");
        let body = json!({ "name": name, "email": format!("n{n}@example.com") });
        let (status, _) = post_json(&app, "/users", body).await;
        assert_eq!(
            user_name.is_match(name),
            status == 201,
            "user name {name:?}"
        );
    }
    for (n, address) in [
        "ann@example.com",
        "o'brien+tag@mail.example.org",
        "no-at-sign.example.com",
        "two@@example.com",
        "space in@example.com",
        "a@-bad-.example",
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({ "name": format!("User {n}"), "email": address });
        let (status, _) = post_json(&app, "/users", body).await;
        assert!(status == 201 || status == 422, "{address}: {status}");
        assert_eq!(email.is_match(address), status == 201, "email {address:?}");
    }
}

#[tokio::test]
async fn the_webhook_events_the_document_lists_are_the_ones_a_webhook_takes() {
    let app = spawn_app_with(Options {
        env: vec![("WEBHOOK_ALLOW_PRIVATE", "true".into())],
        ..Options::default()
    })
    .await;
    let (_, doc) = json_of(
        app.anonymous
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let listed =
        doc["components"]["schemas"]["WebhookInput"]["properties"]["events"]["items"]["enum"]
            .as_array()
            .expect("the events are listed")
            .clone();
    assert!(listed.len() > 10, "{listed:?}");
    let events = &doc["components"]["schemas"]["WebhookInput"]["properties"]["events"];
    assert_eq!(events["minItems"], 1, "{events}");
    let body = json!({ "url": "http://127.0.0.1:9/none", "events": [] });
    assert_eq!(post_json(&app, "/webhooks", body).await.0, 422);
    for (n, event) in listed.iter().chain([&json!("user.renamed")]).enumerate() {
        let url = format!("http://127.0.0.1:9/hook{n}");
        let body = json!({ "url": url, "events": [event] });
        let (status, answer) = post_json(&app, "/webhooks", body).await;
        let expected = if listed.contains(event) { 201 } else { 422 };
        assert_eq!(status, expected, "{event}: {answer}");
    }
}
