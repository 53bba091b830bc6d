//! Hardening, round 3, authentication: enrolment keys that live only in the
//! session that drew them, anonymous clients that cannot grow Redis, control
//! characters refused as input, and a last-admin rule that counts only admins
//! who can log in (SPEC §3, §5, §9, §13).

use reqwest::{Client, header::HeaderValue};
use serde_json::json;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Options, TestApp, assert_error, assert_redirects_to, browser,
    csrf_in, json_of, redis_url, session_cookie, spawn_app, spawn_app_with,
};

// ---------------------------------------------------------------------------
// Helpers.

/// Logs `client` in with the admin's password; the session id it was given.
async fn logged_in(app: &TestApp, client: &Client, expect: &str) -> String {
    let response = app.log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_redirects_to(&response, expect);
    session_cookie(&response).expect("the login sets a session cookie")
}

// ---------------------------------------------------------------------------
// 2. Anonymous clients do not grow Redis; IPv6 clients count per /64.

/// A failed login from `forwarded` (read through `TRUSTED_PROXY`); the status.
async fn login_from(app: &TestApp, forwarded: &str, email: &str, password: &str) -> u16 {
    let client = browser();
    let page = app.page(&client, "/login", 200).await;
    client
        .post(app.url("/login"))
        .header("x-forwarded-for", HeaderValue::from_str(forwarded).unwrap())
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf_in(&page)),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every key under `pattern` in Redis (SCAN, never KEYS).
fn redis_keys(pattern: &str) -> Vec<String> {
    let output = std::process::Command::new("redis-cli")
        .args(["-u", &redis_url(), "--scan", "--pattern", pattern])
        .output()
        .expect("redis-cli is installed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn behind_proxy() -> Options {
    Options {
        env: vec![("TRUSTED_PROXY", "x-forwarded-for".into())],
        ..Options::default()
    }
}

#[tokio::test]
async fn an_address_over_its_limit_creates_no_key_per_email() {
    let app = spawn_app_with(behind_proxy()).await;
    let mut statuses = Vec::new();
    for i in 0..60 {
        let email = format!("guess{i}@example.com");
        statuses.push(login_from(&app, "203.0.113.50", &email, "wrong password").await);
    }
    assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let keys = redis_keys(&format!("{}login-attempts:*", app.key_prefix));
    // One key for the address, one per email it tried within its limit.
    assert_eq!(keys.len(), 21, "{keys:?}");
    // Another client is not affected.
    assert_eq!(
        login_from(&app, "203.0.113.51", ADMIN_EMAIL, "wrong password").await,
        401
    );
}

#[tokio::test]
async fn ipv6_clients_of_one_64_share_their_login_allowances() {
    let app = spawn_app_with(behind_proxy()).await;
    // Five guesses at one account from five addresses of one /64…
    for i in 1..=5 {
        let address = format!("2001:db8:7:7::{i:x}");
        assert_eq!(
            login_from(&app, &address, ADMIN_EMAIL, "wrong password").await,
            401,
            "{address}"
        );
    }
    // …and a sixth address of that /64 is refused, even with the password.
    assert_eq!(
        login_from(&app, "2001:db8:7:7:abcd::1", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        429
    );
    // Another /64 is another client.
    assert_eq!(
        login_from(&app, "2001:db8:7:8::1", ADMIN_EMAIL, "wrong password").await,
        401
    );
    // The per-address limit counts the /64 too: six attempts so far (the
    // refused one included), 14 more emails make 20.
    for i in 0..14 {
        let address = format!("2001:db8:7:7:{i:x}::9");
        let email = format!("guess{i}@example.com");
        assert_eq!(
            login_from(&app, &address, &email, "wrong password").await,
            401,
            "{address}"
        );
    }
    assert_eq!(
        login_from(&app, "2001:db8:7:7:ffff::1", "new@example.com", "x").await,
        429
    );
}

#[tokio::test]
async fn failing_bearer_tokens_are_counted_per_64() {
    let app = spawn_app_with(behind_proxy()).await;
    let mut statuses = Vec::new();
    for i in 0..62 {
        let response = app
            .anonymous
            .get(app.url("/users"))
            .header("x-forwarded-for", format!("2001:db8:9:9::{:x}", i + 1))
            .bearer_auth(useradmin::auth::tokens::generate())
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[60..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another /64 still gets its lookups.
    let response = app
        .anonymous
        .get(app.url("/users"))
        .header("x-forwarded-for", "2001:db8:9:a::1")
        .bearer_auth(useradmin::auth::tokens::generate())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

// ---------------------------------------------------------------------------
// 4. The last-admin rule counts only active admins with a password.

#[tokio::test]
async fn bulk_disable_cannot_leave_nobody_able_to_log_in() {
    let app = spawn_app().await;
    // Another admin, made without a password (as import, SCIM or the API may).
    let (second, _) = app.second_admin_with_token().await;
    let response = app
        .api
        .post(app.url("/users/bulk"))
        .json(&json!({"action": "disable", "ids": [app.admin_id, second], "reason": "leaving"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["id"], app.admin_id);
    assert_eq!(results[0]["result"], "conflict", "{body}");
    assert!(
        results[0]["message"]
            .as_str()
            .unwrap()
            .contains("no other active admin with a password"),
        "{body}"
    );
    assert_eq!(results[1], json!({"id": second, "result": "done"}));
    // Someone can still log in.
    logged_in(&app, &browser(), "/users").await;
}

#[tokio::test]
async fn single_user_routes_keep_an_admin_who_can_log_in() {
    let app = spawn_app().await;
    let (second, second_token) = app.second_admin_with_token().await;
    let path = format!("/users/{}", app.admin_id);
    let with_second = |request: reqwest::RequestBuilder| request.bearer_auth(&second_token);
    let client = reqwest::Client::new();

    for request in [
        with_second(client.delete(app.url(&path))),
        with_second(client.patch(app.url(&path))).json(&json!({"is_admin": false})),
        with_second(client.put(app.url(&path))).json(&json!({"is_admin": false})),
        with_second(client.patch(app.url(&path))).json(&json!({"status": "disabled"})),
        with_second(client.post(app.url(&format!("{path}/disable")))).json(&json!({"reason": "x"})),
    ] {
        let body = assert_error(request.send().await.unwrap(), 409).await;
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("no other active admin with a password"),
            "{body}"
        );
    }
    let (_, admin) = app.get_json(&path).await;
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["status"], "active");

    // Once the other admin has a password, the first may go.
    let response = app
        .api
        .patch(app.url(&format!("/users/{second}")))
        .json(&json!({"password": "second admin password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = with_second(client.post(app.url(&format!("{path}/disable"))))
        .json(&json!({"reason": "left"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
