//! Hardening, round 3 (operations): a raw-SQL session (Adminer's role, an
//! operator's psql) cannot pass itself off as an admin or remove history; every
//! command that writes is recorded as the command line; the webhook guard reads
//! IPv4-translated addresses as the IPv4 address inside.
//!
//! The service's role in these tests is `postgres`, which runs the migrations
//! and so owns the tables, exactly as the service's role does in a deployment.
//! The raw-SQL role is a second login role, made per test (roles belong to the
//! whole server) and dropped when the test ends, even when it fails.

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::helpers::*;

/// The events of `GET /audit?…` (JSON).
async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/audit?{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
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

    let updated = &events(&app, &format!("subject=user:{id}&limit=1")).await[0];
    assert_eq!(updated["action"], "user.updated");
    assert_eq!(
        updated["actor"],
        json!({"kind": "sql", "id": null, "label": role.name}),
        "{updated}"
    );
    assert_eq!(updated["via"], "sql");
    assert_eq!(updated["request_id"], Value::Null);
    assert_eq!(updated["client_ip"], Value::Null);
    let created = events(&app, "action=user.created&actor=sql").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["subject"]["label"], "smuggled@example.com");
    assert_eq!(created[0]["actor"]["label"], role.name.as_str());
    // Nothing the raw session did is filed under the admin.
    let admins = events(&app, &format!("actor=admin:{}", app.admin_id)).await;
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
    let again = &events(&app, &format!("subject=user:{id}&limit=1")).await[0];
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
    let as_other = &events(&app, &format!("subject=user:{id}&limit=1")).await[0];
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
    let by_token = &events(&app, &format!("subject=user:{id}&limit=1")).await[0];
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
    let before = events(&app, "limit=1000").await.len();
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

    assert_eq!(events(&app, "limit=1000").await.len(), before);
    let (status, kept) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(status, 200, "{kept}");
    let history = events(&app, &format!("subject=user:{id}")).await;
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
    let created = events(&app, "action=user.created&actor=cli").await;
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
    assert!(events(&app, "actor=sql").await.is_empty());
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
    let made = events(&app, "action=user.created&actor=cli")
        .await
        .into_iter()
        .find(|e| e["subject"]["label"] == "operator@example.com")
        .expect("the admin's creation is recorded");
    assert_eq!(
        made["actor"],
        json!({"kind": "cli", "id": null, "label": "operator"})
    );
    assert!(events(&app, "actor=sql").await.is_empty());
}

#[tokio::test]
async fn ipv4_translated_addresses_are_refused_at_registration() {
    let app = spawn_app().await;
    for url in [
        // ::ffff:0:127.0.0.1, ::ffff:0:10.0.0.1 and the metadata service.
        "http://[::ffff:0:7f00:1]/hook",
        "http://[::ffff:0:a00:1]:8080/hook",
        "http://[::ffff:0:a9fe:a9fe]/latest/meta-data",
    ] {
        let response = app
            .api
            .post(app.url("/webhooks"))
            .json(&json!({"url": url, "events": ["user.*"]}))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, 422, "{url}: {body}");
        let message = body["fields"]["url"][0].as_str().unwrap_or_default();
        assert!(message.contains("may not reach"), "{url}: {body}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from webhooks")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}
