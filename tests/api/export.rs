//! Export: every user that matches the list's filters, as CSV or NDJSON, from
//! one snapshot.

use serde_json::{Value, json};

use crate::helpers::*;

async fn export(app: &TestApp, path: &str, accept: Option<&str>) -> reqwest::Response {
    let mut request = app.api.get(app.url(path));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn an_export_holds_exactly_the_users_the_list_shows() {
    let app = spawn_app().await;
    app.seed_users(2_345).await;
    for i in 0..3 {
        let id = app
            .create_user(&format!("Off {i}"), &format!("off{i}@example.com"))
            .await["id"]
            .as_i64()
            .unwrap();
        app.api
            .post(app.url(&format!("/users/{id}/disable")))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
    }
    for filters in [
        "",
        "status=disabled",
        "q=user%2000",
        "sort=-name&is_admin=false",
    ] {
        let (_, list) = app.get_json(&format!("/users?limit=1&{filters}")).await;
        let total = list["total"].as_u64().unwrap() as usize;

        let response = export(&app, &format!("/users/export?format=csv&{filters}"), None).await;
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.starts_with("attachment; filename=\"users-")
                && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        let rows = csv_rows(&response.text().await.unwrap());
        assert_eq!(rows[0][..3], ["id", "name", "email"]);
        assert_eq!(rows.len() - 1, total, "{filters}: every matching user once");
        // In the list's order: its first user first.
        if total > 0 {
            assert_eq!(rows[1][0], list["data"][0]["id"].to_string(), "{filters}");
        }

        // NDJSON by Accept on the list's own route: the API's user objects.
        let response = export(
            &app,
            &format!("/users?{filters}"),
            Some("application/x-ndjson"),
        )
        .await;
        let text = response.text().await.unwrap();
        let users: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(users.len(), total, "{filters}");
        if total > 0 {
            assert_eq!(users[0], list["data"][0], "{filters}");
        }
    }
}

#[tokio::test]
async fn cells_a_spreadsheet_would_run_are_guarded_and_text_survives_byte_for_byte() {
    let app = spawn_app().await;
    let names = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1",
        "-2",
        "@SUM(A1:A9)",
        "\tTabbed",
        "Quote \" and, comma",
        "Emoji 👩‍🚀 and עִבְרִית",
    ];
    for (i, name) in names.iter().enumerate() {
        let response = app
            .api
            .post(app.url("/users"))
            .json(&json!({"name": name, "email": format!("cell{i}@example.com")}))
            .send()
            .await
            .unwrap();
        // Names are stored trimmed; the tab is surrounding white space.
        assert_eq!(response.status(), 201, "{name:?}");
    }
    let response = export(&app, "/users?sort=email&q=cell", Some("text/csv")).await;
    let rows = csv_rows(&response.text().await.unwrap());
    let exported: Vec<&str> = rows[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        exported,
        [
            "'=HYPERLINK(\"http://evil.example\",\"x\")",
            "'+1",
            "'-2",
            "'@SUM(A1:A9)",
            "Tabbed",
            "Quote \" and, comma",
            "Emoji 👩‍🚀 and עִבְרִית",
        ]
    );
    // A reason may span lines; it comes out as it went in.
    let first_id = app.get_json("/users?q=cell0").await.1["data"][0]["id"].clone();
    app.api
        .post(app.url(&format!("/users/{first_id}/disable")))
        .json(&json!({"reason": "Left on 1 May,\n\"for good\""}))
        .send()
        .await
        .unwrap();
    let response = export(&app, "/users/export?format=csv&status=disabled", None).await;
    let rows = csv_rows(&response.text().await.unwrap());
    assert_eq!(rows[1][4], "disabled");
    assert_eq!(rows[1][5], "Left on 1 May,\n\"for good\"");
    // The NDJSON export is the API's data, unguarded.
    let response = export(&app, "/users/export?format=ndjson&sort=email&q=cell", None).await;
    let first: Value =
        serde_json::from_str(response.text().await.unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["name"], names[0]);
}

#[tokio::test]
async fn an_export_during_writes_is_one_snapshot() {
    let app = spawn_app().await;
    app.seed_users(20_000).await;
    // Writers rename every user while the export streams.
    let db = app.db.clone();
    let writer = tokio::spawn(async move {
        for _ in 0..20 {
            sqlx::query("update users set name = name || '!' where id % 7 = 0")
                .execute(&db)
                .await
                .unwrap();
        }
    });
    let response = export(&app, "/users/export?format=csv", None).await;
    let text = response.text().await.unwrap();
    writer.await.unwrap();
    let rows = csv_rows(&text);
    assert_eq!(rows.len() - 1, 20_001);
    // One snapshot: every renamed user carries the same number of marks.
    let marks: std::collections::HashSet<usize> = rows[1..]
        .iter()
        .filter(|r| r[0].parse::<i64>().unwrap() % 7 == 0)
        .map(|r| r[1].matches('!').count())
        .collect();
    assert_eq!(marks.len(), 1, "marks seen: {marks:?}");
}

/// Export parameters refused with a 400: an unknown format, filter value or sort.
const BAD_EXPORT_QUERIES: &[&str] = &["format=xlsx", "status=asleep", "sort=-"];

#[tokio::test]
async fn a_bad_export_request_is_a_400_and_strangers_get_nothing() {
    let app = spawn_app().await;
    for bad in BAD_EXPORT_QUERIES {
        assert_get_refused(&app, &format!("/users/export?{bad}"), 400).await;
    }
    let response = app
        .anonymous
        .get(app.url("/users/export?format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // The list page offers both, keeping its search.
    let client = browser();
    app.log_in_as_admin(&client).await;
    let page = app.page(&client, "/users?q=admin&status=active", 200).await;
    // (Askama writes `&` as `&#38;` inside the value; a browser reads both as `&`.)
    let decoded = page.replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        decoded.contains("/users/export?format=csv&q=admin&sort=id&status=active"),
        "{page}"
    );
    assert!(page.contains("/users/export?format=ndjson&amp;"));
}

#[tokio::test]
async fn the_command_line_writes_the_same_export_to_standard_output() {
    let app = spawn_app().await;
    app.seed_users(1_500).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_useradmin"))
            .arg("export")
            .args(args)
            .env("DATABASE_URL", database_url_for(&app.database_name))
            .env("REDIS_URL", redis_url())
            .env("REDIS_KEY_PREFIX", &app.key_prefix)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let output = run(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let http = export(&app, "/users/export?format=csv", None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        http,
        "the same bytes"
    );
    let output = run(&["--format", "ndjson", "--q", "user 0001"]);
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "user 0001");
    let output = run(&["--format", "xlsx"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--format"));
}
