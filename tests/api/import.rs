//! Import: CSV, NDJSON or a JSON array in, matched by email, planned, applied
//! all or nothing; an export imported again changes nothing.

use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::*;

/// Sends `body` to `POST /users/import{query}` as `media` with the admin's token.
pub(crate) async fn import(
    app: &TestApp,
    query: &str,
    media: &str,
    body: impl Into<String>,
) -> (u16, Value) {
    let response = app
        .api
        .post(app.url(&format!("/users/import{query}")))
        .header("content-type", media)
        .body(body.into())
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn export(app: &TestApp, format: &str) -> String {
    let response = app
        .api
        .get(app.url(&format!("/users/export?format={format}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn versions(app: &TestApp) -> Vec<(i64, i32)> {
    sqlx::query_as("select id, version from users order by id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn user_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn rows_create_update_or_leave_users_and_a_dry_run_writes_nothing() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada", "ada@example.com").await;
    let file =
        "name,email,is_admin\r\nAda Lovelace,ADA@example.com,false\r\nBob,bob@example.com,\r\n";
    // An empty is_admin cell is not a value: the row is refused, nothing written.
    let (status, report) = import(&app, "", "text/csv", file).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["rows"][1]["line"], 3);
    assert!(
        report["rows"][1]["errors"]["is_admin"].is_array(),
        "{report}"
    );
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("nothing was imported")
    );

    let file = "name,email\r\nAda Lovelace,ADA@example.com\r\nBob,bob@example.com\r\n";
    let before = versions(&app).await;
    let (status, plan) = import(&app, "?dry_run=true", "text/csv", file).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["applied"], false);
    assert_eq!(
        plan["counts"],
        json!({"create": 1, "update": 1, "unchanged": 0, "error": 0})
    );
    assert_eq!(plan["rows"][0]["action"], "update");
    assert_eq!(plan["rows"][0]["id"], ada["id"]);
    assert_eq!(
        plan["rows"][0]["changes"]["name"],
        json!(["Ada", "Ada Lovelace"])
    );
    assert_eq!(plan["rows"][1]["action"], "create");
    assert_eq!(versions(&app).await, before, "a dry run writes nothing");

    let (status, done) = import(&app, "", "text/csv", file).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["applied"], true);
    let (_, shown) = app.get_json(&format!("/users/{}", ada["id"])).await;
    assert_eq!(shown["name"], "Ada Lovelace");
    assert_eq!(
        shown["email"], "ada@example.com",
        "the email is the key, not a change"
    );
    assert_eq!(shown["version"], ada["version"].as_i64().unwrap() + 1);
    // One cache bump: the list shows the new user at once.
    let (_, list) = app.get_json("/users?q=bob").await;
    assert_eq!(list["total"], 1);
    let bob = &list["data"][0];
    assert_eq!(bob["is_admin"], false);
    assert_eq!(bob["status"], "active");

    // The audit trail: one event per changed user, by import, and one summary.
    let (_, audit) = app.get_json(done["audit"].as_str().unwrap()).await;
    let events = audit["data"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 3, "{audit}");
    assert!(actions.contains(&"users.imported"));
    assert!(actions.contains(&"user.created"));
    assert!(actions.contains(&"user.updated"));
    assert!(events.iter().all(|e| e["via"] == "import"), "{audit}");
}

#[tokio::test]
async fn hostile_and_unusual_text_survives_an_export_and_import_byte_for_byte() {
    let app = spawn_app().await;
    let names = [
        "=HYPERLINK(\"http://evil\",\"x\")",
        "+1",
        "-2",
        "@SUM(A1)",
        "'=already quoted",
        "O'Brien, \"Bob\"",
        "Zoë 🎉 emoji",
        "שלום עולם",
        "'",
    ];
    for (i, name) in names.iter().enumerate() {
        let created = app.create_user(name, &format!("u{i}@example.com")).await;
        assert_eq!(created["name"], *name);
    }
    let id: i64 = sqlx::query_scalar("select id from users where email = 'u0@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    app.api
        .post(app.url(&format!("/users/{id}/disable")))
        .json(&json!({"reason": "line one\nline two, \"quoted\"\r\n\ttabbed"}))
        .send()
        .await
        .unwrap();
    // A name typed into the database by hand, which the forms would refuse.
    app.create_user("Hand", "hand@example.com").await;
    sqlx::query("update users set name = 'two\nlines', external_id = '-ext 1' where email = 'hand@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    let before = versions(&app).await;
    for (format, media) in [("csv", "text/csv"), ("ndjson", "application/x-ndjson")] {
        let file = export(&app, format).await;
        if format == "csv" {
            assert!(file.contains("\"'=HYPERLINK("), "{file}");
            assert!(
                file.contains(",'+1,") && file.contains(",'-2,") && file.contains(",'@SUM(A1),"),
                "{file}"
            );
            assert!(file.contains(",''=already quoted,"), "{file}");
        }
        let (status, report) = import(&app, "", media, file).await;
        assert_eq!(status, 200, "{format}: {report}");
        let counts = &report["counts"];
        assert_eq!(
            counts["unchanged"].as_u64().unwrap() as usize,
            names.len() + 2,
            "{format}: {report}"
        );
        assert_eq!(counts["create"], 0);
        assert_eq!(counts["update"], 0);
        assert_eq!(versions(&app).await, before, "{format}: no version moves");
    }
    // The JSON array of the list's own objects, too.
    let (_, list) = app.get_json("/users?limit=100").await;
    let (status, report) = import(&app, "", "application/json", list["data"].to_string()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["counts"]["unchanged"].as_u64().unwrap() as usize,
        names.len() + 2
    );
    assert_eq!(versions(&app).await, before);
}

#[tokio::test]
async fn one_bad_row_among_ten_thousand_writes_nothing_and_names_its_line() {
    let app = spawn_app().await;
    let mut file = String::from("name,email\n");
    for i in 0..10_000 {
        if i == 6_789 {
            file.push_str("Broken,not-an-email\n");
        } else {
            file.push_str(&format!("User {i},user{i}@example.com\n"));
        }
    }
    let before = user_count(&app).await;
    let (status, report) = import(&app, "", "text/csv", file.clone()).await;
    assert_eq!(status, 422, "{}", report["error"]);
    assert_eq!(report["counts"]["error"], 1);
    let bad: Vec<&Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["action"] == "error")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["line"], 6_791, "the header is line 1");
    assert!(bad[0]["errors"]["email"].is_array());
    assert_eq!(user_count(&app).await, before, "nothing was written");

    // Fixed, it goes in whole; imported again, nothing moves.
    let file = file.replace("Broken,not-an-email", "Fixed,fixed@example.com");
    let (status, report) = import(&app, "", "text/csv", file.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(report["counts"]["create"], 10_000);
    assert_eq!(user_count(&app).await, before + 10_000);
    let versions_before = versions(&app).await;
    let (status, report) = import(&app, "", "text/csv", file).await;
    assert_eq!(status, 200);
    assert_eq!(report["counts"]["unchanged"], 10_000);
    assert_eq!(versions(&app).await, versions_before);
}

#[tokio::test]
async fn malformed_files_name_their_line_and_large_ones_are_413() {
    let app = spawn_app_with(Options {
        env: vec![("IMPORT_MAX_BYTES", "2048".into())],
        ..Options::default()
    })
    .await;
    let cases = [
        (
            "text/csv",
            "name,email\nAda,ada@x.com\n\"Bob,bob@x.com\nCy,cy@x.com\n",
            "line 3",
        ),
        ("text/csv", "name,emial\nAda,ada@x.com\n", "line 1"),
        (
            "text/csv",
            "name,email,password\nAda,ada@x.com,secret\n",
            "passwords",
        ),
        (
            "application/x-ndjson",
            "{\"email\":\"a@x.com\"}\n{oops}\n",
            "line 2",
        ),
        ("application/json", "[{\"email\":\"a@x.com\"}, 7]", "line 2"),
        ("application/json", "{\"email\":\"a@x.com\"}", "array"),
        ("text/csv", "name,email\n", "no users"),
    ];
    for (media, body, expected) in cases {
        let response = app
            .api
            .post(app.url("/users/import"))
            .header("content-type", media)
            .body(body)
            .send()
            .await
            .unwrap();
        let error = assert_error(response, 400).await;
        assert!(
            error["error"].as_str().unwrap().contains(expected),
            "{body:?}: {error}"
        );
    }
    let response = app
        .api
        .post(app.url("/users/import"))
        .header("content-type", "text/plain")
        .body("name,email\n")
        .send()
        .await
        .unwrap();
    let error = assert_error(response, 415).await;
    // It names the formats the import takes, not those of other routes.
    let message = error["error"].as_str().unwrap();
    for format in ["CSV", "NDJSON", "JSON", "text/csv"] {
        assert!(message.contains(format), "{message}");
    }
    let big = format!(
        "name,email\n{}",
        "Someone,someone@example.com\n".repeat(100)
    );
    let response = app
        .api
        .post(app.url("/users/import"))
        .header("content-type", "text/csv")
        .body(big)
        .send()
        .await
        .unwrap();
    let error = assert_error(response, 413).await;
    assert_eq!(
        error["error"],
        "the file is larger than the import limit of 2 KiB (IMPORT_MAX_BYTES)"
    );
    // Far over it: refused on its declared length, still naming the import's limit.
    let response = app
        .api
        .post(app.url("/users/import"))
        .header("content-type", "text/csv")
        .body(format!("name,email\n{}", "x".repeat(200 * 1024)))
        .send()
        .await
        .unwrap();
    let error = assert_error(response, 413).await;
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("IMPORT_MAX_BYTES"),
        "{error}"
    );
    // Sent in large chunks without a length: the first one passes every limit.
    let chunks = futures::stream::iter(
        (0..3).map(|_| Ok::<_, std::io::Error>(format!("Someone,{}\n", "x".repeat(100 * 1024)))),
    );
    let response = app
        .api
        .post(app.url("/users/import"))
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(
            futures::stream::once(async { Ok::<_, std::io::Error>("name,email\n".to_owned()) })
                .chain(chunks),
        ))
        .send()
        .await
        .unwrap();
    let error = assert_error(response, 413).await;
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("IMPORT_MAX_BYTES"),
        "{error}"
    );
    // Sent in chunks without a length, too.
    let chunks = futures::stream::iter(
        (0..100).map(|_| Ok::<_, std::io::Error>("Someone,someone@example.com\n")),
    );
    let response = app
        .api
        .post(app.url("/users/import"))
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(
            futures::stream::once(async { Ok::<_, std::io::Error>("name,email\n") }).chain(chunks),
        ))
        .send()
        .await
        .unwrap();
    assert_error(response, 413).await;
}

#[tokio::test]
async fn the_last_admin_cannot_be_imported_away_and_lifecycle_fields_are_checked() {
    let app = spawn_app().await;
    let (status, report) = import(
        &app,
        "",
        "application/x-ndjson",
        format!("{{\"email\":\"{ADMIN_EMAIL}\",\"is_admin\":false}}\n"),
    )
    .await;
    assert_eq!(status, 422, "{report}");
    assert!(
        report["rows"][0]["errors"]["is_admin"][0]
            .as_str()
            .unwrap()
            .contains("last active admin")
    );
    let (status, report) = import(
        &app,
        "",
        "application/x-ndjson",
        "{\"email\":\"x@example.com\",\"name\":\"X\",\"status\":\"active\",\"disabled_reason\":\"why\"}\n\
         {\"email\":\"y@example.com\",\"name\":\"Y\",\"status\":\"asleep\"}\n\
         {\"email\":\"z@example.com\"}\n",
    )
    .await;
    assert_eq!(status, 422, "{report}");
    assert!(report["rows"][0]["errors"]["disabled_reason"].is_array());
    assert!(report["rows"][1]["errors"]["status"].is_array());
    assert!(
        report["rows"][2]["errors"]["name"][0]
            .as_str()
            .unwrap()
            .contains("required to create")
    );
    // Disabling through an import locks the account out like any disable.
    let user = app.create_user("Dee", "dee@example.com").await;
    let (status, _) = import(
        &app,
        "",
        "text/csv",
        "email,status,disabled_reason\ndee@example.com,disabled,left the company\n",
    )
    .await;
    assert_eq!(status, 200);
    let (_, shown) = app.get_json(&format!("/users/{}", user["id"])).await;
    assert_eq!(shown["status"], "disabled");
    assert_eq!(shown["disabled_reason"], "left the company");
    assert!(shown["disabled_at"].is_string());
}

#[tokio::test]
async fn the_command_line_imports_a_file_of_any_size_and_reports_like_the_api() {
    let app = spawn_app_with(Options {
        env: vec![("IMPORT_MAX_BYTES", "1024".into())],
        ..Options::default()
    })
    .await;
    let dir = std::env::temp_dir().join(format!("ua-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("people.ndjson");
    let mut lines = String::new();
    for i in 0..1200 {
        lines.push_str(&format!(
            "{{\"name\":\"P {i}\",\"email\":\"p{i}@example.com\"}}\n"
        ));
    }
    assert!(lines.len() > 1024, "larger than the HTTP limit");
    std::fs::write(&file, &lines).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_useradmin"))
            .arg("import")
            .args(args)
            .env("DATABASE_URL", database_url_for(&app.database_name))
            .env("REDIS_URL", redis_url())
            .env("REDIS_KEY_PREFIX", &app.key_prefix)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let before = user_count(&app).await;
    let output = run(&[file.to_str().unwrap(), "--dry-run"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["counts"]["create"], 1200);
    assert_eq!(user_count(&app).await, before, "a dry run writes nothing");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dry run, nothing written: 1,200 to create"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("rows read"),
        "no progress bar off a terminal: {stderr}"
    );

    let output = run(&[file.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(user_count(&app).await, before + 1200);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("imported: 1,200 created, 0 updated, 0 unchanged"),
        "{stderr}"
    );
    // The running instance heard of it: its list shows them.
    let (_, list) = app.get_json("/users?q=p1").await;
    assert!(list["total"].as_i64().unwrap() >= 100, "{list}");
    let (_, audit) = app.get_json("/audit?action=users.imported").await;
    assert_eq!(audit["data"][0]["actor"]["kind"], "cli");
    assert_eq!(audit["data"][0]["via"], "import");

    // A bad row: exit 1, the line on standard error, nothing written.
    std::fs::write(&file, "{\"name\":\"Q\",\"email\":\"q@example.com\"}\n{\"name\":\"\",\"email\":\"r@example.com\"}\n").unwrap();
    let output = run(&[file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2: name"), "{stderr}");
    assert!(
        stderr.contains("nothing written: 1 row with errors"),
        "{stderr}"
    );
    assert_eq!(user_count(&app).await, before + 1200);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A multipart form as a browser sends it: the CSRF field first, then the file.
pub(crate) fn upload_form(csrf: Option<&str>, file_name: &str, content: &str) -> (String, String) {
    let boundary = "----useradminTestBoundary7MA4YWxk";
    let mut body = String::new();
    if let Some(csrf) = csrf {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{content}\r\n--{boundary}--\r\n"
    ));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The plan a preview page offers to confirm.
pub(crate) fn plan_in(html: &str) -> Option<String> {
    let marker = "name=\"plan\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

#[tokio::test]
async fn a_preview_is_confirmed_only_by_its_session_and_only_while_it_still_holds() {
    let app = spawn_app().await;
    let ada = app.create_user("Ada", "ada@example.com").await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let page = app.page(&client, "/users/import", 200).await;
    let csrf = csrf_in(&page);
    let file = "name,email\nAda L,ada@example.com\nBob,bob@example.com\n";

    // Without the form's token the upload is refused.
    let (media, body) = upload_form(None, "people.csv", file);
    let response = client
        .post(app.url("/users/import"))
        .header("content-type", media)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let (media, body) = upload_form(Some(&csrf), "people.csv", file);
    let response = client
        .post(app.url("/users/import"))
        .header("content-type", media)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let preview = response.text().await.unwrap();
    assert!(preview.contains("Import 2 changes"), "{preview}");
    assert!(preview.contains("Ada L"));
    let plan = plan_in(&preview).expect("a confirm form");
    assert_eq!(user_count(&app).await, 2, "a preview writes nothing");

    // Another session of the same admin cannot confirm it.
    let other = browser();
    app.log_in_as_admin(&other).await;
    let other_csrf = csrf_in(&app.page(&other, "/users/import", 200).await);
    let response = other
        .post(app.url("/users/import/confirm"))
        .form(&[("csrf_token", other_csrf.as_str()), ("plan", plan.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("expired"));

    // Someone changes Ada meanwhile: the confirmation shows the plan as it is now.
    app.api
        .patch(app.url(&format!("/users/{}", ada["id"])))
        .json(&json!({"name": "Ada King"}))
        .send()
        .await
        .unwrap();
    let response = client
        .post(app.url("/users/import/confirm"))
        .form(&[("csrf_token", csrf.as_str()), ("plan", plan.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let again = response.text().await.unwrap();
    assert!(again.contains("changed since the preview"), "{again}");
    assert!(again.contains("Ada King"), "the new old value: {again}");
    assert_eq!(user_count(&app).await, 2);
    let plan = plan_in(&again).expect("a new confirm form");

    let response = client
        .post(app.url("/users/import/confirm"))
        .form(&[("csrf_token", csrf.as_str()), ("plan", plan.as_str())])
        .send()
        .await
        .unwrap();
    // Like every form post that succeeds: 303 to the result, which a reload
    // shows again without importing again.
    assert_redirects_to(&response, "/users/import/done");
    for _ in 0..2 {
        let done = app.page(&client, "/users/import/done", 200).await;
        assert!(done.contains("Import done"), "{done}");
        assert!(done.contains("id=\"count-create\">1<"), "{done}");
    }
    assert_eq!(user_count(&app).await, 3);
    // Once applied, the plan is gone.
    let response = client
        .post(app.url("/users/import/confirm"))
        .form(&[("csrf_token", csrf.as_str()), ("plan", plan.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(user_count(&app).await, 3);
}
