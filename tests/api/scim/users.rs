//! Users through SCIM: created, replaced and patched as Okta and Entra do it,
//! deactivated, refused values, and what a client reads back.

use super::*;

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
        let (status, error) = send(&app, Method::POST, "/scim/v2/Users", body).await;
        assert_refused(status, &error, "invalidValue", attribute);
    }
    let (status, created) = send(&app, Method::POST, "/scim/v2/Users", good.clone()).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/scim/v2/Users/{}", created["id"].as_str().unwrap());

    // In a replace, and in PATCH values with and without a path.
    let mut replaced = good.clone();
    replaced["name"]["givenName"] = json!("Tab\there");
    let (status, error) = send(&app, Method::PUT, &path, replaced).await;
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
        let (status, error) = send(&app, Method::PATCH, &path, patch_op(json!([operation]))).await;
        assert_refused(status, &error, "invalidValue", attribute);
    }
    // Nothing was written by any of them.
    let (_, shown) = send(&app, Method::GET, &path, Value::Null).await;
    assert_eq!(shown["meta"]["version"], "W/\"1\"", "{shown}");
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
    let (status, created) = send(&app, Method::POST, "/scim/v2/Users", sent.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["displayName"], "Ada");
    assert_eq!(created["name"], sent["name"]);
    assert_eq!(created["emails"], sent["emails"]);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/scim/v2/Users/{id}");
    let (_, read) = send(&app, Method::GET, &path, Value::Null).await;
    assert_eq!(read["displayName"], "Ada");
    assert_eq!(read["name"], sent["name"]);
    assert_eq!(read["emails"], sent["emails"]);
    // The service's one name is name.formatted.
    let (_, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(user["name"], "Augusta Ada King");

    // A PUT that changes only displayName returns the new displayName.
    let mut replaced = sent.clone();
    replaced["displayName"] = json!("Countess of Lovelace");
    let (status, put) = send(&app, Method::PUT, &path, replaced).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["displayName"], "Countess of Lovelace");
    assert_eq!(put["name"], sent["name"]);
    assert_eq!(put["meta"]["version"], "W/\"2\"");

    // A PATCH that replaces emails reads back their type and display.
    let (status, patched) = send(
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
    let (_, after) = send(&app, Method::GET, &path, Value::Null).await;
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
    let (_, after) = send(&app, Method::GET, &path, Value::Null).await;
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
    let (_, created) = send(
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
    let (status, patched) = send(
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
    let (_, again) = send(
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
