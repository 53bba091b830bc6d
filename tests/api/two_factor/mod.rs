//! Two-factor login (SPEC §13), as an admin and a browser see it. Codes are
//! computed here, from the secret the enrolment page shows, with a small RFC 6238
//! implementation of the test's own (not the service's crate).
//!
//! * `enrolment`: turning it on and off, the enrolment key, resets.
//! * `login`: the second step of a login.

mod enrolment;
mod login;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::{prelude::KeysInterface, types::Expiration};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const STEP: u64 = 30;

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
pub(crate) async fn settled_step() -> u64 {
    let now = unix_now();
    if now % STEP > STEP - 8 {
        tokio::time::sleep(Duration::from_secs(STEP - now % STEP + 1)).await;
    }
    unix_now() / STEP
}

/// The secret as the enrolment page writes it.
pub(crate) fn secret_on(html: &str) -> Vec<u8> {
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

/// Posts the enrolment form of the page `client` last saw, with `typed`.
pub(crate) async fn confirm(app: &TestApp, client: &Client, page: &str, typed: &str) -> Response {
    client
        .post(app.url("/account/2fa/enable"))
        .form(&[("csrf_token", csrf_in(page).as_str()), ("code", typed)])
        .send()
        .await
        .unwrap()
}

pub(crate) async fn two_factor_rows(app: &TestApp) -> i64 {
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
