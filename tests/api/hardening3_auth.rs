//! Hardening, round 3, authentication: enrolment keys that live only in the
//! session that drew them, anonymous clients that cannot grow Redis, control
//! characters refused as input, and a last-admin rule that counts only admins
//! who can log in (SPEC §3, §5, §9, §13).

use std::time::Duration;

use fred::{prelude::*, types::Expiration};
use reqwest::{Client, Response, header::HeaderValue};
use serde_json::{Value, json};

use crate::{
    helpers::{
        ADMIN_EMAIL, ADMIN_PASSWORD, Options, TestApp, assert_error, assert_redirect,
        assert_redirects_to, browser, csrf_in, json_of, redis_url, session_cookie, spawn_app,
        spawn_app_with,
    },
    two_factor::{STEP, base32_decode, code, unix_now},
};

// ---------------------------------------------------------------------------
// Helpers.

/// The enrolment secret a `/account/2fa` page shows.
fn secret_on(html: &str) -> Vec<u8> {
    let marker = "<code id=\"secret\" class=\"secret\">";
    let start = html.find(marker).expect("the page shows a secret") + marker.len();
    let end = html[start..].find("</code>").unwrap() + start;
    base32_decode(&html[start..end])
}

/// The current time step, waiting first when it is about to end, so the code
/// stays acceptable for the next ~20 seconds.
async fn settled_step() -> u64 {
    let now = unix_now();
    if now % STEP > STEP - 8 {
        tokio::time::sleep(Duration::from_secs(STEP - now % STEP + 1)).await;
    }
    unix_now() / STEP
}

/// Logs `client` in with the admin's password; the session id it was given.
async fn logged_in(app: &TestApp, client: &Client, expect: &str) -> String {
    let response = app.log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_redirects_to(&response, expect);
    session_cookie(&response).expect("the login sets a session cookie")
}

/// Posts the enrolment form of the page `client` last saw, with `typed`.
async fn confirm(app: &TestApp, client: &Client, page: &str, typed: &str) -> Response {
    client
        .post(app.url("/account/2fa/enable"))
        .form(&[("csrf_token", csrf_in(page).as_str()), ("code", typed)])
        .send()
        .await
        .unwrap()
}

async fn two_factor_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from two_factor")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Moves the drawing of the session's enrolment key `secs` into the past, in
/// the record Redis holds (the service keeps it there as JSON), keeping the
/// record's own expiry.
async fn age_enrolment_key(app: &TestApp, session_id: &str, secs: i64) {
    let key = format!("{}session:{session_id}", app.key_prefix);
    let raw: String = app
        .state
        .redis
        .get(&key)
        .await
        .expect("the session record is in Redis");
    let mut record: Value = serde_json::from_str(&raw).unwrap();
    let at = &mut record["v"]["useradmin"]["enrolment"]["at"];
    let drawn = at.as_i64().expect("the session holds an enrolment key");
    *at = json!(drawn - secs);
    let _: () = app
        .state
        .redis
        .set(
            &key,
            record.to_string(),
            Some(Expiration::KEEPTTL),
            None,
            false,
        )
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// 1. The enrolment key lives in the session that drew it.

#[tokio::test]
async fn two_sessions_of_one_admin_are_shown_different_keys_and_none_is_stored() {
    let app = spawn_app().await;
    let (a, b) = (browser(), browser());
    logged_in(&app, &a, "/users").await;
    logged_in(&app, &b, "/users").await;

    let key_a = secret_on(&app.page(&a, "/account/2fa", 200).await);
    let key_b = secret_on(&app.page(&b, "/account/2fa", 200).await);
    assert_ne!(key_a, key_b, "each session draws its own key");
    // A reload in the same session keeps its key.
    assert_eq!(secret_on(&app.page(&a, "/account/2fa", 200).await), key_a);
    assert_eq!(secret_on(&app.page(&b, "/account/2fa", 200).await), key_b);
    // Nothing unconfirmed is kept in the database, and it would refuse it.
    assert_eq!(two_factor_rows(&app).await, 0);
    let pending = sqlx::query("insert into two_factor (user_id, secret) values ($1, $2)")
        .bind(app.admin_id)
        .bind(&key_a)
        .execute(&app.db)
        .await;
    assert!(pending.is_err(), "a key without enabled_at is refused");
}

#[tokio::test]
async fn a_key_drawn_in_one_session_cannot_be_confirmed_from_another() {
    let app = spawn_app().await;
    let (a, b) = (browser(), browser());
    logged_in(&app, &a, "/users").await;
    logged_in(&app, &b, "/users").await;
    let page_a = app.page(&a, "/account/2fa", 200).await;
    let page_b = app.page(&b, "/account/2fa", 200).await;
    let (key_a, key_b) = (secret_on(&page_a), secret_on(&page_b));

    let step = settled_step().await;
    // B types A's code: refused, and nothing is turned on.
    let refused = confirm(&app, &b, &page_b, &code(&key_a, step)).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(two_factor_rows(&app).await, 0);
    // A types B's code: refused too.
    let refused = confirm(&app, &a, &page_a, &code(&key_b, step)).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(two_factor_rows(&app).await, 0);

    // A's own code turns it on, with A's key.
    let enabled = confirm(&app, &a, &page_a, &code(&key_a, step)).await;
    assert_eq!(enabled.status(), 200);
    let stored: Vec<u8> = sqlx::query_scalar("select secret from two_factor where user_id = $1")
        .bind(app.admin_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, key_a);
}

#[tokio::test]
async fn an_enrolment_key_older_than_ten_minutes_is_refused_and_replaced() {
    let app = spawn_app().await;
    let client = browser();
    let session_id = logged_in(&app, &client, "/users").await;
    let page = app.page(&client, "/account/2fa", 200).await;
    let old_key = secret_on(&page);

    // Nine minutes old: still the same key, and still confirmable later.
    age_enrolment_key(&app, &session_id, 9 * 60).await;
    assert_eq!(
        secret_on(&app.page(&client, "/account/2fa", 200).await),
        old_key
    );
    // Past ten minutes (the record is aged in Redis, where the session lives).
    age_enrolment_key(&app, &session_id, 61 + 5).await;
    let step = settled_step().await;
    let refused = confirm(&app, &client, &page, &code(&old_key, step)).await;
    assert_eq!(refused.status(), 422);
    let shown = refused.text().await.unwrap();
    assert!(shown.contains("lasts 10 minutes"), "{shown}");
    assert_eq!(two_factor_rows(&app).await, 0, "nothing was turned on");
    // The page shows a new key at once, and that one works.
    let new_key = secret_on(&shown);
    assert_ne!(new_key, old_key);
    let enabled = confirm(&app, &client, &shown, &code(&new_key, step)).await;
    assert_eq!(enabled.status(), 200);
}

#[tokio::test]
async fn turning_two_factor_on_ends_the_admins_other_sessions() {
    let app = spawn_app().await;
    let (here, elsewhere) = (browser(), browser());
    logged_in(&app, &elsewhere, "/users").await;
    app.page(&elsewhere, "/users", 200).await;
    logged_in(&app, &here, "/users").await;

    let page = app.page(&here, "/account/2fa", 200).await;
    let step = settled_step().await;
    let enabled = confirm(&app, &here, &page, &code(&secret_on(&page), step)).await;
    assert_eq!(enabled.status(), 200);

    // The other session, opened with the password earlier, has ended.
    let location = assert_redirect(&elsewhere.get(app.url("/users")).send().await.unwrap());
    assert!(location.starts_with("/login"), "{location}");
    // The enrolling one goes on, and so do bearer tokens.
    app.page(&here, "/users", 200).await;
    app.page(&here, "/account/2fa", 200).await;
    assert_eq!(app.get_json("/users").await.0, 200);
    // The trail records the enrolment; ending the sessions is no user change.
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where subject_type = 'user' and subject_id = $1",
    )
    .bind(app.admin_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(actions.contains(&"2fa.enabled".to_owned()), "{actions:?}");
    assert!(!actions.contains(&"user.updated".to_owned()), "{actions:?}");
}

#[tokio::test]
async fn with_require_2fa_a_key_copied_with_the_password_alone_is_worthless() {
    let app = spawn_app_with(Options {
        env: vec![("REQUIRE_2FA", "true".into())],
        ..Options::default()
    })
    .await;
    // Someone who knows only the password opens the enrolment page and copies
    // the key, and leaves.
    let attacker = browser();
    logged_in(&app, &attacker, "/account/2fa").await;
    let copied = secret_on(&app.page(&attacker, "/account/2fa", 200).await);

    // The admin logs in later and is shown another key, and enrols with it.
    let admin = browser();
    logged_in(&app, &admin, "/account/2fa").await;
    let page = app.page(&admin, "/account/2fa", 200).await;
    let real = secret_on(&page);
    assert_ne!(real, copied);
    let step = settled_step().await;
    let enabled = confirm(&app, &admin, &page, &code(&real, step - 1)).await;
    assert_eq!(enabled.status(), 200);
    app.page(&admin, "/users", 200).await;

    // The attacker's half-logged-in session has ended with the enrolment.
    let location = assert_redirect(&attacker.get(app.url("/account/2fa")).send().await.unwrap());
    assert!(location.starts_with("/login"), "{location}");
    // Logging in again with the password, the copied key's code is refused.
    let again = browser();
    logged_in(&app, &again, "/login/2fa").await;
    let second = app.page(&again, "/login/2fa", 200).await;
    let refused = again
        .post(app.url("/login/2fa"))
        .form(&[
            ("csrf_token", csrf_in(&second).as_str()),
            ("code", &code(&copied, step)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let location = assert_redirect(&again.get(app.url("/users")).send().await.unwrap());
    assert!(location.starts_with("/login"), "{location}");
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
// 3. Control characters are refused as input, naming the field.

async fn post_login_raw(app: &TestApp, client: &Client, body: (&str, String)) -> Response {
    client
        .post(app.url("/login"))
        .header("content-type", body.0)
        .body(body.1)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn control_characters_in_the_login_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let client = browser();
    let csrf = csrf_in(&app.page(&client, "/login", 200).await);
    let form = "application/x-www-form-urlencoded";
    for (body, field) in [
        (
            (
                form,
                format!("email=admin%40example.com%00&password=x&csrf_token={csrf}"),
            ),
            "email",
        ),
        (
            (
                form,
                format!("email=ad%01min%40example.com&password=x&csrf_token={csrf}"),
            ),
            "email",
        ),
        (
            (
                "application/json",
                json!({"email": "admin@example.com\u{0}", "password": "x", "csrf_token": csrf})
                    .to_string(),
            ),
            "email",
        ),
        (
            (
                form,
                format!("email=admin%40example.com&password=a%00b&csrf_token={csrf}"),
            ),
            "password",
        ),
        (
            (
                form,
                format!("email=admin%40example.com&password=x&next=%2Fusers%00&csrf_token={csrf}"),
            ),
            "next",
        ),
    ] {
        let response = post_login_raw(&app, &client, body.clone()).await;
        assert_eq!(response.status(), 422, "{body:?}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("{field}: must not contain control characters")),
            "{body:?}: {page}"
        );
    }
    let response = client
        .get(app.url("/login?next=%2Fusers%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("next"));
    // None of that counted as a failed attempt: the password still logs in.
    logged_in(&app, &client, "/users").await;

    // The email type refuses them wherever an email is written.
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": "Nul", "email": "nul@example.com\u{0}"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 422).await;
    assert_eq!(
        body["fields"]["email"][0],
        "must not contain control characters"
    );
}

#[tokio::test]
async fn control_characters_in_account_forms_and_codes_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let client = browser();
    logged_in(&app, &client, "/users").await;

    // The password form.
    let csrf = csrf_in(&app.page(&client, "/account/password", 200).await);
    let response = client
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("current_password", "admin\u{0}password"),
            ("new_password", "a new\u{1b}password"),
            ("confirm_password", "a new\u{1b}password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("must not contain control characters"),
        "{page}"
    );

    // A token's label, over JSON.
    let response = client
        .post(app.url("/tokens"))
        .header("accept", "application/json")
        .header("x-csrf-token", &csrf)
        .json(&json!({"label": "nightly\u{0}"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["fields"]["label"][0],
        "must not contain control characters"
    );

    // The enrolment code.
    let page = app.page(&client, "/account/2fa", 200).await;
    let refused = confirm(&app, &client, &page, "123\u{0}456").await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("code: must not contain control characters")
    );
    let step = settled_step().await;
    let enabled = confirm(&app, &client, &page, &code(&secret_on(&page), step)).await;
    assert_eq!(enabled.status(), 200);

    // The second step's code.
    let second = browser();
    logged_in(&app, &second, "/login/2fa").await;
    let page = app.page(&second, "/login/2fa", 200).await;
    let refused = second
        .post(app.url("/login/2fa"))
        .form(&[
            ("csrf_token", csrf_in(&page).as_str()),
            ("code", "12\u{0}3456"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("code: must not contain control characters")
    );

    // Turning it off.
    let page = app.page(&client, "/account/2fa", 200).await;
    let refused = client
        .post(app.url("/account/2fa/disable"))
        .form(&[("csrf_token", csrf_in(&page).as_str()), ("code", "\u{7}")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(two_factor_rows(&app).await, 1, "still on");
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
