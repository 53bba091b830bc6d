//! `/roles` (SPEC §14): custom roles made, read, changed and deleted through the
//! JSON API and the pages; what their holders may do from their next request;
//! and nobody giving a role more than they hold.

use reqwest::{Client, header};
use serde_json::{Value, json};
use useradmin::domain::{PermissionSet, RoleName, TokenLabel};
use useradmin::write::{Actor, TokenGrant};

use crate::helpers::*;

/// `POST /roles` through the admin's token; status and body.
async fn create_role(app: &TestApp, name: &str, permissions: &[&str]) -> (u16, Value) {
    post_json(
        app,
        "/roles",
        json!({ "name": name, "description": "for tests", "permissions": permissions }),
    )
    .await
}

/// Sends `request`; status and JSON body.
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    json_of(request.send().await.unwrap()).await
}

/// A user with a password who holds `role` directly (granted through the
/// write path, as the CLI's `grant` does); its id.
async fn user_with_role(app: &TestApp, email: &str, role: &str) -> i64 {
    let (status, user) = post_json(
        app,
        "/users",
        json!({ "name": email, "email": email, "password": "a password for tests" }),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_i64().unwrap();
    let granted = app
        .state
        .writer
        .grant_role(&Actor::cli("tests"), id, &RoleName::parse(role).unwrap())
        .await
        .unwrap();
    assert!(granted);
    id
}

/// A token of `owner`'s limited to `scopes` (at most what the owner holds).
async fn token_with_scopes(app: &TestApp, owner: i64, scopes: &[&str]) -> String {
    let grant = TokenGrant {
        scopes: PermissionSet::parse_all(scopes).unwrap(),
        lifetime_days: None,
    };
    app.state
        .writer
        .create_scoped_token(
            &Actor::cli("tests"),
            &TokenLabel::parse("roles tests").unwrap(),
            owner,
            &grant,
        )
        .await
        .unwrap()
        .token
}

/// A client that sends `token` and asks for JSON.
fn client_of(token: &str) -> Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn status_of(client: &Client, url: String) -> u16 {
    client.get(url).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn roles_are_created_listed_read_changed_and_deleted() {
    let app = spawn_app().await;
    let roles = list_page(&app, "/roles").await;
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "helpdesk", "viewer"]);
    assert_eq!(roles[0]["builtin"], true);
    assert_eq!(roles[0]["permissions"].as_array().unwrap().len(), 11);
    assert_eq!(roles[2]["permissions"], json!(["audit.read", "users.read"]));

    let response = app
        .api
        .post(app.url("/roles"))
        .json(
            &json!({ "name": " Auditors ", "description": "read the trail",
                        "permissions": ["users.read", "audit.read", "users.read"] }),
        )
        .send()
        .await
        .unwrap();
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, created) = json_of(response).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/roles/{id}"));
    assert_eq!(created["name"], "Auditors");
    assert_eq!(created["builtin"], false);
    assert_eq!(created["permissions"], json!(["audit.read", "users.read"]));
    assert_eq!(created["user_count"], 0);

    let (status, read) = app.get_json(&location).await;
    assert_eq!(
        (status, &read["description"]),
        (200, &json!("read the trail"))
    );
    let listed = list_page(&app, "/roles").await;
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert_eq!(listed[3]["name"], "Auditors");

    // A partial change keeps what it does not name.
    let (status, changed) = send(
        app.api
            .patch(app.url(&location))
            .json(&json!({ "description": "reads the audit trail" })),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["description"], "reads the audit trail");
    assert_eq!(changed["name"], "Auditors");
    assert_eq!(changed["permissions"], json!(["audit.read", "users.read"]));

    // Taken names, in any case, and another role renamed onto one.
    for name in ["AUDITORS", "auditors", "Helpdesk"] {
        let (status, body) = create_role(&app, name, &["users.read"]).await;
        assert_eq!(status, 409, "{name}: {body}");
        assert!(body["fields"]["name"].is_array(), "{body}");
    }
    let (_, other) = create_role(&app, "Support", &[]).await;
    assert_eq!(other["permissions"], json!([]));
    let (status, body) = send(
        app.api
            .patch(app.url(&format!("/roles/{}", other["id"])))
            .json(&json!({ "name": "auditors" })),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // The built-in roles stay as they are.
    let admin_role = roles[0]["id"].as_i64().unwrap();
    let (status, body) = send(
        app.api
            .patch(app.url(&format!("/roles/{admin_role}")))
            .json(&json!({ "description": "changed" })),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = send(app.api.delete(app.url(&format!("/roles/{admin_role}")))).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("built-in"),
        "{body}"
    );

    let response = app.api.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_get_refused(&app, &location, 404).await;
    assert_eq!(list_page(&app, "/roles").await.as_array().unwrap().len(), 4);
    let created = audit_events(&app, "action=role.created").await;
    assert_eq!(created.len(), 2);
    assert_eq!(audit_events(&app, "action=role.deleted").await.len(), 1);
}

#[tokio::test]
async fn bad_roles_are_refused_with_field_errors() {
    let app = spawn_app().await;
    let (status, body) = create_role(&app, "Readers", &["users.read", "users.everything"]).await;
    assert_eq!(status, 422, "{body}");
    let message = body["fields"]["permissions"][0].as_str().unwrap();
    assert!(message.contains("users.everything"), "{message}");
    for name in ["", "   ", &"x".repeat(101), "tab\there"] {
        let (status, body) = create_role(&app, name, &["users.read"]).await;
        assert_eq!(status, 422, "{name:?}: {body}");
        assert!(body["fields"]["name"].is_array(), "{body}");
    }
    let (status, body) = post_json(&app, "/roles", json!({ "permissions": ["users.read"] })).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post_json(&app, "/roles", json!({ "name": "x", "colour": "red" })).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post_json(
        &app,
        "/roles",
        json!({ "name": "x", "permissions": "users.read" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(list_page(&app, "/roles").await.as_array().unwrap().len(), 3);

    for path in [
        "/roles/abc",
        "/roles/0",
        "/roles/-1",
        "/roles/999999",
        "/roles/1.5",
    ] {
        assert_get_refused(&app, path, 404).await;
        let response = app.api.delete(app.url(path)).send().await.unwrap();
        assert_error(response, 404).await;
        let response = app
            .api
            .patch(app.url(path))
            .json(&json!({ "description": "x" }))
            .send()
            .await
            .unwrap();
        assert_error(response, 404).await;
    }
    let (_, role) = create_role(&app, "Readers", &["users.read"]).await;
    let response = app
        .api
        .delete(app.url(&format!("/roles/{}?force=maybe", role["id"])))
        .send()
        .await
        .unwrap();
    assert_error(response, 400).await;
}

/// A holder of a custom role may do exactly what it allows, and a change of
/// the role changes that from the holder's next request.
#[tokio::test]
async fn a_role_change_reaches_its_holders_next_request() {
    let app = spawn_app().await;
    let (status, role) = create_role(&app, "Auditors", &["users.read", "audit.read"]).await;
    assert_eq!(status, 201);
    let role_path = format!("/roles/{}", role["id"]);
    let id = user_with_role(&app, "auditor@example.com", "auditors").await;
    let (_, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(user["roles"], json!(["Auditors"]));
    assert_eq!(user["permissions"], json!(["audit.read", "users.read"]));
    assert_eq!(user["is_admin"], false);
    assert_eq!(list_page(&app, &role_path).await["user_count"], 1);

    let auditor = client_of(&token_with_scopes(&app, id, &["users.read", "audit.read"]).await);
    assert_eq!(status_of(&auditor, app.url("/audit")).await, 200);
    assert_eq!(status_of(&auditor, app.url("/users")).await, 200);
    assert_eq!(status_of(&auditor, app.url("/tokens")).await, 403);

    let patch = |permissions: Value| {
        app.api
            .patch(app.url(&role_path))
            .json(&json!({ "permissions": permissions }))
            .send()
    };
    assert_eq!(patch(json!(["users.read"])).await.unwrap().status(), 200);
    let response = auditor.get(app.url("/audit")).send().await.unwrap();
    let body = assert_error(response, 403).await;
    assert_eq!(body["permission"], "audit.read");
    assert_eq!(status_of(&auditor, app.url("/users")).await, 200);
    let (_, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(user["permissions"], json!(["users.read"]));

    assert_eq!(
        patch(json!(["users.read", "audit.read"]))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(status_of(&auditor, app.url("/audit")).await, 200);
    let updated = audit_events(&app, "action=role.updated").await;
    assert_eq!(updated.len(), 2, "{updated:?}");
}

#[tokio::test]
async fn a_granted_role_is_deleted_only_with_force_which_takes_it_from_its_holders() {
    let app = spawn_app().await;
    let (_, role) = create_role(&app, "Readers", &["users.read"]).await;
    let role_path = format!("/roles/{}", role["id"]);
    let id = user_with_role(&app, "reader@example.com", "Readers").await;

    let response = app.api.delete(app.url(&role_path)).send().await.unwrap();
    let body = assert_error(response, 409).await;
    assert!(body["error"].as_str().unwrap().contains("force"), "{body}");
    let (_, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(user["roles"], json!(["Readers"]));

    let response = app
        .api
        .delete(app.url(&format!("{role_path}?force=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_get_refused(&app, &role_path, 404).await;
    let (_, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["permissions"], json!([]));

    let changed = audit_events(
        &app,
        &format!("action=user.roles_changed&subject=user:{id}"),
    )
    .await;
    // Granted, then taken by the deletion.
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(changed[0]["changes"]["roles"], json!([["Readers"], []]));
    let deleted = audit_events(&app, "action=role.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["subject"]["label"], "Readers");
}

/// An actor who may manage roles cannot make one with more than it holds;
/// nothing is created.
#[tokio::test]
async fn no_one_gives_a_role_a_permission_they_do_not_hold() {
    let app = spawn_app().await;
    create_role(&app, "Role managers", &["roles.manage", "users.read"]).await;
    let id = user_with_role(&app, "manager@example.com", "role managers").await;
    let manager = client_of(&token_with_scopes(&app, id, &["roles.manage", "users.read"]).await);

    let response = manager
        .post(app.url("/roles"))
        .json(&json!({ "name": "Purgers", "permissions": ["users.read", "users.purge"] }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({ "error": "forbidden", "permission": "users.purge" })
    );
    let names: Vec<Value> = list_page(&app, "/roles")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert!(!names.contains(&json!("Purgers")), "{names:?}");

    // Within what it holds, it may.
    let response = manager
        .post(app.url("/roles"))
        .json(&json!({ "name": "Readers", "permissions": ["users.read"] }))
        .send()
        .await
        .unwrap();
    let (status, readers) = json_of(response).await;
    assert_eq!(status, 201, "{readers}");
    let readers_path = app.url(&format!("/roles/{}", readers["id"]));
    let response = manager
        .patch(&readers_path)
        .json(&json!({ "permissions": ["users.read", "audit.read"] }))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 403).await;
    assert_eq!(body["permission"], "audit.read");
    let (_, unchanged) = app.get_json(&format!("/roles/{}", readers["id"])).await;
    assert_eq!(unchanged["permissions"], json!(["users.read"]));
    let response = manager.delete(&readers_path).send().await.unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn a_viewer_reads_the_roles_but_cannot_change_them() {
    let app = spawn_app().await;
    let id = user_with_role(&app, "viewer@example.com", "viewer").await;
    let viewer = client_of(&token_with_scopes(&app, id, &["users.read", "audit.read"]).await);
    let response = viewer.get(app.url("/roles")).send().await.unwrap();
    let (status, roles) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(roles.as_array().unwrap().len(), 3);
    let helpdesk = roles[1]["id"].as_i64().unwrap();
    assert_eq!(
        status_of(&viewer, app.url(&format!("/roles/{helpdesk}"))).await,
        200
    );

    let response = viewer
        .post(app.url("/roles"))
        .json(&json!({ "name": "Mine", "permissions": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_scope\""
    );
    let body = assert_error(response, 403).await;
    assert_eq!(body["permission"], "roles.manage");
    let response = viewer
        .delete(app.url(&format!("/roles/{helpdesk}")))
        .send()
        .await
        .unwrap();
    assert_error(response, 403).await;
    assert_eq!(list_page(&app, "/roles").await.as_array().unwrap().len(), 3);
}

/// The pages: the table and the new role's form to an admin; a refused form
/// shown again; created, edited and deleted through the forms (303 + flash);
/// a viewer sees the table without the form or any control.
#[tokio::test]
async fn the_roles_pages_create_edit_and_delete_and_show_a_viewer_no_controls() {
    let app = spawn_app().await;
    let admin = browser();
    app.log_in_as_admin(&admin).await;
    let page = app.page(&admin, "/roles", 200).await;
    assert!(
        page.contains("<h2 id=\"new-role-title\">New role</h2>"),
        "{page}"
    );
    assert_eq!(page.matches("<th scope=\"row\"").count(), 3);
    assert_eq!(page.matches("built in").count(), 3);
    let csrf = csrf_in(&page);

    let form = |name: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", name.to_owned()),
            ("description", "Looks at things".to_owned()),
            ("permissions", String::new()),
            ("permissions", "users.read".to_owned()),
            ("permissions", "audit.read".to_owned()),
        ]
    };
    let response = admin
        .post(app.url("/roles"))
        .form(&form("VIEWER"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let again = response.text().await.unwrap();
    assert!(again.contains("There is a problem"), "{again}");
    assert!(
        again.contains("value=\"VIEWER\""),
        "the form keeps its input"
    );

    let response = admin
        .post(app.url("/roles"))
        .form(&form("Lookers"))
        .send()
        .await
        .unwrap();
    let location = assert_redirect(&response);
    assert!(location.starts_with("/roles/"), "{location}");
    let shown = app.page(&admin, &location, 200).await;
    assert!(shown.contains("Role Lookers created."), "{shown}");
    assert!(shown.contains("Edit role"), "{shown}");

    let mut edit = form("Lookers");
    edit.retain(|(k, v)| !(*k == "permissions" && v == "audit.read"));
    let response = admin
        .post(app.url(&format!("{location}/update")))
        .form(&edit)
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, &location);
    let (_, role) = app.get_json(&location).await;
    assert_eq!(role["permissions"], json!(["users.read"]));

    let id = user_with_role(&app, "viewer@example.com", "viewer").await;
    let viewer = browser();
    let response = app
        .log_in(&viewer, "viewer@example.com", "a password for tests")
        .await;
    assert_redirects_to(&response, "/users");
    let page = app.page(&viewer, "/roles", 200).await;
    assert!(page.contains("Lookers"), "{page}");
    assert!(!page.contains("New role"), "{page}");
    assert!(!page.contains("/delete"), "{page}");
    let shown = app.page(&viewer, &location, 200).await;
    assert!(
        !shown.contains("Edit role") && !shown.contains("Delete role"),
        "{shown}"
    );
    let response = viewer
        .post(app.url("/roles"))
        .form(&[("csrf_token", csrf_in(&page)), ("name", "Mine".to_owned())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Granted: the page offers to take it from its holders; without that the
    // delete is refused and the page says why.
    let lookers = RoleName::parse("Lookers").unwrap();
    let actor = Actor::cli("tests");
    assert!(
        app.state
            .writer
            .grant_role(&actor, id, &lookers)
            .await
            .unwrap()
    );
    let shown = app.page(&admin, &location, 200).await;
    let forced = format!("action=\"{location}/delete?force=true\"");
    assert!(shown.contains(&forced), "{shown}");
    assert!(shown.contains("granted to 1 user and 0 groups"), "{shown}");
    let response = admin
        .post(app.url(&format!("{location}/delete")))
        .form(&[("csrf_token", csrf.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let refused = response.text().await.unwrap();
    assert!(
        refused.contains("There is a problem") && refused.contains("force"),
        "{refused}"
    );
    let response = admin
        .post(app.url(&format!("{location}/delete?force=true")))
        .form(&[("csrf_token", csrf.clone())])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/roles");
    let page = app.page(&admin, "/roles", 200).await;
    assert!(page.contains("Role Lookers deleted."), "{page}");
    assert!(!page.contains(">Lookers<"), "{page}");
}

/// On the page, a permission the editor does not hold is refused on the form
/// (403), which keeps its input; nothing is created.
#[tokio::test]
async fn the_new_role_form_refuses_a_permission_its_user_does_not_hold() {
    let app = spawn_app().await;
    create_role(&app, "Role managers", &["roles.manage", "users.read"]).await;
    user_with_role(&app, "manager@example.com", "Role managers").await;
    let manager = browser();
    let response = app
        .log_in(&manager, "manager@example.com", "a password for tests")
        .await;
    assert_redirects_to(&response, "/users");
    let page = app.page(&manager, "/roles", 200).await;
    assert!(
        page.contains("only permissions you hold yourself"),
        "{page}"
    );
    let response = manager
        .post(app.url("/roles"))
        .form(&[
            ("csrf_token", csrf_in(&page)),
            ("name", "Purgers".to_owned()),
            ("permissions", String::new()),
            ("permissions", "users.purge".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let refused = response.text().await.unwrap();
    assert!(
        refused.contains("users.purge, which you do not hold"),
        "{refused}"
    );
    assert!(refused.contains("value=\"Purgers\""), "{refused}");
    assert_eq!(list_page(&app, "/roles").await.as_array().unwrap().len(), 4);
}
