//! Groups (SPEC §14): their fields, names and ETags; their members, listed as
//! users are; the roles their members hold from their next request on; no
//! escalation, even by two admins at once; the last admin; the audit trail.

use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::*;
use useradmin::domain::{PermissionSet, TokenLabel};
use useradmin::write::{Actor, TokenGrant};

const PASSWORD: &str = "a long enough password";

/// A client that sends `token`.
fn client_with(token: &str) -> Client {
    let mut auth = header::HeaderMap::new();
    auth.insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Client::builder()
        .default_headers(auth)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A token for `owner`, scoped to what they hold now (a token can hold no
/// more), made as the command line makes one.
async fn token_of(app: &TestApp, owner: i64) -> String {
    let held: Vec<String> = sqlx::query_scalar("select user_permissions($1)")
        .bind(owner)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let grant = TokenGrant {
        scopes: PermissionSet::parse_known(&held),
        lifetime_days: Some(1),
    };
    let label = TokenLabel::parse("groups test").unwrap();
    (app.state.writer)
        .create_scoped_token(&Actor::cli("tests"), &label, owner, &grant)
        .await
        .expect("a token within the owner's permissions")
        .token
}

/// A new user with a password (made by the admin); its id.
async fn user(app: &TestApp, name: &str, email: &str) -> i64 {
    let (status, body) = post_json(
        app,
        "/users",
        json!({ "name": name, "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

/// Grants a role to a user directly, in raw SQL (before its first request).
async fn grant(app: &TestApp, user_id: i64, role: &str) {
    let granted = sqlx::query(
        "insert into user_roles (user_id, role_id) select $1, id from roles where name = $2",
    )
    .bind(user_id)
    .bind(role)
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(granted.rows_affected(), 1, "{role} exists");
}

/// A custom role with these permissions, in raw SQL.
async fn custom_role(app: &TestApp, name: &str, permissions: &[&str]) {
    sqlx::query("insert into roles (name, description, permissions) values ($1, '', $2)")
        .bind(name)
        .bind(permissions)
        .execute(&app.db)
        .await
        .unwrap();
}

/// A new group (made by the admin) carrying `roles`; its JSON.
async fn group(app: &TestApp, name: &str, roles: &[&str]) -> Value {
    let (status, body) = post_json(app, "/groups", json!({ "name": name, "roles": roles })).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn add_members(app: &TestApp, group: i64, ids: &[i64]) -> (u16, Value) {
    post_json(
        app,
        &format!("/groups/{group}/members"),
        json!({ "user_ids": ids }),
    )
    .await
}

async fn remove_member(client: &Client, app: &TestApp, group: i64, user: i64) -> StatusCode {
    client
        .delete(app.url(&format!("/groups/{group}/members/{user}")))
        .send()
        .await
        .unwrap()
        .status()
}

fn etag_of(response: &reqwest::Response) -> String {
    response.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_group_is_created_read_changed_and_deleted_with_its_etag() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/groups"))
        .json(&json!({
            "name": "  Support ", "description": "First line", "external_id": "okta-1",
            "roles": ["HELPDESK"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let created_tag = etag_of(&response);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/groups/{id}"));
    assert_eq!(
        created,
        json!({
            "id": id, "name": "Support", "description": "First line", "external_id": "okta-1",
            "roles": ["helpdesk"], "member_count": 0, "version": created["version"],
        })
    );
    assert_eq!(created_tag, format!("\"{}\"", created["version"]));

    let response = app.api.get(app.url(&location)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(etag_of(&response), created_tag);
    assert_eq!(response.json::<Value>().await.unwrap(), created);

    // Listed, and found by part of its name in any case.
    let listed = list_page(&app, "/groups").await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["data"][0], created);
    assert_eq!(list_page(&app, "/groups?q=PPOR").await["data"][0]["id"], id);
    let none = list_page(&app, "/groups?q=nobody").await;
    assert_eq!(
        (
            none["total"].as_i64(),
            none["data"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );

    // A stale If-Match changes nothing.
    let patch = |tag: &str, body: Value| {
        app.api
            .patch(app.url(&location))
            .header(header::IF_MATCH, tag)
            .json(&body)
    };
    let stale = patch("\"999\"", json!({"name": "Nope"}))
        .send()
        .await
        .unwrap();
    assert_error(stale, 412).await;
    let response = patch(
        &created_tag,
        json!({"description": "Second line", "external_id": null}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let new_tag = etag_of(&response);
    assert_ne!(new_tag, created_tag);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["name"], "Support");
    assert_eq!(changed["description"], "Second line");
    assert_eq!(changed["external_id"], Value::Null);
    assert_eq!(changed["roles"], json!(["helpdesk"]));
    assert_eq!(new_tag, format!("\"{}\"", changed["version"]));

    // Deleting honours If-Match too.
    let delete = |tag: &str| {
        app.api
            .delete(app.url(&location))
            .header(header::IF_MATCH, tag)
            .send()
    };
    assert_error(delete(&created_tag).await.unwrap(), 412).await;
    assert_eq!(delete(&new_tag).await.unwrap().status(), 204);
    assert_get_refused(&app, &location, 404).await;
    assert_eq!(list_page(&app, "/groups").await["total"], 0);
    assert_get_refused(&app, "/groups/0", 404).await;
    assert_get_refused(&app, "/groups/abc", 400).await;
}

#[tokio::test]
async fn group_names_are_unique_whatever_their_case_and_bounded() {
    let app = spawn_app().await;
    let support = group(&app, "Support", &[]).await;
    post_json(
        &app,
        "/groups",
        json!({"name": "Other", "external_id": "ext-1"}),
    )
    .await;

    for (body, status, field) in [
        (json!({"name": "SUPPORT"}), 409, "name"),
        (
            json!({"name": "New", "external_id": "ext-1"}),
            409,
            "external_id",
        ),
        (json!({"name": " "}), 422, "name"),
        (json!({"name": "x".repeat(101)}), 422, "name"),
        (json!({"description": "no name"}), 422, "name"),
        (
            json!({"name": "New", "roles": ["no such role"]}),
            422,
            "roles",
        ),
    ] {
        let response = app
            .api
            .post(app.url("/groups"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = assert_error(response, status).await;
        assert!(error["fields"][field].is_array(), "{body} → {error}");
    }
    assert_eq!(
        post_json(&app, "/groups", json!({"name": "é".repeat(100)}))
            .await
            .0,
        201
    );
    let response = app
        .api
        .post(app.url("/groups"))
        .json(&json!({"name": "x", "role": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_error(response, 422).await;

    // Renaming onto another's name, any case, is refused too.
    let response = app
        .api
        .patch(app.url(&format!("/groups/{}", support["id"])))
        .json(&json!({"name": "other"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 409).await;
    assert_eq!(list_page(&app, "/groups").await["total"], 3);
}

#[tokio::test]
async fn members_are_added_with_a_result_per_id_and_removed() {
    let app = spawn_app().await;
    let g = group(&app, "Readers", &[]).await["id"].as_i64().unwrap();
    let ann = user(&app, "Ann", "ann@example.com").await;
    let bob = user(&app, "Bob", "bob@example.com").await;

    let (status, body) = add_members(&app, g, &[ann, 999_999, ann]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"results": [
            {"id": ann, "result": "done"}, {"id": 999_999, "result": "not_found"},
        ]})
    );
    let (_, body) = add_members(&app, g, &[ann, bob]).await;
    assert_eq!(
        body["results"],
        json!([{"id": ann, "result": "already_member"}, {"id": bob, "result": "done"}])
    );
    assert_eq!(
        list_page(&app, &format!("/groups/{g}")).await["member_count"],
        2
    );

    // 1 to 1,000 ids at a time.
    let too_many: Vec<i64> = (1..=1001).collect();
    for ids in [&[][..], &too_many[..]] {
        let response = app
            .api
            .post(app.url(&format!("/groups/{g}/members")))
            .json(&json!({ "user_ids": ids }))
            .send()
            .await
            .unwrap();
        let error = assert_error(response, 422).await;
        assert!(error["fields"]["user_ids"].is_array(), "{error}");
    }
    let (status, _) = add_members(&app, 999_999, &[ann]).await;
    assert_eq!(status, 404);

    assert_eq!(remove_member(&app.api, &app, g, ann).await, 204);
    let again = app
        .api
        .delete(app.url(&format!("/groups/{g}/members/{ann}")))
        .send()
        .await
        .unwrap();
    assert_error(again, 404).await;
    assert_eq!(remove_member(&app.api, &app, 999_999, bob).await, 404);
    let after = list_page(&app, &format!("/groups/{g}")).await;
    assert_eq!(after["member_count"], 1);
    let user: Value = list_page(&app, &format!("/users/{bob}")).await;
    assert_eq!(user["groups"], json!([{"id": g, "name": "Readers"}]));
}

#[tokio::test]
async fn members_are_listed_and_paged_exactly_as_users_are() {
    let app = spawn_app().await;
    let g = group(&app, "Team", &[]).await["id"].as_i64().unwrap();
    let mut members = Vec::new();
    for (name, email) in [
        ("Cy", "cy@example.com"),
        ("Di", "di@example.com"),
        ("Ed", "ed@example.com"),
    ] {
        members.push(user(&app, name, email).await);
    }
    user(&app, "Outsider", "out@example.com").await;
    add_members(&app, g, &members).await;

    // The users list filtered by the group, and the group's members: the same.
    for list in [
        format!("/users?group={g}&"),
        format!("/groups/{g}/members?"),
    ] {
        let page = list_page(&app, &format!("{list}sort=id")).await;
        assert_eq!(ids_of(&page), members, "{list}");
        assert_eq!(page["total"], 3);
        assert!(
            page["source"].is_string() && page["next"].is_null(),
            "{page}"
        );

        // One at a time, following the cursors.
        let mut seen = Vec::new();
        let mut next = format!("{list}limit=1");
        loop {
            let page = list_page(&app, &next).await;
            assert!(ids_of(&page).len() <= 1, "{page}");
            seen.extend(ids_of(&page));
            match page["next"].as_str() {
                Some(cursor) => next = format!("{list}limit=1&after={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, members, "{list}");
    }
    let page = list_page(&app, &format!("/groups/{g}/members?q=DI")).await;
    assert_eq!(emails_of(&page), ["di@example.com"]);
    assert_get_refused(&app, "/groups/999999/members", 404).await;
}

/// A member's permissions change with the group's on their very next request:
/// no cache serves the old set once the change has returned.
#[tokio::test]
async fn a_member_holds_the_groups_roles_from_their_next_request_on() {
    let app = spawn_app().await;
    let carol = user(&app, "Carol", "carol@example.com").await;
    grant(&app, carol, "viewer").await;
    let desk = group(&app, "Desk", &["helpdesk"]).await["id"]
        .as_i64()
        .unwrap();
    // Carol's own session: it acts with all she holds at each request.
    let session = browser();
    let response = app.log_in(&session, "carol@example.com", PASSWORD).await;
    assert_redirects_to(&response, "/users");
    let csrf = csrf_in(&app.page(&session, "/groups", 200).await);
    let create_user = |n: u32| {
        session
            .post(app.url("/users"))
            .header("x-csrf-token", &csrf)
            .header(header::ACCEPT, "application/json")
            .json(&json!({"name": format!("New {n}"), "email": format!("new{n}@example.com")}))
            .send()
    };

    let refused = assert_error(create_user(1).await.unwrap(), 403).await;
    assert_eq!(refused["permission"], "users.write");
    let (status, _) = add_members(&app, desk, &[carol]).await;
    assert_eq!(status, 200);
    assert_eq!(create_user(2).await.unwrap().status(), 201);
    assert_eq!(remove_member(&app.api, &app, desk, carol).await, 204);
    let refused = assert_error(create_user(3).await.unwrap(), 403).await;
    assert_eq!(refused["permission"], "users.write");
    add_members(&app, desk, &[carol]).await;
    assert_eq!(create_user(4).await.unwrap().status(), 201);
    let response = app
        .api
        .delete(app.url(&format!("/groups/{desk}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_error(create_user(5).await.unwrap(), 403).await;
}

#[tokio::test]
async fn nobody_is_added_to_a_group_whose_permissions_the_actor_lacks() {
    let app = spawn_app().await;
    custom_role(&app, "group keeper", &["groups.manage", "users.read"]).await;
    let keeper = user(&app, "Keeper", "keeper@example.com").await;
    grant(&app, keeper, "group keeper").await;
    let other = user(&app, "Other", "other@example.com").await;
    let keeper_api = client_with(&token_of(&app, keeper).await);
    let admins = group(&app, "Admins", &["admin"]).await["id"]
        .as_i64()
        .unwrap();
    let plain = group(&app, "Plain", &[]).await["id"].as_i64().unwrap();

    for ids in [vec![keeper], vec![other], vec![other, keeper]] {
        let response = keeper_api
            .post(app.url(&format!("/groups/{admins}/members")))
            .json(&json!({ "user_ids": ids }))
            .send()
            .await
            .unwrap();
        let refused = assert_error(response, 403).await;
        assert_eq!(refused["error"], "forbidden");
        assert!(refused["permission"].is_string(), "{refused}");
    }
    assert_eq!(
        list_page(&app, &format!("/groups/{admins}")).await["member_count"],
        0
    );
    let members = list_page(&app, &format!("/users?group={admins}")).await;
    assert_eq!(ids_of(&members), Vec::<i64>::new());

    // A group that gives nothing they lack is theirs to fill; roles are not.
    let response = keeper_api
        .post(app.url(&format!("/groups/{plain}/members")))
        .json(&json!({ "user_ids": [other] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for request in [
        keeper_api
            .post(app.url("/groups"))
            .json(&json!({"name": "Mine", "roles": ["viewer"]})),
        keeper_api
            .patch(app.url(&format!("/groups/{plain}")))
            .json(&json!({"roles": ["admin"]})),
    ] {
        let refused = assert_error(request.send().await.unwrap(), 403).await;
        assert_eq!(refused["permission"], "roles.manage");
    }
    assert_eq!(
        list_page(&app, &format!("/groups/{plain}")).await["roles"],
        json!([])
    );
    let response = keeper_api
        .post(app.url("/groups"))
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// Two admins who each hold `groups.manage` only through their own group,
/// each removing the other at the same moment: the check is made inside the
/// transaction, after the other's change, so never both succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_cannot_remove_each_other_at_once() {
    let app = spawn_app().await;
    custom_role(&app, "group keeper", &["groups.manage", "users.read"]).await;
    for round in 0..10 {
        let a = user(&app, "A", &format!("a{round}@example.com")).await;
        let b = user(&app, "B", &format!("b{round}@example.com")).await;
        let ga = group(&app, &format!("GA {round}"), &["group keeper"]).await["id"]
            .as_i64()
            .unwrap();
        let gb = group(&app, &format!("GB {round}"), &["group keeper"]).await["id"]
            .as_i64()
            .unwrap();
        add_members(&app, ga, &[a]).await;
        add_members(&app, gb, &[b]).await;
        let (a_api, b_api) = (
            client_with(&token_of(&app, a).await),
            client_with(&token_of(&app, b).await),
        );
        // Both may act before the race.
        for client in [&a_api, &b_api] {
            let response = client.get(app.url("/groups")).send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
        let (a_removes_b, b_removes_a) = tokio::join!(
            remove_member(&a_api, &app, gb, b),
            remove_member(&b_api, &app, ga, a),
        );
        let outcomes = [a_removes_b.as_u16(), b_removes_a.as_u16()];
        assert!(
            outcomes == [204, 403] || outcomes == [403, 204],
            "round {round}: {outcomes:?}"
        );
        let a_left = list_page(&app, &format!("/groups/{ga}")).await["member_count"] == 0;
        let b_left = list_page(&app, &format!("/groups/{gb}")).await["member_count"] == 0;
        assert!(a_left != b_left, "round {round}: exactly one was removed");
    }
}

#[tokio::test]
async fn the_last_admin_cannot_lose_the_admin_role_through_a_group() {
    let app = spawn_app().await;
    let g = group(&app, "Root", &["admin"]).await["id"]
        .as_i64()
        .unwrap();
    add_members(&app, g, &[app.admin_id]).await;
    // The admin role directly no more: only through the group.
    sqlx::query("delete from user_roles where user_id = $1")
        .bind(app.admin_id)
        .execute(&app.db)
        .await
        .unwrap();
    let body = list_page(&app, &format!("/users/{}", app.admin_id)).await;
    assert_eq!(body["roles"], json!([]));
    assert_eq!(body["is_admin"], true, "still an admin, through the group");
    let before = list_page(&app, &format!("/groups/{g}")).await;

    assert_eq!(remove_member(&app.api, &app, g, app.admin_id).await, 409);
    let deleted = app
        .api
        .delete(app.url(&format!("/groups/{g}")))
        .send()
        .await
        .unwrap();
    assert_error(deleted, 409).await;
    let emptied = app
        .api
        .patch(app.url(&format!("/groups/{g}")))
        .json(&json!({"roles": []}))
        .send()
        .await
        .unwrap();
    assert_error(emptied, 409).await;

    assert_eq!(list_page(&app, &format!("/groups/{g}")).await, before);
    let admin = list_page(&app, &format!("/users/{}", app.admin_id)).await;
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["groups"], json!([{"id": g, "name": "Root"}]));
}

#[tokio::test]
async fn group_changes_are_audited_and_can_be_subscribed_to() {
    let app = spawn_app_with(Options {
        env: vec![("WEBHOOK_ALLOW_PRIVATE", "true".into())],
        ..Options::default()
    })
    .await;
    let (status, body) = post_json(
        &app,
        "/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "events": ["group.*"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["events"], json!(["group.*"]));

    let ann = user(&app, "Ann", "ann@example.com").await;
    let g = group(&app, "Audited", &[]).await["id"].as_i64().unwrap();
    add_members(&app, g, &[ann]).await;
    assert_eq!(remove_member(&app.api, &app, g, ann).await, 204);
    let response = app
        .api
        .patch(app.url(&format!("/groups/{g}")))
        .json(&json!({"roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .api
        .delete(app.url(&format!("/groups/{g}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let actions: Vec<String> = audit_events(&app, "action=group.&limit=50")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in [
        "group.created",
        "group.member_added",
        "group.member_removed",
        "group.updated",
        "group.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_viewer_sees_groups_but_no_controls_and_cannot_change_them() {
    let app = spawn_app().await;
    let viewer = user(&app, "Vera", "vera@example.com").await;
    grant(&app, viewer, "viewer").await;
    let g = group(&app, "Visible", &[]).await["id"].as_i64().unwrap();
    add_members(&app, g, &[viewer]).await;
    let client = browser();
    let response = app.log_in(&client, "vera@example.com", PASSWORD).await;
    assert_redirects_to(&response, "/users");

    let list = app.page(&client, "/groups", 200).await;
    assert!(list.contains("Visible"), "{list}");
    assert!(
        !list.contains("method=\"post\" action=\"/groups\""),
        "no create form for a viewer"
    );
    let page = app.page(&client, &format!("/groups/{g}"), 200).await;
    assert!(page.contains("vera@example.com"), "the member is listed");
    for control in ["/members/", "/delete", "name=\"emails\"", "Save roles"] {
        assert!(!page.contains(control), "no {control} for a viewer");
    }
    let csrf = csrf_in(&page);
    let response = client
        .post(app.url(&format!("/groups/{g}/delete")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        list_page(&app, &format!("/groups/{g}")).await["member_count"],
        1
    );
}

/// The pages' forms: a taken name and a stale version are shown on the form
/// (nothing saved), roles are saved from their checkboxes, members come by
/// email.
#[tokio::test]
async fn the_group_forms_refuse_with_their_errors_and_save_roles() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let csrf = csrf_in(&app.page(&client, "/groups", 200).await);
    let post = |path: &str, fields: Vec<(&str, String)>| {
        let mut fields = fields;
        fields.push(("csrf_token", csrf.clone()));
        client.post(app.url(path)).form(&fields).send()
    };

    let created = post(
        "/groups",
        vec![("name", "Ops".into()), ("roles", String::new())],
    )
    .await
    .unwrap();
    let location = assert_redirect(&created);
    let again = post("/groups", vec![("name", "OPS".into())]).await.unwrap();
    assert_eq!(again.status(), 409);
    let page = again.text().await.unwrap();
    assert!(
        page.contains("id=\"name-error\""),
        "the name's error is shown"
    );
    assert!(page.contains("value=\"OPS\""), "the name is kept as typed");

    let group = list_page(&app, &location).await;
    let version = group["version"].as_i64().unwrap();
    let stale = post(
        &location,
        vec![
            ("name", "Renamed".into()),
            ("version", (version - 1).to_string()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(stale.status(), 409);
    assert!(
        stale
            .text()
            .await
            .unwrap()
            .contains("changed by someone else")
    );
    assert_eq!(list_page(&app, &location).await["name"], "Ops");

    let saved = post(
        &location,
        vec![
            ("version", version.to_string()),
            ("roles", String::new()),
            ("roles", "helpdesk".into()),
        ],
    )
    .await
    .unwrap();
    assert_redirects_to(&saved, &location);
    let group = list_page(&app, &location).await;
    assert_eq!(
        (group["name"].as_str(), &group["roles"]),
        (Some("Ops"), &json!(["helpdesk"]))
    );
    let flash = app.page(&client, &location, 200).await;
    assert!(
        flash.contains("Saved the roles of Ops."),
        "the flash says so"
    );

    let ann = user(&app, "Ann", "ann@example.com").await;
    let added = post(
        &format!("{location}/members"),
        vec![("emails", "ann@example.com\r\n\r\nANN@example.com".into())],
    )
    .await
    .unwrap();
    assert_redirects_to(&added, &location);
    let members = list_page(&app, &format!("{location}/members")).await;
    assert_eq!(ids_of(&members), [ann]);
    let removed = post(&format!("{location}/members/{ann}/remove"), vec![])
        .await
        .unwrap();
    assert_redirects_to(&removed, &location);
    assert_eq!(list_page(&app, &location).await["member_count"], 0);
}
