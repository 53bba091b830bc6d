//! SCIM 2.0 at `/scim/v2`: discovery, the Users resource with filters, paging,
//! sorting and attribute selection, PATCH as Okta and Microsoft Entra send it,
//! ETags, the SCIM error schema, and the same write path (audited as `scim`).

use reqwest::{Response, header};
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

#[tokio::test]
async fn discovery_describes_what_is_offered_and_groups_are_not() {
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
    assert_eq!(types["totalResults"], 1);
    assert_eq!(types["Resources"][0]["id"], "User");
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    let (status, body) = get(&app, "/scim/v2/ResourceTypes/Group").await;
    assert_scim_error(status, &body, 404, None);

    let (_, schemas) = get(&app, "/scim/v2/Schemas").await;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(!ids.iter().any(|id| id.contains("Group")));
    let (status, user_schema) = get(
        &app,
        "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(user_schema["attributes"][0]["name"], "userName");

    let (status, body) = get(&app, "/scim/v2/Groups").await;
    assert_scim_error(status, &body, 404, None);
}

#[tokio::test]
async fn without_a_bearer_token_every_endpoint_answers_401_in_scim_form() {
    let app = spawn_app().await;
    for path in [
        "/scim/v2/Users",
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/Users/1",
    ] {
        let response = app.anonymous.get(app.url(path)).send().await.unwrap();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let (status, body) = scim_of(response).await;
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
async fn a_user_created_through_scim_is_a_user_of_the_service() {
    let app = spawn_app().await;
    let mut body = user("Grace@Example.com", "Grace Hopper");
    body["externalId"] = json!("00u1abcd");
    let response = app
        .api
        .post(app.url("/scim/v2/Users"))
        .header(header::CONTENT_TYPE, MEDIA)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let etag = response.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, created) = scim_of(response).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["userName"], "Grace@Example.com");
    assert_eq!(created["name"]["formatted"], "Grace Hopper");
    assert_eq!(created["displayName"], "Grace Hopper");
    assert_eq!(
        created["emails"],
        json!([{"value": "Grace@Example.com", "type": "work", "primary": true}])
    );
    assert_eq!(created["active"], true);
    assert_eq!(created["externalId"], "00u1abcd");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], "W/\"1\"");
    assert_eq!(etag, "W/\"1\"");
    assert_eq!(location, format!("/scim/v2/Users/{id}"));
    assert_eq!(created["meta"]["location"], location);

    // The same user on the service's own API and list.
    let (_, list) = app.get_json("/users?q=grace").await;
    assert_eq!(list["data"][0]["id"].to_string(), id);
    assert_eq!(list["data"][0]["email"], "Grace@Example.com");
    assert_eq!(list["data"][0]["name"], "Grace Hopper");

    // Audited as SCIM, by the token.
    let via: String = sqlx::query_scalar(
        "select via from audit_events where action = 'user.created' and subject_id = $1",
    )
    .bind(id.parse::<i64>().unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(via, "scim");

    // userName is unique ignoring case; so is the external id.
    let (status, body) = create(&app, user("grace@EXAMPLE.com", "Another Grace")).await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    let mut other = user("someone@example.com", "Someone");
    other["externalId"] = json!("00u1abcd");
    let (status, body) = create(&app, other).await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));

    // A primary email that is not the userName is refused.
    let mut mismatched = user("alan@example.com", "Alan Turing");
    mismatched["emails"] = json!([{"value": "turing@example.com", "primary": true}]);
    let (status, body) = create(&app, mismatched).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));

    // A name from displayName, then from its parts.
    let (status, created) = create(
        &app,
        json!({"userName": "kj@example.com", "name": {"givenName": "Katherine", "familyName": "Johnson"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["displayName"], "Katherine Johnson");
    let (status, body) = create(&app, json!({"userName": "noname@example.com"})).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
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

#[tokio::test]
async fn filters_match_as_the_rfc_says() {
    let app = spawn_app().await;
    for (email, name, external) in [
        ("ada@example.com", "Ada Lovelace", Some("e-1")),
        ("bob@example.org", "Bob Kahn", Some("e-2")),
        ("carol@example.com", "Carol Shaw", None),
    ] {
        let mut body = user(email, name);
        if let Some(external) = external {
            body["externalId"] = json!(external);
        }
        assert_eq!(create(&app, body).await.0, 201);
    }
    let (_, carol) = get(
        &app,
        "/scim/v2/Users?filter=userName%20eq%20%22carol@example.com%22",
    )
    .await;
    let carol_id = carol["Resources"][0]["id"].as_str().unwrap().to_owned();
    patch(
        &app,
        &carol_id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;

    let admin = "admin@example.com".to_owned();
    assert_eq!(
        found(&app, r#"userName eq "ADA@example.COM""#).await,
        ["ada@example.com"]
    );
    assert_eq!(
        found(&app, r#"emails.value ew ".org""#).await,
        ["bob@example.org"]
    );
    assert_eq!(
        found(&app, r#"externalId eq "e-2""#).await,
        ["bob@example.org"]
    );
    assert!(
        found(&app, r#"externalId eq "E-2""#).await.is_empty(),
        "externalId is case-exact"
    );
    assert_eq!(
        found(&app, r#"externalId pr and name.formatted co "love""#).await,
        ["ada@example.com"]
    );
    assert_eq!(found(&app, "active eq false").await, ["carol@example.com"]);
    assert_eq!(
        found(&app, r#"not (active eq false) and displayName sw "b""#).await,
        ["bob@example.org"]
    );
    assert_eq!(
        found(
            &app,
            r#"userName eq "ada@example.com" or userName eq "bob@example.org""#
        )
        .await,
        ["ada@example.com", "bob@example.org"]
    );
    assert_eq!(
        found(&app, r#"emails[type eq "work" and value co "carol"]"#).await,
        ["carol@example.com"]
    );
    assert_eq!(
        found(&app, r#"externalId ne "e-1""#).await,
        [
            admin.clone(),
            "bob@example.org".into(),
            "carol@example.com".into()
        ]
    );
    assert_eq!(
        found(&app, "meta.created gt \"2000-01-01T00:00:00Z\"")
            .await
            .len(),
        4
    );
    assert!(
        found(&app, "meta.lastModified lt \"2000-01-01T00:00:00Z\"")
            .await
            .is_empty()
    );
    assert_eq!(
        found(&app, &format!("id eq \"{carol_id}\"")).await,
        ["carol@example.com"]
    );
    assert!(found(&app, r#"id eq "not-a-number""#).await.is_empty());
}

#[tokio::test]
async fn hostile_filters_are_refused_or_matched_literally() {
    let app = spawn_app().await;
    assert_eq!(
        create(&app, user("100%_sure@example.com", "Percent"))
            .await
            .0,
        201
    );
    assert_eq!(
        create(&app, user("slash@example.com", "Back\\slash"))
            .await
            .0,
        201
    );
    let before = app.user_count().await;

    // Quotes, wildcards and backslashes match only themselves.
    assert_eq!(
        found(&app, r#"userName co "%""#).await,
        ["100%_sure@example.com"]
    );
    assert_eq!(
        found(&app, r#"userName sw "100%_""#).await,
        ["100%_sure@example.com"]
    );
    assert!(found(&app, r#"userName co "_x""#).await.is_empty());
    assert_eq!(
        found(&app, r#"displayName co "\\""#).await,
        ["slash@example.com"]
    );
    assert!(
        found(&app, r#"userName eq "x' or '1'='1""#)
            .await
            .is_empty()
    );
    assert!(
        found(&app, r#"userName eq "\"; drop table users; --""#)
            .await
            .is_empty()
    );

    // Malformed, unknown or nested too deep: 400 invalidFilter, never a 500.
    let deep = format!("{}userName pr{}", "(".repeat(1000), ")".repeat(1000));
    let nots = format!("{}userName pr{}", "not (".repeat(100), ")".repeat(100));
    for filter in [
        r#"userName eq "x' or 1=1 --"#,
        "userName eq x' or 1=1 --",
        r#"userName eq "a") or (1=1"#,
        "userName; drop table users",
        r#"password eq "x""#,
        r#"name.givenName eq "x""#,
        r#"active eq "true""#,
        r#"userName eq "\q""#,
        "((((",
        deep.as_str(),
        nots.as_str(),
    ] {
        let response = app
            .api
            .get(app.url(&format!("/scim/v2/Users?filter={}", encoded(filter))))
            .send()
            .await
            .unwrap();
        let (status, body) = scim_of(response).await;
        assert_scim_error(status, &body, 400, Some("invalidFilter"));
    }
    assert_eq!(app.user_count().await, before, "nothing was changed");
}

#[tokio::test]
async fn paging_sorting_and_attribute_selection() {
    let app = spawn_app().await;
    for n in 1..=5 {
        let email = format!("user{n}@example.com");
        assert_eq!(
            create(&app, user(&email, &format!("User {n}"))).await.0,
            201
        );
    }
    let (status, page) = get(
        &app,
        "/scim/v2/Users?filter=userName%20sw%20%22user%22&startIndex=2&count=2&sortBy=name.formatted&sortOrder=descending",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["User 4", "User 3"]);

    let (_, page) = get(&app, "/scim/v2/Users?count=0").await;
    assert_eq!(page["totalResults"], 6);
    assert_eq!(page["Resources"], json!([]));

    let (_, page) = get(
        &app,
        "/scim/v2/Users?attributes=userName,emails.value&count=1",
    )
    .await;
    let only = &page["Resources"][0];
    let mut keys: Vec<&str> = only
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["emails", "id", "schemas", "userName"]);
    assert_eq!(only["emails"][0].as_object().unwrap().len(), 1);

    let (_, page) = get(
        &app,
        "/scim/v2/Users?excludedAttributes=meta,emails&count=1",
    )
    .await;
    let only = &page["Resources"][0];
    assert!(only.get("meta").is_none() && only.get("emails").is_none());
    assert!(only.get("userName").is_some());

    // POST /Users/.search takes the same in a body.
    let (status, page) = send(
        &app,
        reqwest::Method::POST,
        "/scim/v2/Users/.search",
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
               "filter": "userName eq \"user5@example.com\"", "attributes": ["displayName"]}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 1);
    assert_eq!(page["Resources"][0]["displayName"], "User 5");
    assert!(page["Resources"][0].get("userName").is_none());

    for bad in [
        "sortBy=password",
        "sortOrder=sideways",
        "count=many",
        "startIndex=x",
    ] {
        let (status, body) = get(&app, &format!("/scim/v2/Users?{bad}")).await;
        assert_scim_error(status, &body, 400, Some("invalidValue"));
    }
}

#[tokio::test]
async fn entra_patches_with_capitalised_ops_string_booleans_and_value_paths() {
    let app = spawn_app().await;
    let (_, created) = create(&app, user("ada@example.com", "Ada Lovelace")).await;
    let id = created["id"].as_str().unwrap().to_owned();

    // As Microsoft Entra sends them.
    let (status, patched) = patch(
        &app,
        &id,
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@lovelace.example"},
            {"op": "Replace", "path": "name.givenName", "value": "Augusta Ada"},
            {"op": "Replace", "path": "name.familyName", "value": "King"},
            {"op": "Add", "path": "externalId", "value": "entra-0001"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Analytical Engines"}
        ]),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["userName"], "ada@lovelace.example",
        "the email is the userName"
    );
    assert_eq!(patched["emails"][0]["value"], "ada@lovelace.example");
    // The parts read back as sent; the name stays the name.formatted the
    // provider wrote (it did not change it).
    assert_eq!(patched["name"]["givenName"], "Augusta Ada");
    assert_eq!(patched["name"]["familyName"], "King");
    assert_eq!(patched["name"]["formatted"], "Ada Lovelace");
    assert_eq!(patched["displayName"], "Ada Lovelace");
    assert_eq!(patched["externalId"], "entra-0001");
    assert_eq!(patched["meta"]["version"], "W/\"2\"", "one write");

    let (status, patched) = patch(
        &app,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["active"], false);
    let (_, shown) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(shown["status"], "disabled");
    assert!(
        shown["disabled_reason"].as_str().unwrap().contains("SCIM"),
        "{shown}"
    );

    // A patch that changes nothing writes nothing.
    let (status, same) = patch(
        &app,
        &id,
        json!([{"op": "replace", "value": {"active": "false"}}]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(same["meta"]["version"], patched["meta"]["version"]);

    // A path filter that matches no email, and read-only attributes.
    let (status, body) = patch(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@example.com"}]),
    )
    .await;
    assert_scim_error(status, &body, 400, Some("noTarget"));
    let (status, body) = patch(
        &app,
        &id,
        json!([{"op": "replace", "path": "id", "value": "1"}]),
    )
    .await;
    assert_scim_error(status, &body, 400, Some("mutability"));
    let (status, body) = patch(&app, &id, json!([{"op": "remove", "path": "userName"}])).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    let (status, body) = patch(&app, &id, json!([{"op": "jump", "path": "active"}])).await;
    assert_scim_error(status, &body, 400, Some("invalidSyntax"));

    // Every change went through the write path, audited as SCIM.
    let actions: Vec<(String, String)> =
        sqlx::query_as("select action, via from audit_events where subject_id = $1 order by id")
            .bind(id.parse::<i64>().unwrap())
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            ("user.created".to_owned(), "scim".to_owned()),
            ("user.updated".to_owned(), "scim".to_owned()),
            ("user.disabled".to_owned(), "scim".to_owned()),
        ]
    );
}

#[tokio::test]
async fn okta_deactivates_with_put_and_if_match_guards_writes() {
    let app = spawn_app().await;
    let mut body = user("okta@example.com", "Okta User");
    body["externalId"] = json!("00u-okta");
    let (_, created) = create(&app, body.clone()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/scim/v2/Users/{id}");

    // Okta sends the whole user with active false.
    body["active"] = json!(false);
    let (status, replaced) = send(&app, reqwest::Method::PUT, &path, body.clone()).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["active"], false);
    assert_eq!(replaced["externalId"], "00u-okta");

    // If-Match: a stale version is refused with 412 and changes nothing.
    let stale = app
        .api
        .patch(app.url(&path))
        .header(header::CONTENT_TYPE, MEDIA)
        .header(header::IF_MATCH, "W/\"1\"")
        .body(
            json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Changed"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let (status, error) = scim_of(stale).await;
    assert_scim_error(status, &error, 412, None);
    let current = replaced["meta"]["version"].as_str().unwrap();
    let fresh = app
        .api
        .patch(app.url(&path))
        .header(header::CONTENT_TYPE, MEDIA)
        // Accepted with or without W/.
        .header(header::IF_MATCH, current.trim_start_matches("W/"))
        .body(
            json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Changed"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let new_etag = fresh.headers()[header::ETAG].to_str().unwrap().to_owned();
    let (status, patched) = scim_of(fresh).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["displayName"], "Changed");
    assert_eq!(
        patched["name"]["formatted"], "Okta User",
        "the name is name.formatted"
    );
    assert_eq!(new_etag, patched["meta"]["version"].as_str().unwrap());

    // A GET with the current ETag is not modified.
    let response = app
        .api
        .get(app.url(&path))
        .header(header::IF_NONE_MATCH, new_etag.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);

    // PUT without active leaves the status as it is; externalId left out is cleared.
    let (status, replaced) = send(
        &app,
        reqwest::Method::PUT,
        &path,
        json!({"userName": "okta@example.com", "displayName": "Okta User"}),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["active"], false);
    assert!(replaced.get("externalId").is_none());

    // DELETE: 204, then the user is gone (soft-deleted, restorable by an admin).
    let response = app
        .api
        .delete(app.url(&path))
        .header(header::IF_MATCH, "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 412);
    let response = app.api.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let (status, body) = get(&app, &path).await;
    assert_scim_error(status, &body, 404, None);
    let response = app.api.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let (status, body) = get(&app, "/scim/v2/Users/abc").await;
    assert_scim_error(status, &body, 404, None);
}

#[tokio::test]
async fn an_admin_disabled_through_scim_cannot_log_in_and_the_last_admin_stays() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": "Second", "email": "second@example.com", "is_admin": true, "password": "second password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].to_string();
    assert_redirects_to(
        &app.log_in(&browser(), "second@example.com", "second password")
            .await,
        "/users",
    );

    let (status, patched) = patch(
        &app,
        &id,
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    let response = app
        .log_in(&browser(), "second@example.com", "second password")
        .await;
    assert_eq!(response.status(), 401, "a disabled admin cannot log in");

    // The last active admin cannot be deactivated through SCIM either.
    let (status, body) = patch(
        &app,
        &app.admin_id.to_string(),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_scim_error(status, &body, 409, None);
    let (_, admin) = app.get_json(&format!("/users/{}", app.admin_id)).await;
    assert_eq!(admin["status"], "active");
}

/// A small, seeded generator: the same cases on every run.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

#[tokio::test]
async fn random_filters_and_patches_never_fail_the_server() {
    let app = spawn_app().await;
    let (_, created) = create(&app, user("target@example.com", "Target")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let pieces = [
        "userName",
        "emails",
        "emails.value",
        "externalId",
        "active",
        "meta.created",
        "id",
        "name.formatted",
        "displayName",
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "pr",
        "gt",
        "le",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        "\"x\"",
        "\"%\"",
        "\"\\\\\"",
        "\"'\"",
        "true",
        "false",
        "null",
        "42",
        "\"2024-01-01T00:00:00Z\"",
        "\"",
        "\\",
        "type",
        "value",
        "primary",
        ".",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        "\u{0}",
        "é",
        "😀",
    ];
    let mut cases = Cases(0x5c1a_2026);
    for _ in 0..300 {
        let length = 1 + cases.next() % 9;
        let filter: Vec<&str> = (0..length).map(|_| cases.pick(&pieces)).collect();
        let filter = filter.join(" ");
        let response = app
            .api
            .get(app.url(&format!("/scim/v2/Users?filter={}", encoded(&filter))))
            .send()
            .await
            .unwrap();
        let (status, body) = scim_of(response).await;
        assert!(
            status == 200 || status == 400,
            "{filter:?}: {status} {body}"
        );
        if status == 400 {
            assert_eq!(body["scimType"], "invalidFilter", "{filter:?}: {body}");
        }
    }
    let ops = ["add", "Replace", "remove", "move", ""];
    let paths = [
        "userName",
        "active",
        "emails[type eq \"work\"].value",
        "emails[",
        "name.givenName",
        "name",
        "externalId",
        "id",
        "meta.version",
        "phoneNumbers",
        "emails]",
        "",
    ];
    let values = [
        json!("x"),
        json!(""),
        json!(null),
        json!(true),
        json!("False"),
        json!(7),
        json!({"formatted": "F"}),
        json!([{"value": "v@example.com", "primary": true}]),
        json!(["a", 1]),
        json!({"active": "maybe"}),
        json!("new@example.com"),
    ];
    for _ in 0..200 {
        let operation = json!({
            "op": cases.pick(&ops),
            "path": cases.pick(&paths),
            "value": values[(cases.next() % values.len() as u64) as usize].clone(),
        });
        let (status, body) = patch(&app, &id, json!([operation])).await;
        assert!(
            status == 200 || status == 400 || status == 409,
            "{operation}: {status} {body}"
        );
    }
    let (status, _) = get(&app, &format!("/scim/v2/Users/{id}")).await;
    assert_eq!(status, 200, "the user is still there");
}
