//! Turning two-factor login on (the enrolment key lives only in the session
//! that drew it) and off, requiring it, and resetting it.

use std::process::Command;

use super::*;

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
    // The pages and the JSON API never hand out the secret: a script asking
    // for the page is told to ask for HTML (or use a token), nothing more.
    let (status, body) = app.get_json("/account/2fa").await;
    assert_eq!(status, 406, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("text/html"),
        "{body}"
    );
}

#[tokio::test]
async fn two_sessions_of_one_admin_are_shown_different_keys_and_none_is_stored() {
    let app = spawn_app().await;
    let (a, b) = (browser(), browser());
    app.admin_session(&a, "/users").await;
    app.admin_session(&b, "/users").await;

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
    app.admin_session(&a, "/users").await;
    app.admin_session(&b, "/users").await;
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
    let session_id = app.admin_session(&client, "/users").await;
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
    app.admin_session(&elsewhere, "/users").await;
    app.page(&elsewhere, "/users", 200).await;
    app.admin_session(&here, "/users").await;

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
    app.admin_session(&attacker, "/account/2fa").await;
    let copied = secret_on(&app.page(&attacker, "/account/2fa", 200).await);

    // The admin logs in later and is shown another key, and enrols with it.
    let admin = browser();
    app.admin_session(&admin, "/account/2fa").await;
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
    app.admin_session(&again, "/login/2fa").await;
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
    assert!(page.contains(&format!("href=\"/users/{other_id}/2fa/reset\"")));
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
