//! A running instance of the service for one test.

use std::{collections::HashMap, sync::Once};

use crate::scratch::{TestDatabase, key_prefix_for};
use reqwest::{Client, Response, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;
use useradmin::{
    config::Settings, db, domain::TokenLabel, startup::Application, state::AppState, write::Actor,
};

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
    /// The database and keys this instance made, removed when it is dropped
    /// (after it is told to stop); `None` when it shares another's.
    _scratch: Option<TestDatabase>,
}

/// Overrides for one test's settings (environment variable names, as the service reads them).
#[derive(Default)]
pub struct Options {
    pub env: Vec<(&'static str, String)>,
    /// Reuse this database (for several instances of one service); whoever made
    /// it removes it (the first instance, or a [`TestDatabase`] the test keeps).
    pub database_name: Option<String>,
}

/// Behind a proxy the service trusts: client addresses come from
/// `X-Forwarded-For`.
pub fn behind_proxy() -> Options {
    Options {
        env: vec![("TRUSTED_PROXY", "x-forwarded-for".into())],
        ..Options::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    init_logging();
    let scratch = options.database_name.is_none().then(TestDatabase::new);
    let database_name = match (&scratch, options.database_name) {
        (Some(scratch), _) => scratch.name().to_owned(),
        (None, name) => name.unwrap_or_default(),
    };
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", database_url_for(&database_name)),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", key_prefix_for(&database_name)),
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
    let token = new_token(&state, "tests", admin.id).await;

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
        _scratch: scratch,
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
        let actor = Actor::cli("tests").to_json();
        let mut tx = self.db.begin().await.unwrap();
        sqlx::query("select set_config('useradmin.actor', $1, true)")
            .bind(&actor)
            .execute(&mut *tx)
            .await
            .unwrap();
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
        self.state.generation.bump().await;
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
        (id, self.token_for(id, "second").await)
    }
}

/// A new API token for `owner`, made through the write path as the CLI makes one.
async fn new_token(state: &AppState, label: &str, owner: i64) -> String {
    let label = TokenLabel::parse(label).expect("a valid label");
    state
        .writer
        .create_token(&Actor::cli("tests"), &label, owner)
        .await
        .expect("a token is created")
        .token
}

impl TestApp {
    /// A new API token owned by `owner` (an admin).
    pub async fn token_for(&self, owner: i64, label: &str) -> String {
        new_token(&self.state, label, owner).await
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

/// Asserts an error response in the service's shape (`{"error": …}`) and returns its message.
pub async fn assert_error(response: Response, status: u16) -> Value {
    let (got, body) = json_of(response).await;
    assert_eq!(got, status, "body: {body}");
    assert!(body["error"].is_string(), "error body: {body}");
    body
}
