//! Logging in and out, sessions, CSRF and throttling, as a browser sees them.
//!
//! * `login`: the login form, where it leads, what it refuses.
//! * `sessions`: sessions, their CSRF tokens, their expiry, and what ends them.
//! * `throttling`: failed logins and tokens counted per account and address.

mod login;
mod sessions;
mod throttling;

use reqwest::{Response, StatusCode};

use crate::helpers::*;

/// Where a browser without a (live) session that asks for `/users` is sent.
const LOGIN_THEN_USERS: &str = "/login?next=%2Fusers";

/// Opens the login form as a new visitor: its CSRF cookie and form token.
async fn login_form(app: &TestApp) -> (String, String) {
    let response = bare_client()
        .get(app.url("/login"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("useradmin_login_csrf="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("the login form sets its CSRF cookie");
    let token = csrf_in(&response.text().await.unwrap());
    (format!("useradmin_login_csrf={cookie}"), token)
}

async fn post_login(
    app: &TestApp,
    form: &(String, String),
    email: &str,
    password: &str,
) -> StatusCode {
    bare_client()
        .post(app.url("/login"))
        .header("accept", "text/html")
        .header("cookie", &form.0)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &form.1),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

/// Logs in through the form; the session cookie (`useradmin_session=…`) and the
/// session's CSRF token.
async fn session_of(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let form = login_form(app).await;
    let response = bare_client()
        .post(app.url("/login"))
        .header("accept", "text/html")
        .header("cookie", &form.0)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &form.1),
        ])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users");
    let cookie = format!(
        "useradmin_session={}",
        session_cookie(&response).expect("a session cookie")
    );
    let page = bare_client()
        .get(app.url("/users/new"))
        .header("accept", "text/html")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, csrf_in(&page))
}

async fn html_get(app: &TestApp, cookie: &str, path: &str) -> Response {
    bare_client()
        .get(app.url(path))
        .header("accept", "text/html")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn html_status(app: &TestApp, cookie: &str, path: &str) -> StatusCode {
    html_get(app, cookie, path).await.status()
}

async fn json_status(app: &TestApp, cookie: &str, path: &str) -> StatusCode {
    bare_client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}
