//! The audit trail: recorded by the database for every change,
//! whoever made it, append-only, and read through `/audit` and a user's history.
//! A raw-SQL session (Adminer's role, an operator's psql) cannot pass itself off
//! as an admin or remove history, and every command that writes is recorded as
//! the command line.
//!
//! The service's role in these tests is `postgres`, which runs the migrations
//! and so owns the tables, exactly as the service's role does in a deployment.
//! The raw-SQL role is a second login role, made per test (roles belong to the
//! whole server) and dropped when the test ends, even when it fails.

use std::collections::HashSet;

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::helpers::*;

/// The newest event of a subject.
async fn latest(app: &TestApp, subject: &str) -> Value {
    audit_events(app, &format!("subject={subject}&limit=1"))
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
    let before = audit_events(&app, &format!("subject={subject}"))
        .await
        .len();
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"email": "not an email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        audit_events(&app, &format!("subject={subject}"))
            .await
            .len(),
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
    let logins = audit_events(&app, "action=login.").await;
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
    assert_eq!(audit_events(&app, "action=logout").await.len(), 1);
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
    assert!(!audit_events(&app, "action=user.created").await.is_empty());
}

/// Malformed filters of `/audit`, each a 400 (not a 500).
const BAD_AUDIT_FILTERS: &[&str] = &[
    "subject=user",
    "actor=root",
    "since=yesterday",
    "action=user%25",
    "after=x",
    "limit=0",
];

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

    let all = audit_events(&app, "action=user.created&limit=1000").await;
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
    let theirs = audit_events(&app, &format!("actor=token:{token_id}")).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["subject"]["label"], "other-made@example.com");
    assert!(
        audit_events(&app, &format!("actor=admin:{other_id}"))
            .await
            .is_empty()
    );
    // By action prefix, and by time.
    assert!(
        audit_events(&app, "action=token.")
            .await
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("token."))
    );
    assert!(
        audit_events(&app, "since=2999-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(
        audit_events(
            &app,
            "until=2999-01-01T00:00:00Z&action=user.created&limit=1000"
        )
        .await
        .len(),
        all.len()
    );
    // Malformed filters are a 400, not a 500.
    for bad in BAD_AUDIT_FILTERS {
        assert_get_refused(&app, &format!("/audit?{bad}"), 400).await;
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
    let kept = audit_events(&app, "limit=1000").await.len();
    assert!(kept > 0);
    // With no retention left, everything up to now goes.
    let purged = useradmin::jobs::purge_audit(&app.db, std::time::Duration::ZERO).await;
    assert_eq!(purged, Some(kept as i64));
    assert!(audit_events(&app, "limit=1000").await.is_empty());
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
    let event = audit_events(&app, "action=token.created&actor=cli")
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

/// A login role other than the service's, with every privilege a raw-SQL
/// console could be given on the service's tables (more than
/// deploy/kubernetes/sql-operator-role.sql grants: the triggers must hold on
/// their own).
struct RawRole {
    name: String,
    database: String,
}

impl RawRole {
    async fn create(app: &TestApp) -> Self {
        let name = format!(
            "ua_raw_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        // The names are made here of [a-z0-9_]; nothing to quote. `{name}_as`
        // is a role it may SET ROLE to, with the same privileges.
        for statement in [
            format!("create role {name} login password 'raw-sql-console'"),
            format!("create role {name}_as nologin"),
            format!("grant {name}_as to {name}"),
            format!(
                "grant select, insert, update, delete, truncate on all tables in schema public \
                 to {name}, {name}_as"
            ),
            format!("grant usage, select on all sequences in schema public to {name}, {name}_as"),
        ] {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&app.db)
                .await
                .unwrap();
        }
        Self {
            name,
            database: app.database_name.clone(),
        }
    }

    /// A connection logged in as this role.
    async fn connect(&self) -> PgConnection {
        let mut url = url::Url::parse(&database_url_for(&self.database)).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(Some("raw-sql-console")).unwrap();
        PgConnection::connect(url.as_str()).await.unwrap()
    }
}

impl Drop for RawRole {
    fn drop(&mut self) {
        // The role's privileges live in the test's database; they go first.
        let (name, url) = (self.name.clone(), database_url_for(&self.database));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let db = PgPool::connect(&url).await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "drop owned by {name}, {name}_as; drop role {name}; drop role {name}_as"
                )))
                .execute(&db)
                .await?;
                db.close().await;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test role {}: {dropped:?}", self.name);
        }
    }
}

/// What the service tells the triggers for an admin's page write.
fn admin_actor(app: &TestApp) -> String {
    json!({
        "kind": "admin", "id": app.admin_id, "label": ADMIN_EMAIL, "via": "session",
        "request_id": "forged", "client_ip": "203.0.113.7"
    })
    .to_string()
}

#[tokio::test]
async fn raw_sql_is_recorded_as_its_role_whatever_actor_it_claims() {
    let app = spawn_app().await;
    let role = RawRole::create(&app).await;
    let user = app.create_user("Grace", "grace@example.com").await;
    let id = user["id"].as_i64().unwrap();

    // A cached page, which the raw change must not leave standing.
    let (_, page) = app.get_json("/users").await;
    assert_eq!(page["total"], 2);

    let mut raw = role.connect().await;
    let mut tx = raw.begin().await.unwrap();
    sqlx::query("select set_config('useradmin.actor', $1, true)")
        .bind(admin_actor(&app))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update users set name = 'Renamed by raw SQL' where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("insert into users (name, email) values ('Smuggled', 'smuggled@example.com')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Its claimed actor does not keep the instances from hearing of it (the
    // service announces its own writes itself; raw SQL is notified).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let (_, page) = app.get_json("/users").await;
        if page["total"] == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the list still shows {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let updated = &audit_events(&app, &format!("subject=user:{id}&limit=1")).await[0];
    assert_eq!(updated["action"], "user.updated");
    assert_eq!(
        updated["actor"],
        json!({"kind": "sql", "id": null, "label": role.name}),
        "{updated}"
    );
    assert_eq!(updated["via"], "sql");
    assert_eq!(updated["request_id"], Value::Null);
    assert_eq!(updated["client_ip"], Value::Null);
    let created = audit_events(&app, "action=user.created&actor=sql").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["subject"]["label"], "smuggled@example.com");
    assert_eq!(created[0]["actor"]["label"], role.name.as_str());
    // Nothing the raw session did is filed under the admin.
    let admins = audit_events(&app, &format!("actor=admin:{}", app.admin_id)).await;
    assert!(admins.is_empty(), "{admins:?}");

    // Nor can it write an event of its own that names somebody else.
    let forged = sqlx::query(
        "insert into audit_events (actor_kind, actor_id, actor_label, via, action, \
         subject_type, subject_id, subject_label) \
         values ('admin', $1, $2, 'session', 'user.updated', 'user', $3, 'grace@example.com')",
    )
    .bind(app.admin_id)
    .bind(ADMIN_EMAIL)
    .bind(id)
    .execute(&mut raw)
    .await
    .expect_err("a raw insert into the trail");
    assert!(forged.to_string().contains("audit_events"), "{forged}");

    // A temporary table named like the trail (searched first by default) does
    // not divert the events of its changes.
    sqlx::raw_sql("create temporary table audit_events (like public.audit_events)")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("update users set name = 'Renamed again' where id = $1")
        .bind(id)
        .execute(&mut raw)
        .await
        .unwrap();
    let again = &audit_events(&app, &format!("subject=user:{id}&limit=1")).await[0];
    assert_eq!(
        again["changes"]["name"],
        json!(["Renamed by raw SQL", "Renamed again"])
    );
    assert_eq!(again["actor"]["label"], role.name.as_str());

    // SET ROLE changes current_user, not who logged in: the login is recorded.
    sqlx::raw_sql(AssertSqlSafe(format!("set role {}_as", role.name)))
        .execute(&mut raw)
        .await
        .unwrap();
    let current: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(current, format!("{}_as", role.name));
    sqlx::query("update users set name = 'Renamed as another role' where id = $1")
        .bind(id)
        .execute(&mut raw)
        .await
        .unwrap();
    let as_other = &audit_events(&app, &format!("subject=user:{id}&limit=1")).await[0];
    assert_eq!(as_other["actor"]["label"], role.name.as_str(), "{as_other}");
    raw.close().await.unwrap();

    // The service's own writes keep their actors.
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Grace Hopper"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let by_token = &audit_events(&app, &format!("subject=user:{id}&limit=1")).await[0];
    assert_eq!(by_token["actor"]["kind"], "token", "{by_token}");
    assert_eq!(by_token["actor"]["label"], "tests");
    assert_eq!(by_token["via"], "token");
}

#[tokio::test]
async fn raw_sql_cannot_purge_or_erase_even_with_the_maintenance_setting() {
    let app = spawn_app().await;
    let role = RawRole::create(&app).await;
    let user = app.create_user("Ada", "ada@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let before = audit_events(&app, "limit=1000").await.len();
    assert!(before > 0);

    let mut raw = role.connect().await;
    for statement in [
        "delete from audit_events",
        "update audit_events set actor_label = 'nobody'",
    ] {
        let mut tx = raw.begin().await.unwrap();
        sqlx::query("select set_config('useradmin.audit_maintenance', 'on', true)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let error = sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .expect_err(statement);
        assert!(error.to_string().contains("append-only"), "{error}");
        tx.rollback().await.unwrap();
    }
    let error = sqlx::query("select audit_purge(now())")
        .execute(&mut raw)
        .await
        .expect_err("the retention purge");
    assert!(error.to_string().contains("may purge"), "{error}");
    let error = sqlx::query("select user_purge($1)")
        .bind(id)
        .execute(&mut raw)
        .await
        .expect_err("erasure");
    assert!(error.to_string().contains("may erase"), "{error}");
    raw.close().await.unwrap();

    assert_eq!(audit_events(&app, "limit=1000").await.len(), before);
    let (status, kept) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(status, 200, "{kept}");
    let history = audit_events(&app, &format!("subject=user:{id}")).await;
    assert_eq!(history[0]["subject"]["label"], "ada@example.com");

    // The service's role still purges (and erases, tests/api/lifecycle.rs).
    let purged = useradmin::jobs::purge_audit(&app.db, std::time::Duration::ZERO).await;
    assert_eq!(purged, Some(before as i64));
}

/// Runs the binary against the test's database and Redis as the OS user
/// `operator`.
fn command_line(app: &TestApp, env: &[(&str, &str)], args: &[&str]) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_useradmin"));
    command
        .args(args)
        .env("DATABASE_URL", database_url_for(&app.database_name))
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", &app.key_prefix)
        .env("USER", "operator")
        .env_remove("ADMIN_PASSWORD")
        .env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn seed_demo_and_create_admin_are_recorded_as_the_command_line() {
    let app = spawn_app().await;
    // A cached first page, which the seed must move past.
    let (_, page) = app.get_json("/users").await;
    assert_eq!(page["total"], 1);

    command_line(&app, &[], &["seed-demo", "--count", "3"]);
    let created = audit_events(&app, "action=user.created&actor=cli").await;
    let seeded: Vec<&Value> = created
        .iter()
        .filter(|e| e["actor"]["label"] == "operator")
        .collect();
    assert_eq!(seeded.len(), 3, "{created:?}");
    for event in &seeded {
        assert_eq!(
            event["actor"],
            json!({"kind": "cli", "id": null, "label": "operator"})
        );
        assert_eq!(event["via"], "cli");
    }
    assert!(audit_events(&app, "actor=sql").await.is_empty());
    let (_, page) = app.get_json("/users").await;
    assert_eq!(page["total"], 4, "the list sees the seeded users");

    command_line(
        &app,
        &[("ADMIN_PASSWORD", "a new admin's password")],
        &[
            "create-admin",
            "--email",
            "operator@example.com",
            "--name",
            "Operator",
        ],
    );
    let made = audit_events(&app, "action=user.created&actor=cli")
        .await
        .into_iter()
        .find(|e| e["subject"]["label"] == "operator@example.com")
        .expect("the admin's creation is recorded");
    assert_eq!(
        made["actor"],
        json!({"kind": "cli", "id": null, "label": "operator"})
    );
    assert!(audit_events(&app, "actor=sql").await.is_empty());
}

/// The JSON API takes what the page's form sends as well as RFC 3339 and
/// `admin:<id>`: an admin's email, a day and a time without a zone (UTC).
#[tokio::test]
async fn filters_take_an_email_and_times_as_a_form_sends_them() {
    let app = spawn_app().await;
    app.create_user("Ann", "ann@example.com").await;
    let client = crate::helpers::browser();
    app.log_in_as_admin(&client).await;
    let csrf = app.csrf(&client).await;
    let form = crate::helpers::UserForm::new(&csrf, "Bob", "bob@example.com");
    let response = crate::helpers::submit_user_form(client.post(app.url("/users")), form).await;
    assert_eq!(response.status(), 303);
    let by_id = audit_events(&app, &format!("actor=admin:{}", app.admin_id)).await;
    assert!(!by_id.is_empty());
    let by_email = audit_events(&app, &format!("actor={}", ADMIN_EMAIL.to_uppercase())).await;
    assert_eq!(by_email, by_id);
    let now = time::OffsetDateTime::now_utc();
    let day = now.date();
    let minute = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]"
        ))
        .unwrap();
    let today = audit_events(&app, &format!("since={day}&until={day}")).await;
    assert!(!today.is_empty(), "until a day includes that day");
    let created = audit_events(&app, "action=user.created").await;
    let later = audit_events(&app, &format!("action=user.created&since={minute}")).await;
    assert!(later.len() <= created.len());
    let tomorrow = day.next_day().unwrap();
    assert!(
        audit_events(&app, &format!("since={tomorrow}"))
            .await
            .is_empty()
    );
    assert!(
        audit_events(&app, "actor=nobody@example.com")
            .await
            .is_empty()
    );
}
