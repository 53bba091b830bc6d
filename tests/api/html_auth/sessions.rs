//! Sessions: a new id at login, bound to their deployment and their CSRF token,
//! sliding idle expiry, and ended by a password change or a demotion.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

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
    let sessions = redis_keys(&format!("{}session:*", a.key_prefix));
    assert_eq!(sessions.len(), 1, "{sessions:?}");
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
    // The account's counter, which would otherwise wait out its window.
    for key in useradmin_test_support::redis_keys(&format!("{prefix}*")) {
        let _: i64 = redis.unlink(key).await.unwrap();
    }
    let _ = redis.quit().await;
}
