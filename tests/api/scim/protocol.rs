//! Discovery, the bearer token, SCIM JSON bodies, no caching, and `meta.location`.

use super::*;

#[tokio::test]
async fn discovery_describes_users_and_groups() {
    let app = spawn_app().await;
    let (status, config) = get(&app, "/scim/v2/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    for (feature, supported) in [
        ("patch", true),
        ("filter", true),
        ("sort", true),
        ("etag", true),
        ("bulk", false),
        ("changePassword", false),
    ] {
        assert_eq!(config[feature]["supported"], supported, "{feature}");
    }
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );

    let (_, types) = get(&app, "/scim/v2/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    assert_eq!(types["Resources"][0]["id"], "User");
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(types["Resources"][1]["id"], "Group");
    assert_eq!(types["Resources"][1]["endpoint"], "/Groups");
    let (status, group) = get(&app, "/scim/v2/ResourceTypes/Group").await;
    assert_eq!(status, 200);
    assert_eq!(
        group["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:Group"
    );
    let (status, body) = get(&app, "/scim/v2/ResourceTypes/Role").await;
    assert_scim_error(status, &body, 404, None);

    let (_, schemas) = get(&app, "/scim/v2/Schemas").await;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:Group"));
    let (status, user_schema) = get(
        &app,
        "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(user_schema["attributes"][0]["name"], "userName");
    let (status, group_schema) = get(
        &app,
        "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(group_schema["attributes"][0]["name"], "displayName");
    assert_eq!(group_schema["attributes"][0]["caseExact"], false);
    assert_eq!(group_schema["attributes"][1]["name"], "members");

    let (status, body) = get(&app, "/scim/v2/Groups").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 0);
}

/// One endpoint of each kind: the collection, discovery, one resource.
const SCIM_ENDPOINTS: &[&str] = &[
    "/scim/v2/Users",
    "/scim/v2/ServiceProviderConfig",
    "/scim/v2/Users/1",
];

#[tokio::test]
async fn without_a_bearer_token_every_endpoint_answers_401_in_scim_form() {
    let app = spawn_app().await;
    for path in SCIM_ENDPOINTS {
        let response = app.anonymous.get(app.url(path)).send().await.unwrap();
        assert!(
            response.headers().contains_key(header::WWW_AUTHENTICATE),
            "{path}"
        );
        let (status, body) = scim_of(response).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_scim_error(status, &body, 401, None);
    }
    let response = app
        .anonymous
        .get(app.url("/scim/v2/Users"))
        .bearer_auth("ua_not_a_token")
        .send()
        .await
        .unwrap();
    let (status, body) = scim_of(response).await;
    assert_scim_error(status, &body, 401, None);
}

#[tokio::test]
async fn bodies_must_be_scim_json() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/scim/v2/Users"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(user("a@example.com", "A").to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = scim_of(response).await;
    assert_scim_error(status, &body, 415, None);
    let response = app
        .api
        .post(app.url("/scim/v2/Users"))
        .header(header::CONTENT_TYPE, MEDIA)
        .body("{\"userName\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = scim_of(response).await;
    assert_scim_error(status, &body, 400, Some("invalidSyntax"));
    // application/json is accepted too.
    let (status, _) = scim_of(
        app.api
            .post(app.url("/scim/v2/Users"))
            .json(&user("plain@example.com", "Plain"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(app.user_count().await, 2);
}

/// Asserts `Cache-Control: no-store` on an answer, and returns its status.
fn assert_no_store(response: &Response, what: &str) -> u16 {
    assert_eq!(
        response
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what} answered {} without Cache-Control: no-store",
        response.status()
    );
    response.status().as_u16()
}

#[tokio::test]
async fn every_scim_answer_says_no_store() {
    let app = spawn_app().await;
    for path in [
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/ResourceTypes",
        "/scim/v2/ResourceTypes/User",
        "/scim/v2/Schemas",
        "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        "/scim/v2/Users",
        "/scim/v2/Users?filter=userName%20eq",
        "/scim/v2/Users/999999",
        "/scim/v2/Groups",
    ] {
        let response = app.api.get(app.url(path)).send().await.unwrap();
        assert_no_store(&response, path);
    }
    let anonymous = app
        .anonymous
        .get(app.url("/scim/v2/Users"))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_no_store(&anonymous, "anonymous"), 401);
    let not_allowed = app
        .api
        .delete(app.url("/scim/v2/Schemas"))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_no_store(&not_allowed, "DELETE /Schemas"), 405);

    let body = json!({"userName": "cache@example.com", "displayName": "Cache"});
    let created = send_raw(&app, Method::POST, "/scim/v2/Users", &body).await;
    assert_eq!(assert_no_store(&created, "create"), 201);
    let etag = created.headers()[header::ETAG].to_str().unwrap().to_owned();
    let (_, created) = scim_of(created).await;
    let path = format!("/scim/v2/Users/{}", created["id"].as_str().unwrap());
    let response = app.api.get(app.url(&path)).send().await.unwrap();
    assert_eq!(assert_no_store(&response, "get"), 200);
    let unchanged = app
        .api
        .get(app.url(&path))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(assert_no_store(&unchanged, "304"), 304);
    let patched = send_raw(
        &app,
        Method::PATCH,
        &path,
        &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await;
    assert_eq!(assert_no_store(&patched, "patch"), 200);
    let deleted = app.api.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(assert_no_store(&deleted, "delete"), 204);
}

#[tokio::test]
async fn locations_are_relative_and_never_come_from_the_host_header() {
    let app = spawn_app().await;
    let forged = "evil.example";
    let response = app
        .api
        .post(app.url("/scim/v2/Users"))
        .header(header::HOST, forged)
        .header(header::CONTENT_TYPE, MEDIA)
        .body(json!({"userName": "host@example.com", "displayName": "Host"}).to_string())
        .send()
        .await
        .unwrap();
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, created) = scim_of(response).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/scim/v2/Users/{id}"));
    assert_eq!(created["meta"]["location"], location);

    let response = app
        .api
        .get(app.url("/scim/v2/ServiceProviderConfig"))
        .header(header::HOST, forged)
        .send()
        .await
        .unwrap();
    let (_, config) = scim_of(response).await;
    assert_eq!(config["meta"]["location"], "/scim/v2/ServiceProviderConfig");
    let response = app
        .api
        .get(app.url("/scim/v2/Users"))
        .header(header::HOST, forged)
        .send()
        .await
        .unwrap();
    let (_, page) = scim_of(response).await;
    assert!(!page.to_string().contains(forged), "{page}");
}

#[tokio::test]
async fn locations_are_built_from_public_url_when_it_is_set() {
    let app = spawn_app_with(Options {
        env: vec![("PUBLIC_URL", "https://admin.example.com/useradmin/".into())],
        ..Options::default()
    })
    .await;
    let response = app
        .api
        .post(app.url("/scim/v2/Users"))
        .header(header::HOST, "evil.example")
        .header(header::CONTENT_TYPE, MEDIA)
        .body(json!({"userName": "public@example.com", "displayName": "Public"}).to_string())
        .send()
        .await
        .unwrap();
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, created) = scim_of(response).await;
    assert_eq!(status, 201, "{created}");
    let expected = format!(
        "https://admin.example.com/useradmin/scim/v2/Users/{}",
        created["id"].as_str().unwrap()
    );
    assert_eq!(location, expected);
    assert_eq!(created["meta"]["location"], expected);
    let response = app
        .api
        .get(app.url("/scim/v2/Schemas"))
        .header(header::HOST, "evil.example")
        .send()
        .await
        .unwrap();
    let (_, schemas) = scim_of(response).await;
    assert!(
        schemas["Resources"][0]["meta"]["location"]
            .as_str()
            .unwrap()
            .starts_with("https://admin.example.com/useradmin/scim/v2/Schemas/"),
        "{schemas}"
    );
}
