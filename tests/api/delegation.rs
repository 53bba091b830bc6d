//! Delegated administration (SPEC §14) on users: roles in `POST`/`PATCH
//! /users`, what each permission allows and refuses, no escalation, the last
//! admin, the group and role filters, and the pages' 403.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use useradmin::domain::{
    GroupFields, GroupName, Permission, PermissionSet, RoleFields, RoleName, TokenLabel,
};
use useradmin::write::{Actor, MemberChanges, TokenGrant};

use crate::helpers::{
    ADMIN_EMAIL, TestApp, assert_error, browser, emails_of, json_of, list_page, spawn_app,
};

/// The password every user made here logs in with.
pub const PASSWORD: &str = "delegated password";

/// A user made by the admin with a password, then given `roles` through
/// `PATCH`; its id.
pub async fn user_with_roles(app: &TestApp, name: &str, email: &str, roles: &[&str]) -> i64 {
    let (status, user) = json_of(
        app.api
            .post(app.url("/users"))
            .json(&json!({"name": name, "email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_i64().unwrap();
    let (status, user) = patch(app, &app.token, id, json!({ "roles": roles })).await;
    assert_eq!(status, 200, "{user}");
    id
}

/// A token of `owner`'s for every permission it holds (`TestApp::token_for`
/// asks for every permission, which no one but an admin may grant).
async fn token_of(app: &TestApp, owner: i64, label: &str) -> String {
    let permissions: Vec<String> =
        serde_json::from_value(user(app, owner).await["permissions"].clone()).unwrap();
    let grant = TokenGrant {
        scopes: PermissionSet::parse_known(&permissions),
        lifetime_days: None,
    };
    app.state
        .writer
        .create_scoped_token(
            &Actor::cli("tests"),
            &TokenLabel::parse(label).unwrap(),
            owner,
            &grant,
        )
        .await
        .expect("a token is created")
        .token
}

/// A request with `token`.
fn as_token(app: &TestApp, token: &str, method: Method, path: &str) -> RequestBuilder {
    app.anonymous
        .request(method, app.url(path))
        .bearer_auth(token)
}

async fn patch(app: &TestApp, token: &str, id: i64, body: Value) -> (u16, Value) {
    json_of(
        as_token(app, token, Method::PATCH, &format!("/users/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Asserts a 403 naming `permission`.
async fn assert_refused(response: Response, permission: &str) {
    let body = assert_error(response, 403).await;
    assert_eq!(
        body,
        json!({"error": "forbidden", "permission": permission}),
        "expected {permission}"
    );
}

async fn user(app: &TestApp, id: i64) -> Value {
    let (status, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(status, 200, "{user}");
    user
}

#[tokio::test]
async fn helpdesk_looks_after_users_but_cannot_purge_or_grant() {
    let app = spawn_app().await;
    let helpdesk = user_with_roles(&app, "Help Desk", "help@example.com", &["helpdesk"]).await;
    let token = token_of(&app, helpdesk, "helpdesk").await;

    let (status, created) = json_of(
        as_token(&app, &token, Method::POST, "/users")
            .json(&json!({"name": "Carol", "email": "carol@example.com", "password": "first password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let carol = created["id"].as_i64().unwrap();
    let (status, edited) = patch(&app, &token, carol, json!({"name": "Carol B"})).await;
    assert_eq!((status, edited["name"].as_str()), (200, Some("Carol B")));
    // Another user's password: credentials.reset, which helpdesk holds.
    let (status, _) = patch(&app, &token, carol, json!({"password": "second password"})).await;
    assert_eq!(status, 200);
    let disabled = as_token(
        &app,
        &token,
        Method::POST,
        &format!("/users/{carol}/disable"),
    )
    .json(&json!({"reason": "left"}))
    .send()
    .await
    .unwrap();
    assert_eq!(disabled.status(), 200);
    let reset = as_token(
        &app,
        &token,
        Method::POST,
        &format!("/users/{carol}/2fa/reset"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(reset.status(), 200);

    let purge = as_token(
        &app,
        &token,
        Method::DELETE,
        &format!("/users/{carol}?purge=true"),
    )
    .send()
    .await
    .unwrap();
    assert_refused(purge, "users.purge").await;
    for body in [json!({"roles": ["viewer"]}), json!({"is_admin": true})] {
        let refused = as_token(&app, &token, Method::PATCH, &format!("/users/{carol}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_refused(refused, "roles.manage").await;
    }
    let promote = as_token(&app, &token, Method::POST, "/users/bulk")
        .json(&json!({"action": "promote", "ids": [carol]}))
        .send()
        .await
        .unwrap();
    assert_refused(promote, "roles.manage").await;
    let create_admin = as_token(&app, &token, Method::POST, "/users")
        .json(&json!({"name": "Eve", "email": "eve@example.com", "is_admin": true}))
        .send()
        .await
        .unwrap();
    assert_refused(create_admin, "roles.manage").await;

    let carol = user(&app, carol).await;
    assert_eq!(carol["roles"], json!([]));
    assert_eq!(carol["is_admin"], false);
    assert_eq!(carol["status"], "disabled");
    let (_, eve) = app.get_json("/users?q=eve@example.com").await;
    assert_eq!(eve["total"], 0, "nothing was created");
}

#[tokio::test]
async fn a_body_with_a_name_and_roles_needs_both_permissions_and_changes_nothing_without() {
    let app = spawn_app().await;
    let helpdesk = user_with_roles(&app, "Help Desk", "help@example.com", &["helpdesk"]).await;
    let token = token_of(&app, helpdesk, "helpdesk").await;
    let target = app.create_user("Dave", "dave@example.com").await;
    let id = target["id"].as_i64().unwrap();

    let refused = as_token(&app, &token, Method::PATCH, &format!("/users/{id}"))
        .json(&json!({"name": "Mallory", "roles": ["helpdesk"]}))
        .send()
        .await
        .unwrap();
    assert_refused(refused, "roles.manage").await;
    let after = user(&app, id).await;
    assert_eq!(after["name"], "Dave");
    assert_eq!(after["roles"], json!([]));
    assert_eq!(after["version"], target["version"]);
}

#[tokio::test]
async fn a_viewer_reads_and_every_write_names_the_permission_it_lacks() {
    let app = spawn_app().await;
    let viewer = user_with_roles(&app, "Vera Viewer", "vera@example.com", &["viewer"]).await;
    let token = token_of(&app, viewer, "viewer").await;
    let other = app.create_user("Olga", "olga@example.com").await["id"]
        .as_i64()
        .unwrap();

    for path in [
        "/users".to_owned(),
        format!("/users/{other}"),
        "/users/deleted".to_owned(),
        "/audit".to_owned(),
    ] {
        let response = as_token(&app, &token, Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
    }
    let user_path = format!("/users/{other}");
    let refusals = [
        (
            Method::POST,
            "/users".to_owned(),
            json!({"name": "N", "email": "n@example.com"}),
            "users.write",
        ),
        (
            Method::PATCH,
            user_path.clone(),
            json!({"name": "N"}),
            "users.write",
        ),
        (
            Method::DELETE,
            user_path.clone(),
            json!(null),
            "users.lifecycle",
        ),
        (
            Method::POST,
            format!("{user_path}/disable"),
            json!({}),
            "users.lifecycle",
        ),
        (
            Method::POST,
            "/users/bulk".to_owned(),
            json!({"action": "delete", "ids": [other]}),
            "users.lifecycle",
        ),
        (
            Method::POST,
            format!("{user_path}/2fa/reset"),
            json!({}),
            "credentials.reset",
        ),
        (
            Method::GET,
            "/tokens".to_owned(),
            json!(null),
            "tokens.manage",
        ),
        (
            Method::GET,
            "/webhooks".to_owned(),
            json!(null),
            "webhooks.manage",
        ),
    ];
    for (method, path, body, permission) in refusals {
        let mut request = as_token(&app, &token, method.clone(), &path);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"insufficient_scope\"",
            "{method} {path}"
        );
        assert_refused(response, permission).await;
    }
    let olga = user(&app, other).await;
    assert_eq!(
        (olga["name"].as_str(), olga["status"].as_str()),
        (Some("Olga"), Some("active"))
    );
}

/// A group named `name` carrying `roles`, with these members, made through
/// the write path as the command line would.
async fn group_with(app: &TestApp, name: &str, roles: &[&str], members: &[i64]) -> i64 {
    let writer = &app.state.writer;
    let actor = Actor::cli("tests");
    let group = writer
        .create_group_holding(
            &actor,
            useradmin::domain::PermissionSet::EMPTY,
            &GroupFields {
                name: Some(GroupName::parse(name).unwrap()),
                roles: Some(roles.iter().map(|r| RoleName::parse(r).unwrap()).collect()),
                ..GroupFields::default()
            },
        )
        .await
        .unwrap();
    let changes = MemberChanges {
        add: members.to_vec(),
        ..MemberChanges::default()
    };
    writer
        .change_members_holding(
            &actor,
            useradmin::domain::PermissionSet::EMPTY,
            group.id,
            &changes,
        )
        .await
        .unwrap();
    group.id
}

#[tokio::test]
async fn roles_are_granted_through_patch_and_is_admin_follows_them() {
    let app = spawn_app().await;
    let id = app.create_user("Gina", "gina@example.com").await["id"]
        .as_i64()
        .unwrap();

    let (status, granted) = patch(
        &app,
        &app.token,
        id,
        json!({"roles": ["viewer", "helpdesk"]}),
    )
    .await;
    assert_eq!(status, 200, "{granted}");
    assert_eq!(granted["roles"], json!(["helpdesk", "viewer"]));
    assert_eq!(
        granted["permissions"],
        json!([
            "audit.read",
            "credentials.reset",
            "tokens.manage",
            "users.lifecycle",
            "users.read",
            "users.write"
        ])
    );
    assert_eq!(granted["is_admin"], false);
    let etag_moved = granted["version"].as_i64() > Some(1);
    assert!(etag_moved, "a change of roles moves the version on");

    let (status, admin) = patch(&app, &app.token, id, json!({"roles": ["admin"]})).await;
    assert_eq!((status, admin["is_admin"].clone()), (200, json!(true)));
    assert_eq!(admin["roles"], json!(["admin"]));
    assert_eq!(
        admin["permissions"].as_array().unwrap().len(),
        Permission::ALL.len()
    );

    let (status, unknown) = patch(
        &app,
        &app.token,
        id,
        json!({"roles": ["helpdesk", "wizard"]}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        unknown["fields"]["roles"][0]
            .as_str()
            .unwrap()
            .contains("wizard"),
        "{unknown}"
    );
    assert_eq!(
        user(&app, id).await["roles"],
        json!(["admin"]),
        "nothing changed"
    );

    // In a group that carries admin, removing the direct role leaves it an admin.
    group_with(&app, "Operators", &["admin"], &[id]).await;
    let (status, still) = patch(&app, &app.token, id, json!({"is_admin": false})).await;
    assert_eq!(status, 200, "{still}");
    assert_eq!(still["roles"], json!([]));
    assert_eq!(still["is_admin"], true, "the group still grants admin");
    assert_eq!(still["groups"][0]["name"], "Operators");
}

#[tokio::test]
async fn the_last_admin_keeps_the_admin_role() {
    let app = spawn_app().await;
    // An admin without a password cannot log in: it does not count.
    let (status, _) = json_of(
        app.api
            .post(app.url("/users"))
            .json(&json!({"name": "No Login", "email": "nologin@example.com", "roles": ["admin"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    for body in [json!({"roles": ["viewer"]}), json!({"is_admin": false})] {
        let refused = as_token(
            &app,
            &app.token,
            Method::PATCH,
            &format!("/users/{}", app.admin_id),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
        assert_error(refused, 409).await;
    }
    let admin = user(&app, app.admin_id).await;
    assert_eq!(
        (admin["roles"].clone(), admin["is_admin"].clone()),
        (json!(["admin"]), json!(true))
    );
}

#[tokio::test]
async fn no_one_grants_a_role_whose_permissions_they_lack() {
    let app = spawn_app().await;
    let writer = &app.state.writer;
    let granter_role: PermissionSet = [
        Permission::RolesManage,
        Permission::UsersRead,
        Permission::UsersWrite,
    ]
    .into_iter()
    .collect();
    writer
        .create_role(
            &Actor::cli("tests"),
            &RoleFields {
                name: Some(RoleName::parse("granter").unwrap()),
                permissions: Some(granter_role),
                ..RoleFields::default()
            },
        )
        .await
        .unwrap();
    let granter = user_with_roles(&app, "Grant", "grant@example.com", &["granter"]).await;
    let token = token_of(&app, granter, "granter").await;
    let target = app.create_user("Hugo", "hugo@example.com").await;
    let id = target["id"].as_i64().unwrap();
    // The Writer names the first permission missing, in name order.
    let first_missing = granter_role
        .first_missing(PermissionSet::ALL)
        .unwrap()
        .to_string();
    assert_eq!(first_missing, "audit.read");

    for body in [
        json!({"roles": ["admin"]}),
        json!({"is_admin": true}),
        json!({"name": "Hugo the admin", "roles": ["helpdesk"]}),
    ] {
        let refused = as_token(&app, &token, Method::PATCH, &format!("/users/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_refused(refused, &first_missing).await;
    }
    let after = user(&app, id).await;
    assert_eq!(
        (
            after["name"].clone(),
            after["roles"].clone(),
            after["version"].clone()
        ),
        (json!("Hugo"), json!([]), target["version"].clone())
    );
    let create = as_token(&app, &token, Method::POST, "/users")
        .json(&json!({"name": "Ivy", "email": "ivy@example.com", "roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_refused(create, &first_missing).await;
    assert_eq!(app.get_json("/users?q=ivy@").await.1["total"], 0);
    // What it holds itself it may grant.
    let (status, granted) = patch(&app, &token, id, json!({"roles": ["granter"]})).await;
    assert_eq!(
        (status, granted["roles"].clone()),
        (200, json!(["granter"]))
    );
}

#[tokio::test]
async fn the_list_filters_by_role_and_group_and_pages_through_them() {
    let app = spawn_app().await;
    let direct = user_with_roles(&app, "Anna Direct", "anna@example.com", &["helpdesk"]).await;
    let member = app.create_user("Bert Member", "bert@example.com").await["id"]
        .as_i64()
        .unwrap();
    let other_member = app.create_user("Cleo Member", "cleo@example.com").await["id"]
        .as_i64()
        .unwrap();
    app.create_user("Dora Nobody", "dora@example.com").await;
    let support = group_with(&app, "Support", &["helpdesk"], &[member, other_member]).await;
    let _ = direct;

    let holders = list_page(&app, "/users?role=helpdesk&sort=email").await;
    assert_eq!(
        emails_of(&holders),
        ["anna@example.com", "bert@example.com", "cleo@example.com"]
    );
    let mut seen = Vec::new();
    let mut path = "/users?role=HelpDesk&sort=email&limit=1".to_owned();
    loop {
        let page = list_page(&app, &path).await;
        seen.extend(emails_of(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/users?role=HelpDesk&sort=email&limit=1&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, emails_of(&holders));

    let both = list_page(&app, &format!("/users?group={support}&sort=email")).await;
    assert_eq!(emails_of(&both), ["bert@example.com", "cleo@example.com"]);
    let searched = list_page(&app, &format!("/users?group={support}&q=cleo")).await;
    assert_eq!(emails_of(&searched), ["cleo@example.com"]);
    let first = list_page(&app, &format!("/users?group={support}&sort=email&limit=1")).await;
    assert_eq!(emails_of(&first), ["bert@example.com"]);
    let next = first["next"].as_str().unwrap();
    let second = list_page(
        &app,
        &format!("/users?group={support}&sort=email&limit=1&after={next}"),
    )
    .await;
    assert_eq!(emails_of(&second), ["cleo@example.com"]);
    assert!(second["next"].is_null());
    let admins = list_page(&app, "/users?role=admin").await;
    assert_eq!(emails_of(&admins), [ADMIN_EMAIL]);
}

#[tokio::test]
async fn tokens_manage_is_ones_own_tokens_unless_one_may_grant_roles() {
    let app = spawn_app().await;
    let helpdesk = user_with_roles(&app, "Help Desk", "help@example.com", &["helpdesk"]).await;
    let token = token_of(&app, helpdesk, "helpdesk's").await;

    let (status, seen) = json_of(
        as_token(&app, &token, Method::GET, "/tokens")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let labels: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["helpdesk's"]);

    let (_, all) = app.get_json("/tokens").await;
    let admins_token = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "tests")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "an admin sees every token"
    );
    let revoke = as_token(
        &app,
        &token,
        Method::POST,
        &format!("/tokens/{admins_token}/revoke"),
    )
    .send()
    .await
    .unwrap();
    assert_error(revoke, 404).await;
    let (status, _) = app.get_json("/users").await;
    assert_eq!(status, 200, "the admin's token still works");
}

#[tokio::test]
async fn a_refused_page_keeps_the_navigation_and_names_the_permission() {
    let app = spawn_app().await;
    user_with_roles(&app, "Vera Viewer", "vera@example.com", &["viewer"]).await;
    let client = browser();
    let response = app.log_in(&client, "vera@example.com", PASSWORD).await;
    assert_eq!(response.status(), 303);

    let response = client.get(app.url("/webhooks")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains("You need the permission webhooks.manage to do this."),
        "{page}"
    );
    assert!(
        page.contains("Account: Vera Viewer"),
        "the logged-in layout"
    );
    assert!(page.contains(r#"<a href="/audit">Audit</a>"#));
    assert!(!page.contains(r#"<a href="/webhooks">Webhooks</a>"#));

    // A refusal by a handler (not the route table) looks the same.
    let helpdesk = user_with_roles(&app, "Hank Helpdesk", "hank@example.com", &["helpdesk"]).await;
    let client = browser();
    let response = app.log_in(&client, "hank@example.com", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let list = app.page(&client, "/users", 200).await;
    let csrf = useradmin_test_support::csrf_in(&list);
    let id = helpdesk.to_string();
    let refused = client
        .post(app.url("/users/bulk"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("action", "promote"),
            ("id", id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("You need the permission roles.manage to do this."),
        "{page}"
    );
    assert!(page.contains("Account: Hank Helpdesk"));
}

async fn import_as(app: &TestApp, token: &str, query: &str, file: &str) -> Response {
    as_token(app, token, Method::POST, &format!("/users/import{query}"))
        .header("content-type", "text/csv")
        .body(file.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_import_that_changes_admin_rights_needs_roles_manage() {
    let app = spawn_app().await;
    let helpdesk = user_with_roles(&app, "Help Desk", "help@example.com", &["helpdesk"]).await;
    let token = token_of(&app, helpdesk, "helpdesk").await;
    app.create_user("Kim", "kim@example.com").await;

    // An is_admin column that changes nobody's rights: users.write is enough.
    let plain = "name,email,is_admin\nKim K,kim@example.com,false\nLee,lee@example.com,false\n";
    let (status, report) = json_of(import_as(&app, &token, "", plain).await).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["counts"]["create"].clone(),
            report["counts"]["update"].clone()
        ),
        (json!(1), json!(1))
    );

    // Making an admin, or a new one: refused, dry run included, nothing written.
    for file in [
        "name,email,is_admin\nKim K,kim@example.com,true\n",
        "name,email,is_admin\nMo,mo@example.com,true\n",
    ] {
        for query in ["?dry_run=true", ""] {
            assert_refused(import_as(&app, &token, query, file).await, "roles.manage").await;
        }
    }
    let (_, kim) = app.get_json("/users?q=kim@example.com").await;
    assert_eq!(kim["data"][0]["is_admin"], false);
    assert_eq!(app.get_json("/users?q=mo@example.com").await.1["total"], 0);

    // An admin's import does it.
    let (status, _) = json_of(
        import_as(
            &app,
            &app.token,
            "",
            "name,email,is_admin\nKim K,kim@example.com,true\n",
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let (_, kim) = app.get_json("/users?q=kim@example.com").await;
    assert_eq!(kim["data"][0]["roles"], json!(["admin"]));
}
