//! Sessions bound to their deployment, race-free login throttling, stateless
//! login forms, demotion that ends access for good, one's own password, and
//! changes made beside the service (raw SQL) seen at once.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// A client that keeps no cookies and follows no redirects: each request says
/// exactly which cookies it carries.
fn bare_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens the login form as a new visitor: its CSRF cookie and form token.
async fn login_form(app: &TestApp) -> (String, String) {
    let response = bare_client()
        .get(app.url("/login"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("useradmin_login_csrf="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("the login form sets its CSRF cookie");
    let token = csrf_in(&response.text().await.unwrap());
    (format!("useradmin_login_csrf={cookie}"), token)
}

async fn post_login(
    app: &TestApp,
    form: &(String, String),
    email: &str,
    password: &str,
) -> StatusCode {
    bare_client()
        .post(app.url("/login"))
        .header("accept", "text/html")
        .header("cookie", &form.0)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &form.1),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

/// Logs in through the form; the session cookie (`useradmin_session=…`) and the
/// session's CSRF token.
async fn session_of(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let form = login_form(app).await;
    let response = bare_client()
        .post(app.url("/login"))
        .header("accept", "text/html")
        .header("cookie", &form.0)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &form.1),
        ])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users");
    let cookie = format!(
        "useradmin_session={}",
        session_cookie(&response).expect("a session cookie")
    );
    let page = bare_client()
        .get(app.url("/users/new"))
        .header("accept", "text/html")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, csrf_in(&page))
}

async fn html_get(app: &TestApp, cookie: &str, path: &str) -> Response {
    bare_client()
        .get(app.url(path))
        .header("accept", "text/html")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn html_status(app: &TestApp, cookie: &str, path: &str) -> StatusCode {
    html_get(app, cookie, path).await.status()
}

async fn json_status(app: &TestApp, cookie: &str, path: &str) -> StatusCode {
    bare_client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// The Redis keys under a prefix (a SCAN, never KEYS).
pub(crate) fn redis_keys(prefix: &str) -> Vec<String> {
    let output = std::process::Command::new("redis-cli")
        .args([
            "-u",
            &redis_url(),
            "--scan",
            "--pattern",
            &format!("{prefix}*"),
        ])
        .output()
        .expect("redis-cli is installed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn cookie_is_refused_by(other: &TestApp, cookie: &str, csrf: &str) {
    // An HTML route sends the foreign session to the login page.
    assert_redirects_to(
        &html_get(other, cookie, "/users").await,
        "/login?next=%2Fusers",
    );
    assert_eq!(
        json_status(other, cookie, "/users").await,
        401,
        "a JSON route refuses the foreign session"
    );
    let users_before = other.user_count().await;
    let response = bare_client()
        .post(other.url("/users"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&json!({"name": "Intruder", "email": "intruder@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        other.user_count().await,
        users_before,
        "nothing was written"
    );
}

#[tokio::test]
async fn a_session_of_one_deployment_never_authenticates_on_another_sharing_its_redis() {
    let a = spawn_app().await;
    let (cookie, csrf) = session_of(&a, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(html_status(&a, &cookie, "/users").await, 200);

    // Another prefix and another database, on the same Redis.
    let b = spawn_app().await;
    cookie_is_refused_by(&b, &cookie, &csrf).await;

    // The same prefix (a misconfiguration), another database: the record is found
    // but it names another deployment.
    let c = spawn_app_with(Options {
        env: vec![("REDIS_KEY_PREFIX", a.key_prefix.clone())],
        ..Default::default()
    })
    .await;
    cookie_is_refused_by(&c, &cookie, &csrf).await;

    // A's own session still works, and its key carries A's prefix.
    assert_eq!(json_status(&a, &cookie, "/users").await, 200);
    let sessions = redis_keys(&format!("{}session:", a.key_prefix));
    assert_eq!(sessions.len(), 1, "{sessions:?}");
}

#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    let app = spawn_app().await;
    let form = login_form(&app).await;
    let attempts = (0..100).map(|_| post_login(&app, &form, ADMIN_EMAIL, "wrong password"));
    let statuses = futures::future::join_all(attempts).await;
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(evaluated <= 5, "{evaluated} passwords were checked");
    assert_eq!(evaluated + refused, 100, "{statuses:?}");
    assert_eq!(
        post_login(&app, &form, ADMIN_EMAIL, ADMIN_PASSWORD).await,
        429,
        "the right password waits too"
    );
}

#[tokio::test]
async fn email_spellings_that_log_in_as_one_account_share_its_attempts() {
    let app = spawn_app().await;
    let form = login_form(&app).await;
    // PostgreSQL's lower() folds U+0130 (İ) to a plain i, so this spelling would
    // log in as the admin; it must count against the admin's attempts.
    for _ in 0..5 {
        assert_eq!(
            post_login(&app, &form, "admİn@example.com", "wrong password").await,
            401
        );
    }
    assert_eq!(
        post_login(&app, &form, ADMIN_EMAIL, ADMIN_PASSWORD).await,
        429
    );
}

#[tokio::test]
async fn the_login_form_keeps_no_server_side_state_and_still_checks_csrf() {
    let app = spawn_app().await;
    let before = redis_keys(&app.key_prefix);
    for _ in 0..200 {
        let response = bare_client()
            .get(app.url("/login"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            session_cookie(&response).is_none(),
            "an anonymous visitor gets no session"
        );
    }
    let after = redis_keys(&app.key_prefix);
    assert_eq!(before.len(), after.len(), "Redis gained keys: {after:?}");

    let (cookie, token) = login_form(&app).await;
    let post = |cookie: Option<String>, token: Option<String>| {
        let mut request = bare_client()
            .post(app.url("/login"))
            .header("accept", "text/html");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let mut form = vec![
            ("email", ADMIN_EMAIL.to_owned()),
            ("password", ADMIN_PASSWORD.to_owned()),
        ];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        request.form(&form).send()
    };
    // No token, no cookie, or a token from another visitor's form: refused.
    let (_, someone_elses) = login_form(&app).await;
    for (cookie, token) in [
        (Some(cookie.clone()), None),
        (None, Some(token.clone())),
        (Some(cookie.clone()), Some(someone_elses)),
    ] {
        let response = post(cookie, token).await.unwrap();
        assert_eq!(response.status(), 403);
        assert!(session_cookie(&response).is_none(), "not logged in");
    }
    // A cookie signed by another deployment is refused even with its own token.
    let other = spawn_app().await;
    let (foreign_cookie, foreign_token) = login_form(&other).await;
    let response = post(Some(foreign_cookie), Some(foreign_token))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // The genuine pair logs in.
    let response = post(Some(cookie), Some(token)).await.unwrap();
    assert_redirects_to(&response, "/users");
    assert!(session_cookie(&response).is_some());
}

#[tokio::test]
async fn promoting_a_demoted_admin_again_gives_back_no_token_and_no_session() {
    let app = spawn_app().await;
    let (id, token) = app.second_admin_with_token().await;
    app.api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"password": "second password"}))
        .send()
        .await
        .unwrap();
    let (cookie, _) = session_of(&app, "second@example.com", "second password").await;
    let with_token = |path: String| bare_client().get(app.url(&path)).bearer_auth(&token).send();
    assert_eq!(with_token("/users".into()).await.unwrap().status(), 200);
    assert_eq!(json_status(&app, &cookie, "/users").await, 200);

    for is_admin in [false, true] {
        let response = app
            .api
            .patch(app.url(&format!("/users/{id}")))
            .json(&json!({ "is_admin": is_admin }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(with_token("/users".into()).await.unwrap().status(), 401);
    assert_eq!(json_status(&app, &cookie, "/users").await, 401);
    assert_redirects_to(
        &html_get(&app, &cookie, "/users").await,
        "/login?next=%2Fusers",
    );
    let (_, tokens) = app.get_json("/tokens").await;
    let second = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "second")
        .unwrap();
    assert!(
        second["revoked_at"].is_string(),
        "the token shows as revoked"
    );
    // The same holds for a demotion typed in SQL.
    let (other_id, other_token) = {
        let created = app
            .api
            .post(app.url("/users"))
            .json(&json!({"name": "Third", "email": "third@example.com", "is_admin": true}))
            .send()
            .await
            .unwrap();
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap();
        (id, app.token_for(id, "third").await)
    };
    for is_admin in [false, true] {
        sqlx::query("update users set is_admin = $2 where id = $1")
            .bind(other_id)
            .bind(is_admin)
            .execute(&app.db)
            .await
            .unwrap();
    }
    let response = bare_client()
        .get(app.url("/users"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn setting_your_own_password_needs_your_current_one() {
    let app = spawn_app().await;
    let own = app.url(&format!("/users/{}", app.admin_id));
    // By token, without or with a wrong current password: refused, unchanged.
    for body in [
        json!({"password": "a new password"}),
        json!({"password": "a new password", "current_password": "not it at all"}),
    ] {
        let response = app.api.patch(&own).json(&body).send().await.unwrap();
        let body = assert_error(response, 422).await;
        assert!(body["fields"]["current_password"].is_array(), "{body}");
    }
    let form = login_form(&app).await;
    assert_eq!(
        post_login(&app, &form, ADMIN_EMAIL, ADMIN_PASSWORD).await,
        303
    );

    // By session, through the edit form, likewise.
    let (cookie, csrf) = session_of(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let edit = bare_client()
        .get(app.url(&format!("/users/{}/edit", app.admin_id)))
        .header("accept", "text/html")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        edit.contains("name=\"current_password\""),
        "the form asks for it"
    );
    let post_own = || {
        bare_client()
            .post(&own)
            .header("accept", "text/html")
            .header("cookie", &cookie)
    };
    let change = UserForm::new(&csrf, "Administrator", ADMIN_EMAIL)
        .admin(true)
        .password("a new password");
    let response = submit_user_form(post_own(), change).await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("is required to change your own password")
    );

    // With it, the change is made, and this session carries on.
    let response = submit_user_form(post_own(), change.current_password(ADMIN_PASSWORD)).await;
    assert_redirects_to(&response, &format!("/users/{}", app.admin_id));
    let renewed = format!(
        "useradmin_session={}",
        session_cookie(&response).expect("the session goes on under a new id")
    );
    assert_eq!(html_status(&app, &renewed, "/users").await, 200);
    let form = login_form(&app).await;
    assert_eq!(
        post_login(&app, &form, ADMIN_EMAIL, ADMIN_PASSWORD).await,
        401
    );
    assert_eq!(
        post_login(&app, &form, ADMIN_EMAIL, "a new password").await,
        303
    );

    // Another admin's password needs no such thing.
    let (other, _) = app.second_admin_with_token().await;
    let response = app
        .api
        .patch(app.url(&format!("/users/{other}")))
        .json(&json!({"password": "set by an admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Polls until `check` holds; the time it took.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not seen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn listed_names(app: &TestApp) -> (Value, Vec<String>) {
    let (status, page) = app.get_json("/users").await;
    assert_eq!(status, 200);
    let names = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    (page["source"].clone(), names)
}

async fn raw_rename(app: &TestApp, id: i64, name: &str) {
    sqlx::query("update users set name = $2 where id = $1")
        .bind(id)
        .bind(name)
        .execute(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_edit_made_in_sql_is_seen_at_once_and_moves_the_etag_on() {
    let app = spawn_app().await;
    let user = app.create_user("Before", "raw@example.com").await;
    let id = user["id"].as_i64().unwrap();
    listed_names(&app).await;
    assert_eq!(listed_names(&app).await.0, "cache");

    raw_rename(&app, id, "Edited in Adminer").await;
    within(Duration::from_secs(1), async || {
        listed_names(&app)
            .await
            .1
            .contains(&"Edited in Adminer".to_owned())
    })
    .await;

    let response = app
        .api
        .get(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["etag"],
        "\"2\"",
        "the raw edit is version 2"
    );
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Overwrite"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        412,
        "a stale If-Match does not overwrite it"
    );
    let (_, fresh) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(fresh["name"], "Edited in Adminer");
    assert_ne!(fresh["updated_at"], user["updated_at"]);
}

#[tokio::test]
async fn a_token_revoked_in_sql_is_refused_at_once() {
    let app = spawn_app().await;
    for _ in 0..2 {
        assert_eq!(app.get_json("/users").await.0, 200);
    }
    sqlx::query("update api_tokens set revoked_at = now() where label = 'tests'")
        .execute(&app.db)
        .await
        .unwrap();
    within(Duration::from_secs(1), async || {
        app.api
            .get(app.url("/users/1"))
            .send()
            .await
            .unwrap()
            .status()
            == 401
    })
    .await;
}

#[tokio::test]
async fn the_instance_listens_again_after_losing_its_connection_and_misses_nothing() {
    let app = spawn_app().await;
    let user = app.create_user("Listener", "listener@example.com").await;
    let id = user["id"].as_i64().unwrap();
    listed_names(&app).await;
    assert_eq!(listed_names(&app).await.0, "cache");

    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = $1 and query ilike 'listen%useradmin_changes%'",
    )
    .bind(&app.database_name)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one listening connection was cut");
    // An edit while nobody may be listening.
    raw_rename(&app, id, "Changed while deaf").await;
    within(Duration::from_secs(2), async || {
        listed_names(&app)
            .await
            .1
            .contains(&"Changed while deaf".to_owned())
    })
    .await;
    // And it listens again: a later edit is seen too.
    listed_names(&app).await;
    raw_rename(&app, id, "Heard again").await;
    within(Duration::from_secs(1), async || {
        listed_names(&app)
            .await
            .1
            .contains(&"Heard again".to_owned())
    })
    .await;
}

#[tokio::test]
async fn failing_bearer_tokens_are_throttled_per_address() {
    let app = spawn_app().await;
    // Garbage is refused without a lookup, and not counted.
    for i in 0..100 {
        let response = bare_client()
            .get(app.url("/users"))
            .bearer_auth(format!("not-a-token-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    // Well-formed unknown tokens each cost a lookup: 60 a minute, then 429.
    let mut statuses = Vec::new();
    for _ in 0..70 {
        let response = bare_client()
            .get(app.url("/users"))
            .bearer_auth(useradmin::auth::tokens::generate())
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[60..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another deployment's clients are not affected (the counter is per prefix).
    let other = spawn_app().await;
    assert_eq!(other.get_json("/users").await.0, 200);
}

#[tokio::test]
async fn a_cookie_session_used_only_for_json_slides_its_idle_expiry() {
    let app = spawn_app_with(Options {
        env: vec![("SESSION_IDLE_MINUTES", "1".into())],
        ..Default::default()
    })
    .await;
    let (cookie, _) = session_of(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Used every 20 s over JSON for 100 s: longer than the idle minute.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(json_status(&app, &cookie, "/users").await, 200);
    }
}
