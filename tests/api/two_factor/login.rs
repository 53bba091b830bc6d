//! The second step of a login: codes, recovery codes, limits, instances.

use super::*;

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
