//! Failed logins counted per account and per address (IPv6 per /64), across
//! instances, before they are checked, and without a key per email tried.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;

use super::*;

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_address_across_instances() {
    let first = spawn_app().await;
    let second = spawn_app_with(Options {
        env: vec![("REDIS_KEY_PREFIX", first.key_prefix.clone())],
        database_name: Some(first.database_name.clone()),
    })
    .await;
    // Five failures, spread over both instances and letter cases.
    for (i, email) in [
        "admin@example.com",
        "ADMIN@example.com",
        "Admin@Example.com",
        "admin@EXAMPLE.com",
        "admin@example.com",
    ]
    .iter()
    .enumerate()
    {
        let app = if i % 2 == 0 { &first } else { &second };
        let response = app.log_in(&browser(), email, "wrong password").await;
        assert_eq!(response.status(), 401, "attempt {i}");
    }
    // Now even the right password is refused, on either instance.
    for app in [&first, &second] {
        let response = app.log_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), 429);
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry));
        let page = response.text().await.unwrap();
        assert!(page.contains("Too many failed attempts"), "{page}");
        // The wait in words that fit it: never "minute(s)".
        let wait = match retry.div_ceil(60) {
            1 => "Try again in 1 minute.".to_owned(),
            minutes => format!("Try again in {minutes} minutes."),
        };
        assert!(page.contains(&wait), "{page}");
    }
    // Another account from the same address is not locked by that.
    first
        .api
        .post(first.url("/users"))
        .json(&json!({"name": "Other", "email": "other@example.com", "password": "other password", "is_admin": true}))
        .send()
        .await
        .unwrap();
    let response = first
        .log_in(&browser(), "other@example.com", "other password")
        .await;
    assert_redirects_to(&response, "/users");
}

#[tokio::test]
async fn twenty_failures_from_one_address_block_every_account_from_it() {
    let app = spawn_app().await;
    for i in 0..20 {
        let response = app
            .log_in(
                &browser(),
                &format!("guess{i}@example.com"),
                "wrong password",
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let response = app.log_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn a_forged_forwarding_header_does_not_dodge_throttling_without_a_trusted_proxy() {
    let app = spawn_app().await;
    for i in 0..5 {
        let client = browser();
        let page = app.page(&client, "/login", 200).await;
        let response = client
            .post(app.url("/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", "wrong"),
                ("csrf_token", &csrf_in(&page)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let response = app.log_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 429);
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

async fn failed_login(app: &crate::helpers::TestApp, forwarded: &[&str]) -> u16 {
    let client = browser();
    let page = app.page(&client, "/login", 200).await;
    let mut headers = HeaderMap::new();
    for line in forwarded {
        headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
    }
    client
        .post(app.url("/login"))
        .headers(headers)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", "wrong password"),
            ("csrf_token", &csrf_in(&page)),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_forwarded_for_line_is_read_and_the_right_most_address_counts() {
    let app = spawn_app_with(Options {
        env: vec![("TRUSTED_PROXY", "x-forwarded-for".into())],
        ..Default::default()
    })
    .await;
    // The client writes the first line; the proxy adds its own line.
    for i in 0..5 {
        let first = format!("203.0.113.{i}");
        assert_eq!(failed_login(&app, &[&first, "198.51.100.7"]).await, 401);
    }
    assert_eq!(
        failed_login(&app, &["203.0.113.99", "198.51.100.7"]).await,
        429
    );
    assert_eq!(
        failed_login(&app, &["198.51.100.7, 198.51.100.7"]).await,
        429
    );
    // Another client behind the same proxy is not blocked.
    assert_eq!(
        failed_login(&app, &["198.51.100.7", "198.51.100.8"]).await,
        401
    );
}
