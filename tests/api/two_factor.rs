//! Two-factor login (SPEC §13), as an admin and a browser see it. Codes are
//! computed here, from the secret the enrolment page shows, with a small RFC 6238
//! implementation of the test's own (not the service's crate).

use std::{
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Options, TestApp, assert_redirect, assert_redirects_to, browser,
    csrf_in, database_url_for, json_of, redis_url, session_cookie, spawn_app, spawn_app_with,
};

pub(crate) const STEP: u64 = 30;

// ---------------------------------------------------------------------------
// RFC 6238, independently.

pub(crate) fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("a base32 character") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// The 6-digit code of time step `step` (HOTP of the step, RFC 4226 §5.3).
pub(crate) fn code(secret: &[u8], step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

/// A code of a step three away from `step` that no step within one of it
/// shares (codes of different steps collide one time in a million).
pub(crate) fn far_code(secret: &[u8], step: u64) -> String {
    let near: Vec<String> = (step - 2..=step + 2).map(|s| code(secret, s)).collect();
    (step + 3..)
        .map(|s| code(secret, s))
        .find(|c| !near.contains(c))
        .unwrap()
}

#[test]
fn the_tests_own_totp_matches_rfc_6238() {
    let secret = b"12345678901234567890";
    for (time, expected) in [
        (59, "287082"),
        (1_111_111_109, "081804"),
        (1_234_567_890, "005924"),
        (20_000_000_000, "353130"),
    ] {
        assert_eq!(code(secret, time / STEP), expected);
    }
    assert_eq!(
        base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        secret.to_vec()
    );
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The current time step, waiting first if it is about to end, so the codes of
/// the step before and after stay acceptable for the next ~20 seconds.
async fn settled_step() -> u64 {
    let now = unix_now();
    if now % STEP > STEP - 8 {
        tokio::time::sleep(Duration::from_secs(STEP - now % STEP + 1)).await;
    }
    unix_now() / STEP
}

// ---------------------------------------------------------------------------
// Pages.

/// The secret as the enrolment page writes it.
fn secret_on(html: &str) -> Vec<u8> {
    let marker = "<code id=\"secret\" class=\"secret\">";
    let start = html.find(marker).expect("the page shows the secret") + marker.len();
    let end = html[start..].find("</code>").unwrap() + start;
    base32_decode(&html[start..end])
}

/// The recovery codes as the page after enrolment lists them.
fn recovery_codes_on(html: &str) -> Vec<String> {
    let list = html
        .split("<ol class=\"recovery-codes\">")
        .nth(1)
        .expect("the page lists recovery codes");
    let list = list.split("</ol>").next().unwrap();
    list.split("<code>")
        .skip(1)
        .map(|part| part.split("</code>").next().unwrap().to_owned())
        .collect()
}

async fn post_form(
    client: &Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> Response {
    client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// Enrols the logged-in (or forced) admin of `client` with the code of `step`;
/// the secret and the recovery codes shown.
async fn enrol(app: &TestApp, client: &Client, step: u64) -> (Vec<u8>, Vec<String>) {
    let page = app.page(client, "/account/2fa", 200).await;
    let secret = secret_on(&page);
    let response = post_form(
        client,
        app,
        "/account/2fa/enable",
        &[
            ("csrf_token", &csrf_in(&page)),
            ("code", &code(&secret, step)),
        ],
    )
    .await;
    assert_eq!(response.status(), 200, "confirming the enrolment");
    let codes = recovery_codes_on(&response.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Logs in with the password, expecting the second step; the client's session
/// is then half logged in.
async fn password_step(app: &TestApp, client: &Client, email: &str, password: &str) {
    let response = app.log_in(client, email, password).await;
    assert_redirects_to(&response, "/login/2fa");
}

/// Posts a code to the second step (reading its CSRF token from the page).
async fn second_step(app: &TestApp, client: &Client, typed: &str) -> Response {
    let page = app.page(client, "/login/2fa", 200).await;
    post_form(
        client,
        app,
        "/login/2fa",
        &[("csrf_token", &csrf_in(&page)), ("code", typed)],
    )
    .await
}

async fn audit_actions(app: &TestApp, prefix: &str) -> Vec<Value> {
    let (status, body) = app
        .get_json(&format!("/audit?action={prefix}&limit=100"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// A second admin with a password, logged in nowhere yet.
async fn admin_with_password(app: &TestApp, email: &str, password: &str) -> i64 {
    let response = app
        .api
        .post(app.url("/users"))
        .json(
            &json!({"name": "Other Admin", "email": email, "is_admin": true, "password": password}),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn enrolment_shows_a_qr_code_and_the_secret_and_needs_a_right_code() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;

    let response = client.get(app.url("/account/2fa")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("img-src 'self' data:"), "{csp}");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("<img src=\"data:image/svg+xml;base64,"),
        "a QR code drawn on the server"
    );
    assert!(!page.contains("<script"), "no script");
    assert!(
        page.contains("otpauth://totp/useradmin:admin%40example.com?secret="),
        "{page}"
    );
    assert!(page.contains("issuer=useradmin"));
    let secret = secret_on(&page);
    assert_eq!(secret.len(), 20);
    // The same secret on a reload, until it is confirmed.
    assert_eq!(
        secret_on(&app.page(&client, "/account/2fa", 200).await),
        secret
    );

    let step = settled_step().await;
    let csrf = csrf_in(&page);
    let wrong = format!(
        "{:06}",
        (code(&secret, step).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let refused = post_form(
        &client,
        &app,
        "/account/2fa/enable",
        &[("csrf_token", &csrf), ("code", &wrong)],
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("That code is not right")
    );

    let (_, codes) = enrol(&app, &client, step).await;
    for recovery in &codes {
        assert_eq!(recovery.len(), 11, "{recovery}");
    }
    // Once on, the secret is never shown again.
    let page = app.page(&client, "/account/2fa", 200).await;
    assert!(
        page.contains("Two-factor login is <strong>on</strong>"),
        "{page}"
    );
    assert!(page.contains("<strong id=\"recovery-codes-left\">10</strong>"));
    assert!(!page.contains("class=\"secret\""));
    assert!(!page.contains("otpauth://"));

    // Stored hashed: neither the codes nor anything like them are in the table.
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select code_hash from two_factor_recovery_codes")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(stored.len(), 10);
    for hash in &stored {
        assert_eq!(hash.len(), 32);
        for recovery in &codes {
            assert!(!String::from_utf8_lossy(hash).contains(&recovery[..5]));
        }
    }
    let enabled = audit_actions(&app, "2fa.enabled").await;
    assert_eq!(enabled.len(), 1, "{enabled:?}");
    assert_eq!(enabled[0]["subject"]["id"], app.admin_id);
    assert_eq!(enabled[0]["actor"]["kind"], "admin");
    assert_eq!(enabled[0]["via"], "session");
    assert_eq!(enabled[0]["changes"], json!({}));
    // The pages and the JSON API never hand out the secret.
    let (status, _) = app.get_json("/account/2fa").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_password_without_the_code_does_not_reach_the_users() {
    let app = spawn_app().await;
    let admin = browser();
    app.log_in_as_admin(&admin).await;
    let step = settled_step().await;
    let (secret, _) = enrol(&app, &admin, step - 1).await;

    let client = browser();
    let login = app.log_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_redirects_to(&login, "/login/2fa");
    let half = session_cookie(&login).expect("a session after the password");

    // Half logged in: every other page sends the browser to log in.
    for path in [
        "/users",
        "/tokens",
        "/audit",
        "/account/password",
        "/users/new",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        let location = assert_redirect(&response);
        assert!(location.starts_with("/login"), "{path} -> {location}");
    }
    let json = client
        .get(app.url("/users"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 401);
    // Nor can it make a token.
    let page = app.page(&client, "/login/2fa", 200).await;
    let token = client
        .post(app.url("/tokens"))
        .header("accept", "application/json")
        .header("x-csrf-token", csrf_in(&page))
        .json(&json!({"label": "sneaky"}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 401);
    // Nor reach the enrolment page (enrolment is not forced here).
    assert!(
        assert_redirect(&client.get(app.url("/account/2fa")).send().await.unwrap())
            .starts_with("/login")
    );
    // The login page sends it on to the second step.
    assert_redirects_to(
        &client.get(app.url("/login")).send().await.unwrap(),
        "/login/2fa",
    );

    let done = second_step(&app, &client, &code(&secret, step)).await;
    assert_redirects_to(&done, "/users");
    let full = session_cookie(&done).expect("a new session id");
    assert_ne!(full, half, "the session id is cycled after the second step");
    let users = app.page(&client, "/users", 200).await;
    assert!(users.contains("Welcome, Administrator."), "{users}");
    let logins = audit_actions(&app, "login.succeeded").await;
    assert_eq!(
        logins.len(),
        2,
        "the first login, then the second after both steps"
    );
}

#[tokio::test]
async fn a_code_is_accepted_once_and_wrong_codes_get_429_after_the_limit() {
    let app = spawn_app().await;
    let admin = browser();
    app.log_in_as_admin(&admin).await;
    let step = settled_step().await;
    let (secret, _) = enrol(&app, &admin, step - 1).await;

    // The enrolment's code counts as used.
    let first = browser();
    password_step(&app, &first, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let replayed = second_step(&app, &first, &code(&secret, step - 1)).await;
    assert_eq!(replayed.status(), 401);
    assert!(replayed.text().await.unwrap().contains("used already"));

    // A code works once.
    assert_redirects_to(
        &second_step(&app, &first, &code(&secret, step)).await,
        "/users",
    );
    let second = browser();
    password_step(&app, &second, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        second_step(&app, &second, &code(&secret, step))
            .await
            .status(),
        401
    );
    // Three steps away is too far.
    assert_eq!(
        second_step(&app, &second, &far_code(&secret, step))
            .await
            .status(),
        401
    );
    // Three wrong attempts so far; two more are let through, then 429.
    for typed in ["000000x", "12345"] {
        assert_eq!(second_step(&app, &second, typed).await.status(), 401);
    }
    let limited = second_step(&app, &second, "999999").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert!(
        limited
            .text()
            .await
            .unwrap()
            .contains("Too many wrong codes")
    );
    // Even a right code now waits.
    let waits = second_step(&app, &second, &code(&secret, step + 1)).await;
    let status = waits.status();
    let location = waits.headers().get("location").cloned();
    assert_eq!(status, 429, "{location:?} {}", waits.text().await.unwrap());
    assert!(
        assert_redirect(&second.get(app.url("/users")).send().await.unwrap()).starts_with("/login")
    );

    let failed = audit_actions(&app, "login.second_step_failed").await;
    assert_eq!(
        failed.len(),
        5,
        "every wrong code before the limit is audited"
    );
    for event in &failed {
        assert_eq!(event["subject"]["id"], app.admin_id);
        assert_eq!(event["changes"], json!({}));
        let text = event.to_string();
        assert!(
            !text.contains(&code(&secret, step)),
            "no code in the trail: {text}"
        );
    }
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = spawn_app().await;
    let admin = browser();
    app.log_in_as_admin(&admin).await;
    let step = settled_step().await;
    let (_, codes) = enrol(&app, &admin, step).await;

    let client = browser();
    password_step(&app, &client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Typed in capitals, with a space instead of the hyphen: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_redirects_to(&second_step(&app, &client, &typed).await, "/users");
    let used = audit_actions(&app, "2fa.recovery_code_used").await;
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["subject"]["id"], app.admin_id);

    let again = browser();
    password_step(&app, &again, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(second_step(&app, &again, &codes[3]).await.status(), 401);
    assert_redirects_to(&second_step(&app, &again, &codes[4]).await, "/users");
    let page = app.page(&again, "/account/2fa", 200).await;
    assert!(
        page.contains("<strong id=\"recovery-codes-left\">8</strong>"),
        "{page}"
    );
}

#[tokio::test]
async fn turning_two_factor_off_requires_a_code() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let step = settled_step().await;
    let (secret, _) = enrol(&app, &client, step - 1).await;

    let csrf = csrf_in(&app.page(&client, "/account/2fa", 200).await);
    for typed in ["", "123"] {
        let refused = post_form(
            &client,
            &app,
            "/account/2fa/disable",
            &[("csrf_token", &csrf), ("code", typed)],
        )
        .await;
        assert_eq!(refused.status(), 422, "{typed:?}");
    }
    // Without the page's CSRF token, nothing happens.
    let forged = post_form(
        &client,
        &app,
        "/account/2fa/disable",
        &[("code", &code(&secret, step))],
    )
    .await;
    assert_eq!(forged.status(), 403);
    assert!(
        app.page(&client, "/account/2fa", 200)
            .await
            .contains("<strong>on</strong>")
    );

    let done = post_form(
        &client,
        &app,
        "/account/2fa/disable",
        &[("csrf_token", &csrf), ("code", &code(&secret, step))],
    )
    .await;
    assert_redirects_to(&done, "/account/2fa");
    let page = app.page(&client, "/account/2fa", 200).await;
    assert!(page.contains("Two-factor login is off."), "{page}");
    assert_eq!(audit_actions(&app, "2fa.disabled").await.len(), 1);
    // The password alone logs in again.
    let other = browser();
    app.log_in_as_admin(&other).await;
}

#[tokio::test]
async fn require_2fa_forces_enrolment_right_after_the_password() {
    let app = spawn_app_with(Options {
        env: vec![("REQUIRE_2FA", "true".into())],
        ..Options::default()
    })
    .await;
    let client = browser();
    let login = app.log_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_redirects_to(&login, "/account/2fa");
    // Nothing else before enrolling.
    for path in ["/users", "/tokens", "/account/password"] {
        let location = assert_redirect(&client.get(app.url(path)).send().await.unwrap());
        assert!(location.starts_with("/login"), "{path} -> {location}");
    }
    assert_redirects_to(
        &client.get(app.url("/login/2fa")).send().await.unwrap(),
        "/account/2fa",
    );
    let page = app.page(&client, "/account/2fa", 200).await;
    assert!(page.contains("requires two-factor login"), "{page}");

    let step = settled_step().await;
    let secret = secret_on(&page);
    let before = session_cookie(&login).unwrap();
    let enrolled = post_form(
        &client,
        &app,
        "/account/2fa/enable",
        &[
            ("csrf_token", &csrf_in(&page)),
            ("code", &code(&secret, step - 1)),
        ],
    )
    .await;
    assert_eq!(enrolled.status(), 200);
    assert_ne!(session_cookie(&enrolled).expect("a new session id"), before);
    let shown = enrolled.text().await.unwrap();
    assert_eq!(recovery_codes_on(&shown).len(), 10);
    assert!(
        shown.contains("href=\"/users\""),
        "continues where the login was going"
    );
    app.page(&client, "/users", 200).await;

    // It cannot be turned off while required.
    let csrf = csrf_in(&app.page(&client, "/account/2fa", 200).await);
    let refused = post_form(
        &client,
        &app,
        "/account/2fa/disable",
        &[("csrf_token", &csrf), ("code", &code(&secret, step))],
    )
    .await;
    assert_eq!(refused.status(), 409);

    // Next time, the code is asked for.
    let again = browser();
    password_step(&app, &again, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_redirects_to(
        &second_step(&app, &again, &code(&secret, step)).await,
        "/users",
    );
    // Bearer tokens are a separate credential, unaffected.
    let (status, _) = app.get_json("/users").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_admin_resets_another_admins_two_factor() {
    let app = spawn_app().await;
    let other_id = admin_with_password(&app, "other@example.com", "other-admin-password").await;
    let other = browser();
    app.log_in(&other, "other@example.com", "other-admin-password")
        .await;
    let step = settled_step().await;
    enrol(&app, &other, step).await;

    let admin = browser();
    app.log_in_as_admin(&admin).await;
    let page = app.page(&admin, &format!("/users/{other_id}"), 200).await;
    assert!(
        page.contains("<dd class=\"two-factor-status\">On</dd>"),
        "{page}"
    );
    assert!(page.contains(&format!("action=\"/users/{other_id}/2fa/reset\"")));
    // No reset button for oneself, and the route refuses it too.
    let own = app
        .page(&admin, &format!("/users/{}", app.admin_id), 200)
        .await;
    assert!(!own.contains("2fa/reset"));
    let response = app
        .api
        .post(app.url(&format!("/users/{}/2fa/reset", app.admin_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);

    let reset = post_form(
        &admin,
        &app,
        &format!("/users/{other_id}/2fa/reset"),
        &[("csrf_token", &csrf_in(&page))],
    )
    .await;
    assert_redirects_to(&reset, &format!("/users/{other_id}"));
    let page = app.page(&admin, &format!("/users/{other_id}"), 200).await;
    assert!(page.contains("Two-factor login was reset"), "{page}");
    assert!(page.contains("<dd class=\"two-factor-status\">Off</dd>"));
    let events = audit_actions(&app, "2fa.reset").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"]["id"], other_id);
    assert_eq!(events[0]["actor"]["id"], app.admin_id);

    // The password alone logs the other admin in now.
    let again = browser();
    let login = app
        .log_in(&again, "other@example.com", "other-admin-password")
        .await;
    assert_redirects_to(&login, "/users");

    // By token (JSON): nothing left to reset; an unknown user is 404.
    let response = app
        .api
        .post(app.url(&format!("/users/{other_id}/2fa/reset")))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body),
        (200, json!({"id": other_id, "reset": false}))
    );
    let response = app
        .api
        .post(app.url("/users/999999/2fa/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_cli_resets_two_factor() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let step = settled_step().await;
    enrol(&app, &client, step).await;

    let run = |email: &str| {
        Command::new(env!("CARGO_BIN_EXE_useradmin"))
            .args(["reset-2fa", email])
            .env("DATABASE_URL", database_url_for(&app.database_name))
            .env("REDIS_URL", redis_url())
            .env("REDIS_KEY_PREFIX", &app.key_prefix)
            .env("USER", "operator")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let unknown = run("nobody@example.com");
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("no user has the email nobody@example.com"),
        "{stderr}"
    );

    let done = run("ADMIN@example.com");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        stdout.contains("two-factor login of admin@example.com is reset"),
        "{stdout}"
    );
    let events = audit_actions(&app, "2fa.reset").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["via"], "cli");
    assert_eq!(events[0]["actor"]["label"], "operator");

    app.log_in_as_admin(&browser()).await;
    let again = run("admin@example.com");
    assert!(String::from_utf8_lossy(&again.stdout).contains("had no two-factor login"));
}

#[tokio::test]
async fn two_factor_login_works_across_two_instances() {
    let first = spawn_app().await;
    let second = spawn_app_with(Options {
        env: vec![("REDIS_KEY_PREFIX", first.key_prefix.clone())],
        database_name: Some(first.database_name.clone()),
    })
    .await;
    let admin = browser();
    first.log_in_as_admin(&admin).await;
    let step = settled_step().await;
    let (secret, _) = enrol(&first, &admin, step - 1).await;

    // The password on one, the code on the other.
    let client = browser();
    password_step(&first, &client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_redirects_to(
        &second_step(&second, &client, &code(&secret, step)).await,
        "/users",
    );
    second.page(&client, "/users", 200).await;
    first.page(&client, "/users", 200).await;

    // A code used on one is refused on the other.
    let replay = browser();
    password_step(&second, &replay, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        second_step(&first, &replay, &code(&secret, step))
            .await
            .status(),
        401
    );
    // Wrong codes count across both: one so far, four more, then 429 on either.
    for (i, typed) in ["111111", "222222", "333333", "444444"].iter().enumerate() {
        let app = if i % 2 == 0 { &second } else { &first };
        assert_eq!(second_step(app, &replay, typed).await.status(), 401);
    }
    assert_eq!(second_step(&second, &replay, "555555").await.status(), 429);
    assert_eq!(
        second_step(&first, &replay, &code(&secret, step + 1))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn a_half_logged_in_session_can_cancel_by_logging_out() {
    let app = spawn_app().await;
    let admin = browser();
    app.log_in_as_admin(&admin).await;
    enrol(&app, &admin, settled_step().await).await;

    let client = browser();
    password_step(&app, &client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = app.page(&client, "/login/2fa", 200).await;
    assert!(page.contains("Cancel and log out"));
    let out = post_form(&client, &app, "/logout", &[("csrf_token", &csrf_in(&page))]).await;
    assert_redirects_to(&out, "/login");
    // The half-done login is gone: the code page sends the browser to log in.
    assert_redirects_to(
        &client.get(app.url("/login/2fa")).send().await.unwrap(),
        "/login",
    );
    // Nor can a code be posted for it any more.
    let late = post_form(&client, &app, "/login/2fa", &[("code", "123456")]).await;
    assert_redirects_to(&late, "/login");
}
