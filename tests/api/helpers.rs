//! Spawns the real service on a free port against its own fresh database on the
//! real PostgreSQL, and the real Redis under a key prefix of its own, so tests run
//! in parallel without seeing each other.

use std::{collections::HashMap, sync::Once};

use reqwest::{Client, Response, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;
use useradmin::{auth::tokens, config::Settings, db, startup::Application};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// The PostgreSQL server the tests use (any database on it; each test makes its own).
pub fn base_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A URL for database `name` on the test server.
pub fn database_url_for(name: &str) -> String {
    let mut url = url::Url::parse(&base_database_url()).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            useradmin::telemetry::init(useradmin::config::LogFormat::Pretty);
        }
    });
}

/// A running instance and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// A client that sends the admin's bearer token on every request.
    pub api: Client,
    /// A client with no credentials.
    pub anonymous: Client,
    pub token: String,
    pub db: PgPool,
    pub admin_id: i64,
    pub database_name: String,
    /// This instance's Redis key prefix (shared by instances of one service).
    pub key_prefix: String,
    /// The running instance's state (its caches, for white-box assertions).
    pub state: useradmin::state::AppState,
    shutdown: Option<oneshot::Sender<()>>,
}

/// Overrides for one test's settings (environment variable names as SPEC §2).
#[derive(Default)]
pub struct Options {
    pub env: Vec<(&'static str, String)>,
    /// Reuse this database (for several instances of one service).
    pub database_name: Option<String>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    init_logging();
    let database_name = options
        .database_name
        .unwrap_or_else(|| format!("ua_test_{}", uuid::Uuid::new_v4().simple()));
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", database_url_for(&database_name)),
        ("REDIS_URL", redis_url()),
        (
            "REDIS_KEY_PREFIX",
            format!("useradmin:test:{database_name}:"),
        ),
        ("BIND", "127.0.0.1".into()),
        ("PORT", "0".into()),
        ("ADMIN_EMAIL", ADMIN_EMAIL.into()),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("COOKIE_SECURE", "false".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in options.env {
        env.insert(key.to_owned(), value);
    }
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("test settings");
    let app = Application::build(settings).await.expect("the app starts");
    let port = app.local_addr().port();
    let db = app.state().db.clone();
    let state = app.state().clone();
    let (shutdown, stop) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stop.await;
    }));

    let admin = db::users::find_by_email(&db, ADMIN_EMAIL)
        .await
        .unwrap()
        .expect("the first admin exists");
    let token = tokens::generate();
    db::tokens::insert(&db, "tests", &tokens::hash(&token), admin.id)
        .await
        .unwrap();

    let mut auth = header::HeaderMap::new();
    auth.insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        api: Client::builder()
            .default_headers(auth)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        anonymous: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        token,
        db,
        admin_id: admin.id,
        key_prefix: env["REDIS_KEY_PREFIX"].clone(),
        database_name,
        state,
        shutdown: Some(shutdown),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops serving (graceful shutdown).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn create_user(&self, name: &str, email: &str) -> Value {
        let response = self
            .api
            .post(self.url("/users"))
            .json(&json!({ "name": name, "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating {email}");
        response.json().await.unwrap()
    }

    /// Inserts `count` users named `user 0000`… directly, for list tests, as the
    /// service's own write path would: in its context, then moving the cache on
    /// (a raw write would reach the cache later, through a notification).
    pub async fn seed_users(&self, count: usize) {
        let mut tx = db::actor::begin(&self.db).await.unwrap();
        sqlx::query(
            "insert into users (name, email) \
             select 'user ' || lpad(n::text, 4, '0'), 'user' || n || '@example.com' \
             from generate_series(1, $1) as n",
        )
        .bind(count as i32)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.state.user_cache.invalidate().await;
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.api.get(self.url(path)).send().await.unwrap();
        json_of(response).await
    }

    /// A new token for a new admin; returns (admin id, token).
    pub async fn second_admin_with_token(&self) -> (i64, String) {
        let admin = self
            .api
            .post(self.url("/users"))
            .json(
                &json!({ "name": "Second Admin", "email": "second@example.com", "is_admin": true }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 201);
        let admin: Value = admin.json().await.unwrap();
        let id = admin["id"].as_i64().unwrap();
        let token = tokens::generate();
        db::tokens::insert(&self.db, "second", &tokens::hash(&token), id)
            .await
            .unwrap();
        (id, token)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Status and JSON body of a response (the body must be JSON).
pub async fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "expected JSON, got {content_type:?}: {text}"
    );
    (status, serde_json::from_str(&text).expect("a JSON body"))
}

/// Asserts an error response in SPEC's shape and returns its message.
pub async fn assert_error(response: Response, status: u16) -> Value {
    let (got, body) = json_of(response).await;
    assert_eq!(got, status, "body: {body}");
    assert!(body["error"].is_string(), "error body: {body}");
    body
}

/// A TCP port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A redis-server of the test's own, on a free port, that the test can stop and
/// start again (the shared one must not be touched).
pub struct OwnedRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnedRedis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: closed_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for OwnedRedis {
    fn drop(&mut self) {
        self.stop();
    }
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

impl TestApp {
    /// Opens the login page and logs in; returns the page's CSRF token after login.
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

    pub async fn log_in_as_admin(&self, client: &Client) {
        let response = self.log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), 303, "login failed");
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

    pub async fn user_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from users")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}
