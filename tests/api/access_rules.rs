//! The rules of SPEC §14 that the database keeps whoever writes (the service,
//! the command line, raw SQL in Adminer): the permission list, `is_admin` as
//! "holds the admin role", the last admin at every commit, and what a token
//! may do as its owner's roles change.

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use useradmin::{
    domain::{Permission, RoleName},
    write::Actor,
};

use crate::helpers::*;

fn code_of(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// A user with a password, made through the API; its id.
async fn user_with_password(app: &TestApp, name: &str, email: &str) -> i64 {
    let (status, user) = post_json(
        app,
        "/users",
        json!({"name": name, "email": email, "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_i64().unwrap()
}

async fn grant(app: &TestApp, user: i64, role: &str) {
    let changed = app
        .state
        .writer
        .grant_role(&Actor::cli("tests"), user, &RoleName::parse(role).unwrap())
        .await
        .unwrap();
    assert!(changed, "{role} was granted");
}

async fn revoke(app: &TestApp, user: i64, role: &str) {
    let changed = app
        .state
        .writer
        .revoke_role(&Actor::cli("tests"), user, &RoleName::parse(role).unwrap())
        .await
        .unwrap();
    assert!(changed, "{role} was revoked");
}

#[tokio::test]
async fn the_database_knows_the_same_permissions_as_the_service() {
    let app = spawn_app().await;
    let in_sql: Vec<String> = sqlx::query_scalar("select unnest(useradmin_permissions())")
        .fetch_all(&app.db)
        .await
        .unwrap();
    let in_code: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(in_sql, in_code);
    // The built-in roles, as SPEC §14 lists them.
    let roles: Vec<(String, Vec<String>, bool)> =
        sqlx::query_as("select name, permissions, builtin from roles order by id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(roles[0], ("admin".into(), in_sql.clone(), true));
    assert_eq!(
        roles[1].1,
        [
            "audit.read",
            "credentials.reset",
            "tokens.manage",
            "users.lifecycle",
            "users.read",
            "users.write"
        ]
    );
    assert_eq!(roles[2].1, ["audit.read", "users.read"]);
    // The first admin holds the admin role directly, and shows it.
    let (_, admin) = app.get_json(&format!("/users/{}", app.admin_id)).await;
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["roles"], json!(["admin"]));
    assert_eq!(admin["groups"], json!([]));
    assert_eq!(admin["permissions"], json!(in_code));
}

#[tokio::test]
async fn raw_sql_cannot_change_a_built_in_role_or_grant_an_unknown_permission() {
    let app = spawn_app().await;
    for statement in [
        "update roles set permissions = '{users.read}' where name = 'admin'",
        "delete from roles where name = 'viewer'",
    ] {
        let error = sqlx::query(statement).execute(&app.db).await.unwrap_err();
        assert_eq!(code_of(&error).as_deref(), Some("UA403"), "{statement}");
    }
    let error = sqlx::query("insert into roles (name, permissions) values ('x', '{users.fly}')")
        .execute(&app.db)
        .await
        .unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("23514"));
    let permissions: Vec<String> =
        sqlx::query_scalar("select permissions from roles where name = 'admin'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(permissions.len(), Permission::ALL.len());
}

#[tokio::test]
async fn is_admin_follows_the_admin_role_directly_or_through_a_group() {
    let app = spawn_app().await;
    let ada = user_with_password(&app, "Ada", "ada@example.com").await;
    // Raw SQL, as in Adminer: a group carrying admin, then Ada joins it.
    sqlx::query("insert into groups (name) values ('Operators')")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "insert into group_roles (group_id, role_id) \
         select g.id, r.id from groups g, roles r where g.name = 'Operators' and r.name = 'admin'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into group_members (group_id, user_id) select id, $1 from groups where name = 'Operators'",
    )
    .bind(ada)
    .execute(&app.db)
    .await
    .unwrap();
    let is_admin: bool = sqlx::query_scalar("select is_admin from users where id = $1")
        .bind(ada)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(is_admin, "a group carrying admin makes its members admins");
    // Writing the flag removes only the direct role: the group still grants it.
    sqlx::query("update users set is_admin = false where id = $1")
        .bind(ada)
        .execute(&app.db)
        .await
        .unwrap();
    let (is_admin, roles): (bool, Vec<String>) =
        sqlx::query_as("select is_admin, user_role_names(id) from users where id = $1")
            .bind(ada)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(is_admin);
    assert!(roles.is_empty());
    // Leaving the group ends it.
    sqlx::query("delete from group_members where user_id = $1")
        .bind(ada)
        .execute(&app.db)
        .await
        .unwrap();
    let is_admin: bool = sqlx::query_scalar("select is_admin from users where id = $1")
        .bind(ada)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!is_admin);
    // Each step is in the trail, as raw SQL.
    let actions: Vec<String> = audit_events(&app, "actor=sql")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "group.created",
        "group.updated",
        "group.member_added",
        "group.member_removed",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn raw_sql_cannot_leave_no_admin_even_in_two_parallel_transactions() {
    let app = spawn_app().await;
    let second = user_with_password(&app, "Second", "second@example.com").await;
    grant(&app, second, "admin").await;
    // Two transactions that each take one admin away, in parallel: changes of
    // access wait for each other, and the last-admin check runs at each
    // commit, so exactly one of them is refused.
    let take_away = |statement: &'static str, id: i64| {
        let url = database_url_for(&app.database_name);
        async move {
            let mut connection = PgConnection::connect(&url).await.unwrap();
            let mut tx = connection.begin().await.unwrap();
            sqlx::query(statement).bind(id).execute(&mut *tx).await?;
            tx.commit().await
        }
    };
    let (first, other) = tokio::join!(
        take_away(
            "update users set is_admin = false where id = $1",
            app.admin_id
        ),
        take_away("delete from user_roles where user_id = $1", second),
    );
    let failures: Vec<String> = [first, other]
        .iter()
        .filter_map(|r| r.as_ref().err().and_then(code_of))
        .collect();
    assert_eq!(failures, ["UA409"], "exactly one commit is refused");
    let admins: i64 = sqlx::query_scalar("select count(*) from users where is_admin")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins, 1);
    // The one left cannot go either, by any statement.
    for statement in [
        "update users set is_admin = false where is_admin",
        "update users set status = 'disabled' where is_admin",
        "update users set password_hash = null where is_admin",
        "delete from user_roles",
    ] {
        let error = sqlx::query(statement).execute(&app.db).await.unwrap_err();
        assert_eq!(code_of(&error).as_deref(), Some("UA409"), "{statement}");
    }
}

#[tokio::test]
async fn the_last_admin_rule_counts_every_permission_not_only_the_admin_role() {
    let app = spawn_app().await;
    // A custom role with every permission keeps someone able to administer.
    let all: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    sqlx::query("insert into roles (name, permissions) values ('Owners', useradmin_permissions())")
        .execute(&app.db)
        .await
        .unwrap();
    let owner = user_with_password(&app, "Owner", "owner@example.com").await;
    grant(&app, owner, "Owners").await;
    revoke(&app, app.admin_id, "admin").await;
    let (is_admin, permissions): (bool, Vec<String>) =
        sqlx::query_as("select is_admin, user_permissions(id) from users where id = $1")
            .bind(owner)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        !is_admin,
        "holding every permission is not holding the admin role"
    );
    assert_eq!(permissions.len(), all.len());
    // Now the custom role's holder is the last: taking a permission from the
    // role is refused.
    let error = sqlx::query(
        "update roles set permissions = array_remove(permissions, 'users.purge') where name = 'Owners'",
    )
    .execute(&app.db)
    .await
    .unwrap_err();
    assert_eq!(code_of(&error).as_deref(), Some("UA409"));
}

#[tokio::test]
async fn a_token_acts_with_its_scopes_within_what_its_owner_holds_now() {
    let app = spawn_app().await;
    let helper = user_with_password(&app, "Helper", "helper@example.com").await;
    grant(&app, helper, "helpdesk").await;
    let token = app.token_for(helper, "helpdesk script").await;
    let client = reqwest::Client::new();
    let create = |email: &'static str| {
        client
            .post(app.url("/users"))
            .bearer_auth(&token)
            .json(&json!({"name": "Made", "email": email}))
    };
    assert_eq!(
        create("one@example.com").send().await.unwrap().status(),
        201
    );
    // Its owner is now only a viewer: the very next request may only read.
    revoke(&app, helper, "helpdesk").await;
    grant(&app, helper, "viewer").await;
    let refused = create("two@example.com").send().await.unwrap();
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\""
    );
    let body: Value = assert_error(refused, 403).await;
    assert_eq!(body["permission"], "users.write");
    let read = client
        .get(app.url("/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    // Made admin again, the token still has only the scopes it was given.
    grant(&app, helper, "admin").await;
    let hook = client
        .post(app.url("/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": "https://example.com/h", "events": ["user.*"]}))
        .send()
        .await
        .unwrap();
    let body = assert_error(hook, 403).await;
    assert_eq!(body["permission"], "webhooks.manage");
    assert_eq!(user_name_by_email(&app, "two@example.com").await, None);
}

#[tokio::test]
async fn webhooks_hear_of_groups_and_roles() {
    let app = spawn_app_with(Options {
        env: vec![("WEBHOOK_ALLOW_PRIVATE", "true".into())],
        ..Options::default()
    })
    .await;
    let (status, hook) = post_json(
        &app,
        "/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "events": ["group.*", "role.*", "user.roles_changed"]}),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    sqlx::query("insert into groups (name, description) values ('Support', 'first line')")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("insert into roles (name, permissions) values ('Readers', '{users.read}')")
        .execute(&app.db)
        .await
        .unwrap();
    let ada = user_with_password(&app, "Ada", "ada@example.com").await;
    grant(&app, ada, "Readers").await;
    let payloads: Vec<(String, Value)> =
        sqlx::query_as("select event_type, payload from webhook_deliveries order by id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let types: Vec<&str> = payloads.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["group.created", "role.created", "user.roles_changed"]
    );
    assert_eq!(payloads[0].1["group"]["name"], "Support");
    assert_eq!(payloads[0].1["group"]["member_count"], 0);
    assert_eq!(payloads[1].1["role"]["permissions"], json!(["users.read"]));
    assert_eq!(payloads[2].1["user"]["roles"], json!(["Readers"]));
    assert_eq!(payloads[2].1["user"]["permissions"], json!(["users.read"]));
    assert_eq!(payloads[2].1["changes"]["roles"], json!([[], ["Readers"]]));
}
