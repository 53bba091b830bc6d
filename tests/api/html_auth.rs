//! Logging in and out, sessions, CSRF and throttling, as a browser sees them.

use serde_json::json;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Options, OwnedRedis, assert_redirects_to, browser, csrf_in,
    session_cookie, spawn_app, spawn_app_with,
};

/// Where a browser without a (live) session that asks for `/users` is sent.
const LOGIN_THEN_USERS: &str = "/login?next=%2Fusers";

#[tokio::test]
async fn a_browser_that_is_not_logged_in_is_sent_to_the_login_page() {
    let app = spawn_app().await;
    let client = browser();
    let response = client.get(app.url("/users?q=a%20b")).send().await.unwrap();
    assert_redirects_to(&response, "/login?next=%2Fusers%3Fq%3Da%2520b");
    let response = client.get(app.url("/")).send().await.unwrap();
    assert_redirects_to(&response, "/users");
    let login = app
        .page(&client, "/login?next=%2Fusers%3Fq%3Da%2520b", 200)
        .await;
    assert!(login.contains("<h1>Log in</h1>"));
    assert!(
        login.contains(r#"name="next" value="/users?q=a%20b""#),
        "{login}"
    );
}

#[tokio::test]
async fn logging_in_cycles_the_session_id_and_logging_out_kills_it() {
    let app = spawn_app().await;
    let client = browser();
    let response = client.get(app.url("/login")).send().await.unwrap();
    assert!(
        session_cookie(&response).is_none(),
        "the login form opens no session"
    );
    let csrf = csrf_in(&response.text().await.unwrap());
    let response = client
        .post(app.url("/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &csrf),
            ("next", "/users/1"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users/1");
    let logged_in = session_cookie(&response).expect("a new session cookie");
    let cookie_line = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1800"] {
        assert!(cookie_line.contains(attribute), "{cookie_line}");
    }
    let page = app.page(&client, "/users", 200).await;
    assert!(
        page.contains("Welcome, Administrator."),
        "a flash after login"
    );
    let again = app.page(&client, "/users", 200).await;
    assert!(
        !again.contains("Welcome, Administrator."),
        "a flash shows once"
    );

    // The session cookie works on its own, from any client.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let with = |cookie: &str| {
        replay
            .get(app.url("/users"))
            .header("accept", "text/html")
            .header("cookie", format!("useradmin_session={cookie}"))
    };
    assert_eq!(with(&logged_in).send().await.unwrap().status(), 200);

    let response = client
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf_in(&page))])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/login");
    // The old cookie is dead.
    assert_redirects_to(&with(&logged_in).send().await.unwrap(), LOGIN_THEN_USERS);
    let response = client.get(app.url("/users")).send().await.unwrap();
    assert_redirects_to(&response, LOGIN_THEN_USERS);
}

#[tokio::test]
async fn login_failures_look_the_same_whatever_the_reason() {
    let app = spawn_app().await;
    // A user who is not an admin cannot log in, even with the right password.
    app.api
        .post(app.url("/users"))
        .json(&json!({"name": "Plain", "email": "plain@example.com", "password": "plain password"}))
        .send()
        .await
        .unwrap();
    let mut pages = Vec::new();
    for (email, password) in [
        (ADMIN_EMAIL, "wrong password"),
        ("nobody@example.com", "wrong password"),
        ("plain@example.com", "plain password"),
    ] {
        let client = browser();
        let response = app.log_in(&client, email, password).await;
        assert_eq!(response.status(), 401);
        let page = response.text().await.unwrap();
        assert!(page.contains("Email or password is incorrect."));
        assert!(
            page.contains(&format!(r#"value="{email}""#)),
            "the email is kept"
        );
        pages.push(page.replace(email, "EMAIL"));
    }
    let strip_csrf = |page: &str| {
        let token = csrf_in(page);
        page.replace(&token, "")
    };
    assert_eq!(strip_csrf(&pages[0]), strip_csrf(&pages[1]));
    assert_eq!(strip_csrf(&pages[1]), strip_csrf(&pages[2]));
}

#[tokio::test]
async fn login_follows_only_same_site_next_targets() {
    let app = spawn_app().await;
    for (next, expected) in [
        ("/users?sort=name", "/users?sort=name"),
        ("https://evil.example/", "/users"),
        ("//evil.example", "/users"),
        ("/\\evil.example", "/users"),
    ] {
        let client = browser();
        let page = app.page(&client, "/login", 200).await;
        let response = client
            .post(app.url("/login"))
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &csrf_in(&page)),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_redirects_to(&response, expected);
    }
}

#[tokio::test]
async fn state_changing_requests_need_this_sessions_csrf_token() {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    let other = browser();
    app.log_in_as_admin(&other).await;
    let other_token = app.csrf(&other).await;
    let good_token = app.csrf(&client).await;

    let form = |token: Option<&str>| {
        let mut fields = vec![
            ("name", "Eve".to_owned()),
            ("email", "eve@example.com".to_owned()),
        ];
        if let Some(token) = token {
            fields.push(("csrf_token", token.to_owned()));
        }
        client.post(app.url("/users")).form(&fields)
    };
    for (request, case) in [
        (form(None), "missing"),
        (form(Some("0".repeat(64).as_str())), "wrong"),
        (form(Some(&other_token)), "another session's"),
        (
            form(Some(&good_token))
                .header("origin", "https://evil.example")
                .header("sec-fetch-site", "cross-site"),
            "cross-origin",
        ),
        // Cookie-authenticated JSON needs the header.
        (
            client
                .post(app.url("/users"))
                .header("accept", "application/json")
                .json(&json!({"name": "Eve", "email": "eve@example.com"})),
            "JSON without X-CSRF-Token",
        ),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{case}");
    }
    let response = client
        .delete(app.url(&format!("/users/{}", app.admin_id)))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.user_count().await, 1, "nothing was created or deleted");

    let response = form(Some(&good_token)).send().await.unwrap();
    let eve: i64 = sqlx::query_scalar("select id from users where email = 'eve@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_redirects_to(&response, &format!("/users/{eve}"));
    let response = client
        .post(app.url("/users"))
        .header("accept", "application/json")
        .header("x-csrf-token", &good_token)
        .json(&json!({"name": "Json Eve", "email": "json-eve@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(app.user_count().await, 3);
    // Bearer-token requests need no CSRF token.
    app.create_user("Scripted", "scripted@example.com").await;
}

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
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Too many failed attempts")
        );
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
async fn a_password_change_ends_the_admins_other_sessions() {
    let app = spawn_app().await;
    let here = browser();
    let elsewhere = browser();
    app.log_in_as_admin(&here).await;
    app.log_in_as_admin(&elsewhere).await;

    let page = app.page(&here, "/account/password", 200).await;
    let csrf = csrf_in(&page);
    let response = here
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("current_password", "not it"),
            ("new_password", "x"),
            ("confirm_password", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("is not your current password"));
    assert!(page.contains("must be at least 8 characters"));
    assert!(page.contains("does not match the new password"));

    let response = here
        .post(app.url("/account/password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("current_password", ADMIN_PASSWORD),
            ("new_password", "a brand new password"),
            ("confirm_password", "a brand new password"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users");
    assert!(
        session_cookie(&response).is_some(),
        "the session id is cycled"
    );
    assert!(
        app.page(&here, "/users", 200)
            .await
            .contains("Your password was changed")
    );
    let response = elsewhere.get(app.url("/users")).send().await.unwrap();
    assert_redirects_to(&response, LOGIN_THEN_USERS);

    assert_eq!(
        app.log_in(&browser(), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status(),
        401
    );
    let response = app
        .log_in(&browser(), ADMIN_EMAIL, "a brand new password")
        .await;
    assert_redirects_to(&response, "/users");
}

#[tokio::test]
async fn demoting_or_deleting_an_admin_ends_their_sessions() {
    let app = spawn_app().await;
    for (i, action) in ["demote", "delete"].into_iter().enumerate() {
        let email = format!("admin{i}@example.com");
        let created: serde_json::Value = app
            .api
            .post(app.url("/users"))
            .json(&json!({"name": "Temp", "email": email, "password": "temp password", "is_admin": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let client = browser();
        let response = app.log_in(&client, &email, "temp password").await;
        assert_redirects_to(&response, "/users");
        app.page(&client, "/users", 200).await;
        let path = app.url(&format!("/users/{}", created["id"]));
        let status = match action {
            "demote" => app
                .api
                .patch(&path)
                .json(&json!({"is_admin": false}))
                .send()
                .await
                .unwrap()
                .status(),
            _ => app.api.delete(&path).send().await.unwrap().status(),
        };
        assert_eq!(status, 200);
        // Sent to the login page, after either action.
        let response = client.get(app.url("/users")).send().await.unwrap();
        assert_redirects_to(&response, LOGIN_THEN_USERS);
    }
}

#[tokio::test]
async fn the_idle_expiry_comes_from_the_settings_and_slides() {
    let app = spawn_app_with(Options {
        env: vec![("SESSION_IDLE_MINUTES", "7".into())],
        ..Default::default()
    })
    .await;
    let client = browser();
    let response = app.log_in(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let line = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(line.contains("Max-Age=420"), "{line}");
    // Every request renews the cookie's lifetime.
    let response = client.get(app.url("/users")).send().await.unwrap();
    let line = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(line.contains("Max-Age=420"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_store_outage_answers_a_clear_503_not_a_bare_500() {
    let mut redis = OwnedRedis::start();
    let app = spawn_app_with(Options {
        env: vec![("REDIS_URL", redis.url())],
        ..Default::default()
    })
    .await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    redis.stop();
    let response = client.get(app.url("/users")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let page = response.text().await.unwrap();
    assert!(page.contains("sessions are unavailable"), "{page}");
    // The form still shows (it keeps nothing in Redis), but logging in cannot.
    let anonymous = browser();
    let response = app.log_in(&anonymous, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 503);
    assert!(response.text().await.unwrap().contains("unavailable"));
    // Scripts with tokens carry on.
    assert_eq!(app.get_json("/users").await.0, 200);
}

/// A successful login gives its attempt back to the address's counter without
/// making that counter again, with no expiry, once its window has ended (a key
/// left so would count against the address for good).
#[tokio::test]
async fn a_login_gives_its_attempt_back_without_making_a_key_that_never_expires() {
    use fred::prelude::*;
    use useradmin::auth::throttle::{LoginKey, Throttle};

    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let url = crate::helpers::redis_url();
    let settings = useradmin::config::Settings::from_lookup(|name| match name {
        "REDIS_URL" => Some(url.clone()),
        "REDIS_KEY_PREFIX" => Some(prefix.clone()),
        _ => None,
    })
    .unwrap();
    let redis = useradmin::redis::connect(&settings).unwrap();
    redis.wait_for_connect().await.unwrap();
    let throttle = Throttle::new(redis.clone(), &prefix);
    let address = "198.51.100.7";
    let by_address = format!("{prefix}login-attempts:{{{address}}}");
    let ada = LoginKey::from_database("ada@example.com".into());
    let bob = LoginKey::from_database("bob@example.com".into());

    // Two accounts tried from one address; one logs in: its attempt is given back.
    throttle.login_attempt(&ada, address).await.unwrap();
    throttle.login_attempt(&bob, address).await.unwrap();
    throttle.login_succeeded(&ada, address).await.unwrap();
    let count: i64 = redis.get(&by_address).await.unwrap();
    let ttl: i64 = redis.ttl(&by_address).await.unwrap();
    assert_eq!(count, 1);
    assert!(ttl > 0, "the address's counter keeps its expiry: {ttl}");

    // The address's window ends (its key expires) before a login succeeds.
    throttle.login_attempt(&ada, address).await.unwrap();
    let _: i64 = redis.del(&by_address).await.unwrap();
    throttle.login_succeeded(&ada, address).await.unwrap();
    let exists: i64 = redis.exists(&by_address).await.unwrap();
    assert_eq!(exists, 0, "no counter without an expiry is made");
    let _ = redis.quit().await;
}
