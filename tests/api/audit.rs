//! The audit trail: recorded by the database for every change,
//! whoever made it, append-only, and read through `/audit` and a user's history.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::*;

/// The events of `GET /audit?…` (JSON).
async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/audit?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// The newest event of a subject.
async fn latest(app: &TestApp, subject: &str) -> Value {
    events(app, &format!("subject={subject}&limit=1"))
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no event for {subject}"))
}

#[tokio::test]
async fn api_writes_are_recorded_with_their_token_and_request() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": "Ada", "email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let user: Value = response.json().await.unwrap();
    let id = user["id"].as_i64().unwrap();
    let subject = format!("user:{id}");

    let created = latest(&app, &subject).await;
    assert_eq!(created["action"], "user.created");
    assert_eq!(created["actor"]["kind"], "token");
    assert_eq!(created["actor"]["label"], "tests", "the token's label");
    assert_eq!(created["via"], "token");
    assert_eq!(created["request_id"], request_id.as_str());
    assert_eq!(created["client_ip"], "127.0.0.1");
    assert_eq!(
        created["subject"],
        json!({"type": "user", "id": id, "label": "ada@example.com"})
    );
    assert_eq!(created["changes"]["name"], json!([null, "Ada"]));

    // An update holds exactly the fields that changed, old and new.
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Ada Lovelace", "email": "ada@example.com", "is_admin": false}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.status(), 200);
    let updated = latest(&app, &subject).await;
    assert_eq!(updated["action"], "user.updated");
    assert_eq!(updated["request_id"], request_id.as_str());
    assert_eq!(updated["changes"], json!({"name": ["Ada", "Ada Lovelace"]}));

    // A rejected write records nothing.
    let before = events(&app, &format!("subject={subject}")).await.len();
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"email": "not an email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        events(&app, &format!("subject={subject}")).await.len(),
        before
    );

    let response = app
        .api
        .delete(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.status(), 200);
    let deleted = latest(&app, &subject).await;
    assert_eq!(deleted["action"], "user.deleted");
    assert_eq!(deleted["request_id"], request_id.as_str());
    assert_eq!(deleted["subject"]["label"], "ada@example.com");
    assert!(deleted["changes"]["deleted_at"][0].is_null());
    assert!(deleted["changes"]["deleted_at"][1].is_string());
}

#[tokio::test]
async fn a_password_is_recorded_only_as_changed() {
    let app = spawn_app().await;
    let user = app.create_user("Grace", "grace@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let secret = "a secret password";
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"password": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let event = latest(&app, &format!("user:{id}")).await;
    assert_eq!(event["action"], "password.changed");
    assert_eq!(event["changes"], json!({"password": "changed"}));
    // Neither the password nor its hash is anywhere in the trail.
    let hash: String = sqlx::query_scalar("select password_hash from users where id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (_, everything) = app.get_json("/audit?limit=1000").await;
    let text = everything.to_string();
    assert!(!text.contains(secret));
    assert!(!text.contains(&hash));
    assert!(!text.contains("$argon2"));
}

#[tokio::test]
async fn pages_record_the_admin_and_sql_records_the_role() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let user = app.create_user("Edsger", "edsger@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let csrf = app.csrf(&client).await;
    let response = client
        .post(app.url(&format!("/users/{id}")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "Edsger Dijkstra"),
            ("email", "edsger@example.com"),
            ("is_admin", "false"),
            ("version", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let event = latest(&app, &format!("user:{id}")).await;
    assert_eq!(event["actor"]["kind"], "admin");
    assert_eq!(event["actor"]["id"], app.admin_id);
    assert_eq!(event["actor"]["label"], ADMIN_EMAIL);
    assert_eq!(event["via"], "session");

    // A change made beside the service, as in Adminer.
    sqlx::query("update users set name = 'Renamed in SQL' where id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let event = latest(&app, &format!("user:{id}")).await;
    assert_eq!(event["actor"]["kind"], "sql");
    assert_eq!(event["actor"]["label"], "postgres", "the database role");
    assert_eq!(event["via"], "sql");
    assert_eq!(
        event["changes"]["name"],
        json!(["Edsger Dijkstra", "Renamed in SQL"])
    );

    // Logging in and out is recorded too; a failed login names the email tried.
    let failed = app
        .log_in(&browser(), "nobody@example.com", "wrong password")
        .await;
    assert_eq!(failed.status(), 401);
    let logins = events(&app, "action=login.").await;
    let actions: Vec<&str> = logins
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"login.succeeded"), "{actions:?}");
    let failure = logins
        .iter()
        .find(|e| e["action"] == "login.failed")
        .unwrap();
    assert_eq!(failure["subject"]["label"], "nobody@example.com");
    assert_eq!(failure["client_ip"], "127.0.0.1");
    assert!(!failure.to_string().contains("wrong password"));
    let page = app.page(&client, "/users", 200).await;
    let response = client
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf_in(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(events(&app, "action=logout").await.len(), 1);
}

#[tokio::test]
async fn the_trail_cannot_be_edited_or_deleted() {
    let app = spawn_app().await;
    app.create_user("Barbara", "barbara@example.com").await;
    for statement in [
        "update audit_events set action = 'nothing.happened'",
        "delete from audit_events",
        "truncate audit_events",
    ] {
        let error = sqlx::query(statement)
            .execute(&app.db)
            .await
            .expect_err(statement);
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    assert!(!events(&app, "action=user.created").await.is_empty());
}

#[tokio::test]
async fn filters_narrow_and_pages_neither_repeat_nor_skip() {
    let app = spawn_app().await;
    for i in 0..12 {
        app.create_user(&format!("User {i}"), &format!("u{i}@example.com"))
            .await;
    }
    let (other_id, other_token) = app.second_admin_with_token().await;
    let by_other = reqwest::Client::new();
    by_other
        .post(app.url("/users"))
        .bearer_auth(&other_token)
        .json(&json!({"name": "By other", "email": "other-made@example.com"}))
        .send()
        .await
        .unwrap();

    let all = events(&app, "action=user.created&limit=1000").await;
    assert_eq!(
        all.len(),
        1 + 12 + 1 + 1,
        "the first admin, 12, the second admin, 1"
    );
    // Page through five at a time.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(cursor) => format!("action=user.created&limit=5&after={cursor}"),
            None => "action=user.created&limit=5".into(),
        };
        let (_, page) = app.get_json(&format!("/audit?{query}")).await;
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let all_ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all_ids, "every event once, newest first");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    // By actor: the second admin's token made exactly one user.
    let (_, tokens) = app.get_json("/tokens").await;
    let token_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "second")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let theirs = events(&app, &format!("actor=token:{token_id}")).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["subject"]["label"], "other-made@example.com");
    assert!(
        events(&app, &format!("actor=admin:{other_id}"))
            .await
            .is_empty()
    );
    // By action prefix, and by time.
    assert!(
        events(&app, "action=token.")
            .await
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("token."))
    );
    assert!(events(&app, "since=2999-01-01T00:00:00Z").await.is_empty());
    assert_eq!(
        events(
            &app,
            "until=2999-01-01T00:00:00Z&action=user.created&limit=1000"
        )
        .await
        .len(),
        all.len()
    );
    // Malformed filters are a 400, not a 500.
    for bad in [
        "subject=user",
        "actor=root",
        "since=yesterday",
        "action=user%25",
        "after=x",
        "limit=0",
    ] {
        let response = app
            .api
            .get(app.url(&format!("/audit?{bad}")))
            .send()
            .await
            .unwrap();
        assert_error(response, 400).await;
    }
}

#[tokio::test]
async fn the_pages_show_history_side_by_side_and_escape_it() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let user = app
        .create_user("<script>alert(1)</script>", "xss@example.com")
        .await;
    let id = user["id"].as_i64().unwrap();
    app.api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Safe Name"}))
        .send()
        .await
        .unwrap();
    for path in [
        "/audit".to_owned(),
        format!("/users/{id}/history"),
        format!("/users/{id}"),
    ] {
        let page = app.page(&client, &path, 200).await;
        assert!(!page.contains("<script>alert(1)</script>"), "{path}");
        assert!(
            page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}"
        );
        assert!(page.contains("Safe Name"), "{path}");
        assert!(
            page.contains(&format!("href=\"/users/{id}\"")),
            "{path} links to the subject"
        );
    }
    // The history answers JSON too, for the one user only.
    let (status, history) = app.get_json(&format!("/users/{id}/history")).await;
    assert_eq!(status, 200);
    let subjects: HashSet<i64> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(subjects, HashSet::from([id]));
    // A bad filter on the page is explained, not a 500.
    let response = client
        .get(app.url("/audit?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("since must be a time")
    );
}

#[tokio::test]
async fn the_retention_purge_removes_only_old_events() {
    let app = spawn_app().await;
    app.create_user("Old", "old@example.com").await;
    // Nothing is older than a day yet.
    let purged =
        useradmin::jobs::purge_audit(&app.db, std::time::Duration::from_secs(86_400)).await;
    assert_eq!(purged, Some(0));
    let kept = events(&app, "limit=1000").await.len();
    assert!(kept > 0);
    // With no retention left, everything up to now goes.
    let purged = useradmin::jobs::purge_audit(&app.db, std::time::Duration::ZERO).await;
    assert_eq!(purged, Some(kept as i64));
    assert!(events(&app, "limit=1000").await.is_empty());
}

#[tokio::test]
async fn a_command_line_change_is_recorded_as_the_cli() {
    let app = spawn_app().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_useradmin"))
        .args(["token", "create", "--name", "made on the command line"])
        .env("DATABASE_URL", database_url_for(&app.database_name))
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", &app.key_prefix)
        .env("USER", "operator")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let event = events(&app, "action=token.created&actor=cli")
        .await
        .into_iter()
        .find(|e| e["subject"]["label"] == "made on the command line")
        .expect("the token's creation is recorded");
    assert_eq!(event["via"], "cli");
    assert_eq!(
        event["actor"],
        json!({"kind": "cli", "id": null, "label": "operator"})
    );
}
