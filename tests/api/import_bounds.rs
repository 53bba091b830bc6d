//! Import under load and attack: a file of any size is planned in bounded
//! memory, reports list the first rows of each kind, a session keeps one
//! preview, a real-sized upload passes the CSRF check, and values the database
//! cannot hold are row errors rather than server errors.

use serde_json::Value;

use crate::helpers::*;
use crate::import::{import, plan_in, upload_form};

/// The keys this instance keeps for previewed imports.
fn pending_keys(app: &TestApp) -> Vec<String> {
    redis_keys(&format!("{}import:*", app.key_prefix))
}

/// A CSV of `rows` new users, each row about 80 bytes.
fn people(rows: usize, prefix: &str) -> String {
    let mut csv = String::from("name,email\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "Person {i} {},{prefix}{i}@example.com\n",
            "x".repeat(40)
        ));
    }
    csv
}

async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    csrf: &str,
    name: &str,
    csv: &str,
) -> (u16, String) {
    let (media, body) = upload_form(Some(csrf), name, csv);
    let response = client
        .post(app.url("/users/import"))
        .header("content-type", media)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_real_sized_upload_passes_the_csrf_check_and_a_session_keeps_one_preview() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let csrf = csrf_in(&app.page(&client, "/users/import", 200).await);

    // About 400 KiB: its first chunk holds the token and far more than 8 KiB.
    let first = people(5_000, "first");
    assert!(first.len() > 300 * 1024);
    let (status, preview) = upload(&app, &client, &csrf, "first.csv", &first).await;
    assert_eq!(status, 200, "{preview}");
    assert!(preview.contains("Import 5000 changes"), "{preview}");
    let first_plan = plan_in(&preview).expect("a confirm form");
    assert_eq!(pending_keys(&app).len(), 1);

    // A second upload replaces the first preview: one kept file per session.
    let second = people(3, "second");
    let (status, preview) = upload(&app, &client, &csrf, "second.csv", &second).await;
    assert_eq!(status, 200, "{preview}");
    let second_plan = plan_in(&preview).expect("a confirm form");
    let kept = pending_keys(&app);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].ends_with(&second_plan));

    let response = client
        .post(app.url("/users/import/confirm"))
        .form(&[("csrf_token", csrf.as_str()), ("plan", first_plan.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        409,
        "the replaced preview cannot be confirmed"
    );
    let response = client
        .post(app.url("/users/import/confirm"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("plan", second_plan.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users/import/done");
    assert_eq!(app.user_count().await, 4);
    assert!(
        pending_keys(&app).is_empty(),
        "a confirmed file is not kept"
    );

    // A file with errors is not kept at all, and drops the one before.
    let (status, _) = upload(&app, &client, &csrf, "again.csv", &people(2, "again")).await;
    assert_eq!(status, 200);
    let (status, _) = upload(&app, &client, &csrf, "bad.csv", "name,email\nNo,nobody\n").await;
    assert_eq!(status, 422);
    assert!(pending_keys(&app).is_empty());
}

#[tokio::test]
async fn reports_and_previews_list_the_first_thousand_errors_and_count_them_all() {
    let app = spawn_app().await;
    let mut csv = String::from("name,email\n");
    for i in 0..3_000 {
        csv.push_str(&format!("Bad {i},not-an-email-{i}\n"));
    }
    csv.push_str("Good,good@example.com\n");
    let response = app
        .api
        .post(app.url("/users/import?dry_run=true"))
        .header("content-type", "text/csv")
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    let (status, report) = json_of(response).await;
    assert_eq!(status, 422);
    assert_eq!(report["counts"]["error"], 3_000);
    assert_eq!(report["counts"]["create"], 1);
    let rows = report["rows"].as_array().unwrap();
    let errors: Vec<&Value> = rows.iter().filter(|r| r["action"] == "error").collect();
    assert_eq!(errors.len(), 1_000);
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[999]["line"], 1_001);
    assert_eq!(report["omitted_rows"], 2_000);
    // The valid row is listed too: its kind has room.
    assert_eq!(rows.last().unwrap()["email"], "good@example.com");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("3000 rows are invalid; nothing was imported (the first 1000 are listed)"),
        "{}",
        report["error"]
    );

    let client = browser();
    app.log_in_as_admin(&client).await;
    let csrf = csrf_in(&app.page(&client, "/users/import", 200).await);
    let (status, preview) = upload(&app, &client, &csrf, "bad.csv", &csv).await;
    assert_eq!(status, 422);
    assert!(
        preview.contains("Rows with errors (the first 1000 of 3000)"),
        "{}",
        &preview[..2000.min(preview.len())]
    );
    assert_eq!(preview.matches("not-an-email-").count(), 1_000);
}

#[tokio::test]
async fn a_nul_in_an_external_id_is_a_row_error_not_a_server_error() {
    let app = spawn_app().await;
    let file = "name,email,external_id\nAda,ada@example.com,ok-1\nBob,bob@example.com,bad\u{0}id\n";
    let (status, report) = import(&app, "", "text/csv", file).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["rows"][1]["line"], 3);
    assert!(
        report["rows"][1]["errors"]["external_id"].is_array(),
        "{report}"
    );
    let ndjson = "{\"name\":\"Cy\",\"email\":\"cy@example.com\",\"external_id\":\"x\\u0000y\"}\n";
    let (status, report) = import(&app, "?dry_run=true", "application/x-ndjson", ndjson).await;
    assert_eq!(status, 422, "{report}");
    assert!(
        report["rows"][0]["errors"]["external_id"].is_array(),
        "{report}"
    );
    assert_eq!(app.user_count().await, 1, "nothing was written");
}

#[tokio::test]
async fn an_import_cannot_leave_only_admins_without_a_password() {
    let app = spawn_app().await;
    // An admin made through the API has no password: it cannot log in.
    let response = app
        .api
        .post(app.url("/users"))
        .json(&serde_json::json!({"name": "No Login", "email": "nologin@example.com", "is_admin": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let file = format!("email,is_admin\n{ADMIN_EMAIL},false\n");
    let response = app
        .api
        .post(app.url("/users/import"))
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    let (status, report) = json_of(response).await;
    assert_eq!(status, 422, "{report}");
    assert!(
        report["rows"][0]["errors"]["is_admin"][0]
            .as_str()
            .unwrap()
            .contains("last active admin"),
        "{report}"
    );
    let still_admin: bool = sqlx::query_scalar("select is_admin from users where email = $1")
        .bind(ADMIN_EMAIL)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(still_admin);
}
