//! The admin pages as a browser uses them: a cookie-keeping client, CSRF tokens,
//! the user form and the 303 redirects that answer a successful form.

use reqwest::{Client, RequestBuilder, Response, StatusCode, header};

use crate::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

/// A client that keeps no cookies and follows no redirects: each request says
/// exactly which cookies it carries.
pub fn bare_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser-like client: keeps cookies, asks for HTML, does not follow redirects.
pub fn browser() -> Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        "text/html,application/xhtml+xml,*/*;q=0.8".parse().unwrap(),
    );
    Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first `name="csrf_token"` field of a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("the field's value ends") + start;
    html[start..end].to_owned()
}

/// The session cookie a response sets, if any.
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("useradmin_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Asserts a `303 See Other` and returns where it points (its `Location`).
#[track_caller]
pub fn assert_redirect(response: &Response) -> String {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{} answered {}, not a 303 redirect",
        response.url(),
        response.status()
    );
    response
        .headers()
        .get(header::LOCATION)
        .expect("a 303 has a Location")
        .to_str()
        .expect("the Location is text")
        .to_owned()
}

/// Asserts a `303 See Other` to exactly `location` (a path and query, as the
/// service writes them).
#[track_caller]
pub fn assert_redirects_to(response: &Response, location: &str) {
    assert_eq!(
        assert_redirect(response),
        location,
        "where {} redirects to",
        response.url()
    );
}

/// The fields of the user form (`/users/new` and `/users/{id}/edit`), as a browser
/// posts them. [`UserForm::new`] is a create: no role, no password; the builder
/// methods fill in the rest.
#[derive(Clone, Copy, Debug)]
pub struct UserForm<'a> {
    pub csrf_token: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub is_admin: bool,
    /// Empty: no password (create) or unchanged (edit).
    pub password: &'a str,
    /// The version the edit form was rendered from; `None` on the create form.
    pub version: Option<i64>,
    /// Asked for only when admins change their own password.
    pub current_password: Option<&'a str>,
}

impl<'a> UserForm<'a> {
    pub fn new(csrf_token: &'a str, name: &'a str, email: &'a str) -> Self {
        Self {
            csrf_token,
            name,
            email,
            is_admin: false,
            password: "",
            version: None,
            current_password: None,
        }
    }

    /// The edit form of a user at `version`.
    pub fn version(self, version: i64) -> Self {
        Self {
            version: Some(version),
            ..self
        }
    }

    pub fn admin(self, is_admin: bool) -> Self {
        Self { is_admin, ..self }
    }

    pub fn password(self, password: &'a str) -> Self {
        Self { password, ..self }
    }

    pub fn current_password(self, current_password: &'a str) -> Self {
        Self {
            current_password: Some(current_password),
            ..self
        }
    }

    /// The fields in the order the page has them.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![("csrf_token", self.csrf_token.to_owned())];
        if let Some(version) = self.version {
            fields.push(("version", version.to_string()));
        }
        fields.extend([
            ("name", self.name.to_owned()),
            ("email", self.email.to_owned()),
            ("is_admin", self.is_admin.to_string()),
            ("password", self.password.to_owned()),
        ]);
        if let Some(current) = self.current_password {
            fields.push(("current_password", current.to_owned()));
        }
        fields
    }
}

/// Posts `form` with `request` (`client.post(app.url("/users"))` to create,
/// `…/users/{id}` to edit; with whatever cookie or headers the test adds).
pub async fn submit_user_form(request: RequestBuilder, form: UserForm<'_>) -> Response {
    request.form(&form.fields()).send().await.unwrap()
}

impl TestApp {
    /// Opens the login page and logs in with `next=/users`; the login's answer.
    pub async fn log_in(&self, client: &Client, email: &str, password: &str) -> Response {
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/login"))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf_in(&page)),
                ("next", "/users"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Logs `client` in with the admin's password, expecting a redirect to
    /// `expect`; the session id it was given.
    pub async fn admin_session(&self, client: &Client, expect: &str) -> String {
        let response = self.log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_redirects_to(&response, expect);
        session_cookie(&response).expect("the login sets a session cookie")
    }

    pub async fn log_in_as_admin(&self, client: &Client) {
        let response = self.log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_redirects_to(&response, "/users");
    }

    /// A page's HTML, asserting its status.
    pub async fn page(&self, client: &Client, path: &str, status: u16) -> String {
        let response = client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "GET {path}");
        response.text().await.unwrap()
    }

    /// The CSRF token of the logged-in session (read from a page).
    pub async fn csrf(&self, client: &Client) -> String {
        csrf_in(&self.page(client, "/users/new", 200).await)
    }

    /// Users the service shows (deleted ones have left every list).
    pub async fn user_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from users where deleted_at is null")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}
