//! Abuse from browsers: XSS payloads in emails, token labels, the admin's own name,
//! flashes and echoed form input are shown as text on every page; a session id
//! planted before login is never the one that is logged in.

use std::sync::Arc;

use reqwest::{Client, Response, cookie::Jar, header};
use serde_json::json;
use useradmin::domain::UserEmail;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, UserForm, assert_redirect, assert_redirects_to, browser,
    csrf_in, session_cookie, spawn_app, submit_user_form,
};

/// Markup payloads, each with a character that escaping must change.
const NAME_PAYLOADS: &[&str] = &[
    "</title><script>alert(7)</script>",
    "<img src=x onerror=alert(7)//",
    "\"><svg onload=alert(7)>",
    "'';!--\"<XSS>=&{()}",
    "<iframe src=javascript:alert(7)></iframe>",
    "&lt;b&gt;already escaped&lt;/b&gt;",
    "<a href=\"javascript:alert(7)\">click</a>",
    "{{7*7}}<b>${7*7}</b>",
];

/// Addresses that validation accepts although they hold characters that are
/// special in HTML attributes (quotes, ampersands, backticks).
const EMAIL_CANDIDATES: &[&str] = &[
    "x'onmouseover='alert`7`'@example.com",
    "'/autofocus/onfocus='alert`7`'@example.com",
    "a&b'||'1'='1@example.com",
    "{{7*7}}'&#{}@example.com",
    "q&amp;'`=x@example.com",
    "\"><script>alert(7)</script>\"@example.com",
    "<svg/onload=alert(7)>@example.com",
];

fn assert_escaped(page: &str, payload: &str, place: &str) {
    assert!(
        !page.contains(payload),
        "{payload:?} appears unescaped on {place}"
    );
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn text_of(response: Response, status: u16, place: &str) -> String {
    assert_eq!(response.status(), status, "{place}");
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    assert!(is_html, "{place} is a page");
    response.text().await.unwrap()
}

async fn logged_in() -> (TestApp, Client) {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    (app, client)
}

#[tokio::test]
async fn payloads_in_emails_and_names_are_escaped_on_every_user_page() {
    let emails: Vec<&str> = EMAIL_CANDIDATES
        .iter()
        .copied()
        .filter(|e| UserEmail::parse(e).is_ok())
        .collect();
    assert!(
        emails.len() >= 4,
        "enough payloads pass validation: {emails:?}"
    );
    let (app, client) = logged_in().await;
    let mut users = Vec::new();
    for (i, email) in emails.iter().enumerate() {
        let name = NAME_PAYLOADS[i % NAME_PAYLOADS.len()];
        let user = app.create_user(name, email).await;
        assert_eq!(user["email"], *email, "stored as sent");
        users.push((user["id"].as_i64().unwrap(), name, *email));
    }
    for &(id, name, email) in &users {
        for path in [
            "/users".to_owned(),
            "/users?sort=-email".to_owned(),
            format!("/users?q={}", encode(email)),
            format!("/users?q={}&sort=name", encode(name)),
            format!("/users/{id}"),
            format!("/users/{id}/edit"),
            format!("/users/{id}/delete"),
        ] {
            let page = app.page(&client, &path, 200).await;
            assert_escaped(&page, email, &path);
            assert_escaped(&page, name, &path);
        }
    }
    // The search box keeps what was searched for, escaped.
    let page = app
        .page(&client, &format!("/users?q={}", encode(users[0].2)), 200)
        .await;
    assert!(page.contains("1 user matching"), "the payload is found");
}

#[tokio::test]
async fn payloads_in_flashes_and_echoed_form_input_are_escaped() {
    let (app, client) = logged_in().await;
    let csrf = app.csrf(&client).await;
    let email = "x'onmouseover='alert`7`'@example.com";
    let name = NAME_PAYLOADS[0];

    // Created through the form: the flash names the user.
    let response = submit_user_form(
        client.post(app.url("/users")),
        UserForm::new(&csrf, name, email),
    )
    .await;
    let location = assert_redirect(&response);
    let page = app.page(&client, &location, 200).await;
    assert!(page.contains("Created "), "the flash is shown");
    assert_escaped(&page, name, "the create flash");
    assert_escaped(&page, email, "the create flash");

    // Refused input comes back in the form, escaped.
    for (bad_name, bad_email) in [
        (NAME_PAYLOADS[2], "\"><script>alert(7)</script>@x.com"),
        ("", "<img src=x onerror=alert(7)>"),
        (&*"<b>".repeat(40), "'><svg onload=alert(7)>"),
    ] {
        let refused = UserForm::new(&csrf, bad_name, bad_email);
        let response = submit_user_form(client.post(app.url("/users")), refused).await;
        let page = text_of(response, 422, "the refused create form").await;
        if !bad_name.is_empty() {
            assert_escaped(&page, bad_name, "the refused create form");
        }
        assert_escaped(&page, bad_email, "the refused create form");
        let response = submit_user_form(client.post(app.url(&location)), refused.version(1)).await;
        let page = text_of(response, 422, "the refused edit form").await;
        assert_escaped(&page, bad_email, "the refused edit form");
        assert_escaped(&page, name, "the refused edit form");
    }

    // A stale edit shows the conflict page with both versions.
    app.api
        .patch(app.url(&location))
        .json(&json!({ "name": NAME_PAYLOADS[1] }))
        .send()
        .await
        .unwrap();
    let response = submit_user_form(
        client.post(app.url(&location)),
        UserForm::new(&csrf, NAME_PAYLOADS[3], "y'onblur='alert`7`'@example.com").version(1),
    )
    .await;
    let page = text_of(response, 409, "the conflict page").await;
    for payload in [NAME_PAYLOADS[1], NAME_PAYLOADS[3], email] {
        assert_escaped(&page, payload, "the conflict page");
    }
    assert_escaped(
        &page,
        "y'onblur='alert`7`'@example.com",
        "the conflict page",
    );

    // Deleted through the form: the flash names the user and the email.
    let delete_page = app.page(&client, &format!("{location}/delete"), 200).await;
    let response = client
        .post(app.url(&format!("{location}/delete")))
        .form(&[
            ("csrf_token", csrf_in(&delete_page).as_str()),
            ("version", "2"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users");
    let page = app.page(&client, "/users", 200).await;
    assert!(page.contains("Deleted "), "the flash is shown");
    assert_escaped(&page, NAME_PAYLOADS[1], "the delete flash");
    assert_escaped(&page, email, "the delete flash");
}

#[tokio::test]
async fn payloads_in_token_labels_are_escaped() {
    let (app, client) = logged_in().await;
    let page = app.page(&client, "/tokens", 200).await;
    let csrf = csrf_in(&page);
    for label in NAME_PAYLOADS {
        let response = client
            .post(app.url("/tokens"))
            .form(&[("csrf_token", csrf.as_str()), ("label", label)])
            .send()
            .await
            .unwrap();
        let page = text_of(response, 201, "the new token page").await;
        assert_escaped(&page, label, "the new token page");
    }
    // A refused label comes back in the form, escaped.
    let too_long = format!("{}<script>alert(7)</script>", "x".repeat(100));
    let response = client
        .post(app.url("/tokens"))
        .form(&[("csrf_token", csrf.as_str()), ("label", too_long.as_str())])
        .send()
        .await
        .unwrap();
    let page = text_of(response, 422, "the refused token form").await;
    assert_escaped(&page, &too_long, "the refused token form");
    assert_escaped(&page, "<script>alert(7)</script>", "the refused token form");

    let listing = app.page(&client, "/tokens", 200).await;
    for label in NAME_PAYLOADS {
        assert_escaped(&listing, label, "/tokens");
    }
    // The JSON listing has them as sent.
    let (_, tokens) = app.get_json("/tokens").await;
    for label in NAME_PAYLOADS {
        assert!(
            tokens
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["label"] == *label),
            "{label:?} stored as sent"
        );
    }
}

#[tokio::test]
async fn an_admin_name_with_markup_is_escaped_in_the_layout_of_every_page() {
    let app = spawn_app().await;
    let name = "<script>alert(7)</script>\"'&";
    let response = app
        .api
        .patch(app.url(&format!("/users/{}", app.admin_id)))
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let client = browser();
    app.log_in_as_admin(&client).await;
    for path in [
        "/users",
        "/users/new",
        &format!("/users/{}", app.admin_id),
        &format!("/users/{}/edit", app.admin_id),
        &format!("/users/{}/delete", app.admin_id),
        "/tokens",
        "/account/password",
    ] {
        let page = app.page(&client, path, 200).await;
        assert_escaped(&page, name, path);
        assert_escaped(&page, "<script>alert(7)", path);
    }
}

#[tokio::test]
async fn anonymous_pages_escape_what_they_echo() {
    let app = spawn_app().await;
    let client = browser();
    // `next` is kept in the login form; a same-site path may still hold markup.
    let next = "/users?\"><script>alert(7)</script>";
    let page = app
        .page(&client, &format!("/login?next={}", encode(next)), 200)
        .await;
    assert_escaped(
        &page,
        "\"><script>alert(7)</script>",
        "the login form's next",
    );
    let csrf = csrf_in(&page);
    let email = "\"><img src=x onerror=alert(7)>@example.com";
    let response = client
        .post(app.url("/login"))
        .form(&[
            ("email", email),
            ("password", "wrong password"),
            ("csrf_token", csrf.as_str()),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let page = response.text().await.unwrap();
    assert_escaped(&page, email, "the failed login page");
    assert_escaped(&page, "<script>alert(7)</script>", "the failed login page");

    // Error pages do not echo the path.
    for path in [
        "/%3Cscript%3Ealert(7)%3C/script%3E",
        "/users/%3Cscript%3Ealert(7)%3C%2Fscript%3E",
        "/users/1/%22%3E%3Csvg%20onload=alert(7)%3E",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert!(response.status().as_u16() < 500, "{path}");
        let page = response.text().await.unwrap();
        assert!(!page.contains("<script>alert(7)"), "{path}: {page}");
        assert!(!page.contains("<svg onload"), "{path}: {page}");
    }
}

/// A browser-like client whose cookie jar the test can plant a cookie in.
fn browser_with(jar: Arc<Jar>) -> Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(header::ACCEPT, "text/html".parse().unwrap());
    Client::builder()
        .cookie_provider(jar)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Logs in through the login form with whatever session cookie the client has;
/// returns the session id the login response sets.
async fn log_in_with(app: &TestApp, client: &Client) -> String {
    let page = app.page(client, "/login", 200).await;
    let response = client
        .post(app.url("/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &csrf_in(&page)),
            ("next", "/users"),
        ])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users");
    session_cookie(&response).expect("login sets a session cookie")
}

/// What a request carrying only this session cookie gets: (HTML status, JSON status).
async fn access_with(app: &TestApp, session_id: &str) -> (u16, u16) {
    let cookie = format!("useradmin_session={session_id}");
    let html = app
        .anonymous
        .get(app.url("/users"))
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let json = app
        .anonymous
        .get(app.url("/users"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (html, json)
}

#[tokio::test]
async fn a_session_id_planted_before_login_is_not_the_logged_in_one() {
    let app = spawn_app().await;

    // 1. An id the attacker made up.
    let made_up = "AAAAAAAAAAAAAAAAAAAAAA";
    let jar = Arc::new(Jar::default());
    jar.add_cookie_str(
        &format!("useradmin_session={made_up}; Path=/"),
        &app.url("/").parse().unwrap(),
    );
    let victim = browser_with(jar);
    let logged_in = log_in_with(&app, &victim).await;
    assert_ne!(logged_in, made_up);
    assert_eq!(access_with(&app, made_up).await, (303, 401));
    assert_eq!(access_with(&app, &logged_in).await.0, 200);

    // 2. There is no real anonymous session to plant: the login page opens none
    // (its CSRF token is a signed cookie of its own).
    let response = app
        .anonymous
        .get(app.url("/login"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        session_cookie(&response).is_none(),
        "the login page opens no session"
    );
}
