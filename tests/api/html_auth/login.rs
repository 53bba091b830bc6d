//! The login form: where it leads, that it keeps no state, what it refuses.

use reqwest::{Client, Response};
use serde_json::json;

use super::*;
use crate::two_factor::{code, confirm, secret_on, settled_step, two_factor_rows};

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
async fn the_login_form_keeps_no_server_side_state_and_still_checks_csrf() {
    let app = spawn_app().await;
    let before = redis_keys(&format!("{}*", app.key_prefix));
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
    let after = redis_keys(&format!("{}*", app.key_prefix));
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
    app.admin_session(&client, "/users").await;

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
    app.admin_session(&client, "/users").await;

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
    app.admin_session(&second, "/login/2fa").await;
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

#[tokio::test]
async fn a_script_asking_for_the_login_page_learns_to_ask_for_html_or_use_a_token() {
    let app = spawn_app().await;
    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut request = app.anonymous.get(app.url("/login"));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let body = assert_error(request.send().await.unwrap(), 406).await;
        let message = body["error"].as_str().unwrap();
        for hint in ["Accept: text/html", "Bearer", "useradmin token create"] {
            assert!(message.contains(hint), "{accept:?}: {message}");
        }
    }
    // The other pages for browsers say the same.
    let response = app.api.get(app.url("/users/new")).send().await.unwrap();
    let body = assert_error(response, 406).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Accept: text/html")
    );
}
