//! SCIM under attack and at its word (issue 24, SPEC §5 and §12): control
//! characters and oversized filters are refused before the database sees them,
//! nothing SCIM answers may be cached, `meta.location` never comes from the
//! `Host` header, and a client reads back the name parts and the email's type
//! and display it wrote.

use std::time::{Duration, Instant};

use reqwest::{Method, Response, header};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::scim::{MEDIA, scim_of};

async fn send(app: &TestApp, method: Method, path: &str, body: &Value) -> Response {
    app.api
        .request(method, app.url(path))
        .header(header::CONTENT_TYPE, MEDIA)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn scim(app: &TestApp, method: Method, path: &str, body: Value) -> (u16, Value) {
    scim_of(send(app, method, path, &body).await).await
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

#[tokio::test]
async fn a_nul_or_control_character_in_a_filter_is_an_invalid_filter_naming_the_attribute() {
    let app = spawn_app().await;
    // In a filter value: raw, JSON-escaped, in a value path, and in a .search body.
    for (filter, attribute) in [
        ("userName eq \"a\u{0}b\"", "userName"),
        (r#"userName eq "a\u0000b""#, "userName"),
        (r#"externalId co "\u0001""#, "externalId"),
        (r#"displayName sw "x\u001f""#, "displayName"),
        (r#"emails[value eq "a\u0000@example.com"]"#, "value"),
        ("name.formatted ew \"\u{7}\"", "name.formatted"),
    ] {
        let (status, body) = list(&app, filter).await;
        assert_refused(status, &body, "invalidFilter", attribute);
    }
    let (status, body) = scim(
        &app,
        Method::POST,
        "/scim/v2/Users/.search",
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
               "filter": "userName eq \"x\u{0}\""}),
    )
    .await;
    assert_refused(status, &body, "invalidFilter", "userName");
}

#[tokio::test]
async fn a_nul_or_control_character_in_a_body_is_an_invalid_value_naming_the_attribute() {
    let app = spawn_app().await;
    // In a create body, wherever the attribute is kept.
    let good = json!({
        "userName": "nul@example.com",
        "displayName": "Nul",
        "name": {"formatted": "Nul Test", "givenName": "Nul", "familyName": "Test"},
        "emails": [{"value": "nul@example.com", "type": "work", "display": "Nul", "primary": true}],
        "externalId": "nul-1",
    });
    for (pointer, attribute) in [
        ("/userName", "userName"),
        ("/displayName", "displayName"),
        ("/name/formatted", "name.formatted"),
        ("/name/givenName", "name.givenName"),
        ("/name/familyName", "name.familyName"),
        ("/emails/0/value", "emails.value"),
        ("/emails/0/type", "emails.type"),
        ("/emails/0/display", "emails.display"),
        ("/externalId", "externalId"),
    ] {
        let mut body = good.clone();
        let slot = body.pointer_mut(pointer).unwrap();
        *slot = json!(format!("{}\u{0}x", slot.as_str().unwrap()));
        let (status, error) = scim(&app, Method::POST, "/scim/v2/Users", body).await;
        assert_refused(status, &error, "invalidValue", attribute);
    }
    let (status, created) = scim(&app, Method::POST, "/scim/v2/Users", good.clone()).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/scim/v2/Users/{}", created["id"].as_str().unwrap());

    // In a replace, and in PATCH values with and without a path.
    let mut replaced = good.clone();
    replaced["name"]["givenName"] = json!("Tab\there");
    let (status, error) = scim(&app, Method::PUT, &path, replaced).await;
    assert_refused(status, &error, "invalidValue", "name.givenName");
    for (operation, attribute) in [
        (
            json!({"op": "replace", "path": "displayName", "value": "a\u{0}"}),
            "displayName",
        ),
        (
            json!({"op": "replace", "value": {"name.familyName": "\u{1b}[31m"}}),
            "name.familyName",
        ),
        (
            json!({"op": "add", "path": "emails[type eq \"work\"].display", "value": "\u{0}"}),
            "emails.display",
        ),
        (
            json!({"op": "replace", "path": "externalId", "value": "x\u{0}"}),
            "externalId",
        ),
    ] {
        let (status, error) = scim(&app, Method::PATCH, &path, patch_op(json!([operation]))).await;
        assert_refused(status, &error, "invalidValue", attribute);
    }
    // Nothing was written by any of them.
    let (_, shown) = scim(&app, Method::GET, &path, Value::Null).await;
    assert_eq!(shown["meta"]["version"], "W/\"1\"", "{shown}");
}

#[tokio::test]
async fn a_filter_holds_at_most_fifty_comparisons() {
    let app = spawn_app().await;
    let terms = |n: usize| {
        (0..n)
            .map(|i| format!("userName co \"needle-{i}\""))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let (status, page) = list(&app, &terms(50)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 0);
    let (status, body) = list(&app, &terms(51)).await;
    assert_refused(status, &body, "invalidFilter", "50 comparisons");
    // `pr` and value paths count too.
    let mixed = format!("externalId pr and ({})", terms(50));
    let (status, body) = list(&app, &mixed).await;
    assert_refused(status, &body, "invalidFilter", "50 comparisons");
}

#[tokio::test]
async fn a_filter_of_150_terms_is_refused_without_touching_the_database() {
    let app = spawn_app_with(Options {
        env: vec![("DATABASE_MAX_CONNECTIONS", "4".into())],
        ..Options::default()
    })
    .await;
    // A first request authenticates the token (cached from then on).
    let (status, _) = list(&app, "userName pr").await;
    assert_eq!(status, 200);

    // Every connection of the pool is held here (those the service's own
    // listeners do not): a request that needs the database waits for one,
    // and gives up after the acquire timeout.
    let mut held = Vec::new();
    while let Ok(connection) =
        tokio::time::timeout(Duration::from_millis(500), app.db.acquire()).await
    {
        held.push(connection.unwrap());
    }
    assert!(!held.is_empty());
    let (status, body) = list(&app, "userName pr").await;
    assert_eq!(
        status, 503,
        "a request that needs the database waits: {body}"
    );
    let terms = (0..150)
        .map(|i| format!("userName co \"{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let started = Instant::now();
    let (status, body) = list(&app, &terms).await;
    let took = started.elapsed();
    drop(held);
    assert_refused(status, &body, "invalidFilter", "50 comparisons");
    assert!(
        took < Duration::from_secs(2),
        "the refusal waited for the database: {took:?}"
    );
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
    let created = send(&app, Method::POST, "/scim/v2/Users", &body).await;
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
    let patched = send(
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

#[tokio::test]
async fn a_client_reads_back_the_name_parts_and_email_it_wrote() {
    let app = spawn_app().await;
    let sent = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@example.com",
        "displayName": "Ada",
        "name": {"formatted": "Augusta Ada King", "givenName": "Augusta Ada", "familyName": "King"},
        "emails": [{"value": "ada@example.com", "type": "home", "display": "Ada at home", "primary": true}],
    });
    let (status, created) = scim(&app, Method::POST, "/scim/v2/Users", sent.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["displayName"], "Ada");
    assert_eq!(created["name"], sent["name"]);
    assert_eq!(created["emails"], sent["emails"]);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/scim/v2/Users/{id}");
    let (_, read) = scim(&app, Method::GET, &path, Value::Null).await;
    assert_eq!(read["displayName"], "Ada");
    assert_eq!(read["name"], sent["name"]);
    assert_eq!(read["emails"], sent["emails"]);
    // The service's one name is name.formatted.
    let (_, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(user["name"], "Augusta Ada King");

    // A PUT that changes only displayName returns the new displayName.
    let mut replaced = sent.clone();
    replaced["displayName"] = json!("Countess of Lovelace");
    let (status, put) = scim(&app, Method::PUT, &path, replaced).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["displayName"], "Countess of Lovelace");
    assert_eq!(put["name"], sent["name"]);
    assert_eq!(put["meta"]["version"], "W/\"2\"");

    // A PATCH that replaces emails reads back their type and display.
    let (status, patched) = scim(
        &app,
        Method::PATCH,
        &path,
        patch_op(json!([{"op": "replace", "path": "emails", "value": [
            {"value": "ada@lovelace.example", "type": "other", "display": "Ada's other mail"}]}])),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["userName"], "ada@lovelace.example");
    assert_eq!(
        patched["emails"],
        json!([{"value": "ada@lovelace.example", "type": "other", "display": "Ada's other mail", "primary": true}])
    );
    // Filters see what is read back.
    let (_, page) = list(
        &app,
        r#"emails[type eq "other"] and displayName eq "countess of lovelace""#,
    )
    .await;
    assert_eq!(page["totalResults"], 1, "{page}");
    let (_, page) = list(&app, r#"emails.type eq "work" and userName sw "ada""#).await;
    assert_eq!(page["totalResults"], 0, "{page}");

    // A change of the name outside SCIM is what SCIM shows from then on.
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Lady Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, after) = scim(&app, Method::GET, &path, Value::Null).await;
    assert_eq!(after["name"], json!({"formatted": "Lady Lovelace"}));
    assert_eq!(after["displayName"], "Lady Lovelace");
    assert_eq!(
        after["emails"][0]["type"], "other",
        "the email did not change"
    );
    assert_eq!(after["emails"][0]["display"], "Ada's other mail");
    // And a change of the email drops its display (it spelt the old address).
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"email": "lady@lovelace.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, after) = scim(&app, Method::GET, &path, Value::Null).await;
    assert_eq!(
        after["emails"],
        json!([{"value": "lady@lovelace.example", "type": "other", "primary": true}])
    );
    assert_eq!(after["displayName"], "Lady Lovelace");

    // The JSON API's user is what it was: nothing of SCIM's presentation.
    let (_, user) = app.get_json(&format!("/users/{id}")).await;
    let plain = app.create_user("Plain", "plain@example.com").await;
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&user), keys(&plain));
    assert!(!user.to_string().contains("Countess"), "{user}");
}

#[tokio::test]
async fn a_displayname_only_change_moves_the_version_and_is_audited_once() {
    let app = spawn_app().await;
    let (_, created) = scim(
        &app,
        Method::POST,
        "/scim/v2/Users",
        json!({"userName": "grace@example.com", "name": {"formatted": "Grace Hopper"}}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/scim/v2/Users/{id}");
    // Not sent: displayName reads as the name, the type as work.
    assert_eq!(created["displayName"], "Grace Hopper");
    assert_eq!(
        created["emails"],
        json!([{"value": "grace@example.com", "type": "work", "primary": true}])
    );
    let (status, patched) = scim(
        &app,
        Method::PATCH,
        &path,
        patch_op(json!([{"op": "add", "path": "displayName", "value": "Amazing Grace"}])),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["displayName"], "Amazing Grace");
    assert_eq!(patched["name"]["formatted"], "Grace Hopper");
    assert_eq!(patched["meta"]["version"], "W/\"2\"", "a new version");
    // The same patch again changes nothing.
    let (_, again) = scim(
        &app,
        Method::PATCH,
        &path,
        patch_op(json!([{"op": "add", "path": "displayName", "value": "Amazing Grace"}])),
    )
    .await;
    assert_eq!(again["meta"]["version"], "W/\"2\"");
    // Recorded like any change to the user, once: what SCIM reads back, not
    // the name and email it was written with (those have keys of their own).
    let events: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "select action, changes from audit_events \
         where subject_type = 'user' and subject_id = $1 order by id",
    )
    .bind(id.parse::<i64>().unwrap())
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "user.created");
    assert_eq!(events[1].0, "user.updated");
    assert_eq!(
        events[1].1,
        json!({"scim_profile": [{"formatted": "Grace Hopper"},
                                {"formatted": "Grace Hopper", "displayName": "Amazing Grace"}]}),
        "{events:?}"
    );
    // Erasure blanks them with the name and email.
    let response = app
        .api
        .delete(app.url(&format!("/users/{id}?purge=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let kept: Vec<String> = sqlx::query_scalar(
        "select changes::text from audit_events where subject_type = 'user' and subject_id = $1",
    )
    .bind(id.parse::<i64>().unwrap())
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(kept.iter().all(|c| !c.contains("Grace")), "{kept:?}");
}
