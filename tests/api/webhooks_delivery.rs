//! Webhook deliveries (SPEC §11) as a receiver sees them: a real HTTP server
//! inside the test gets the events of changes made through the API, another
//! instance or raw SQL, signed per Standard Webhooks, retried, never
//! redirected, never sent to loopback unless allowed, and not lost when the
//! instance is killed.
//!
//! Endpoints are registered with SQL, as the outbox trigger reads them.

use std::{
    collections::{HashSet, VecDeque},
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use tokio::{net::TcpListener, time::Instant};
use useradmin::{
    auth::webhook_signature as signature,
    db::deliveries::{self, DeliveryRow, bookkeeping},
    write::{Actor, WriteError},
};

use crate::helpers::{Options, TestApp, closed_port, database_url_for, redis_url, spawn_app_with};

/// Settings that let deliveries reach the receiver on 127.0.0.1.
fn allow_private() -> Vec<(&'static str, String)> {
    vec![("WEBHOOK_ALLOW_PRIVATE", "true".into())]
}

async fn spawn_app_allowing_private() -> TestApp {
    spawn_app_with(Options {
        env: allow_private(),
        ..Options::default()
    })
    .await
}

/// An HTTP server that records every request. It answers 204, or the next
/// status of its script; `/redirect` always answers 302 to `/landing`.
struct Receiver {
    base: String,
    log: Arc<Log>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Log {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<u16>>,
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Receiver {
    async fn start() -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    async fn start_on(port: u16) -> Self {
        Self::serve(TcpListener::bind(("127.0.0.1", port)).await.unwrap())
    }

    fn serve(listener: TcpListener) -> Self {
        let address: SocketAddr = listener.local_addr().unwrap();
        let log = Arc::new(Log::default());
        let app = Router::new().fallback(record).with_state(log.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base: format!("http://{address}"),
            log,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The statuses of the next answers (204 after them).
    fn answer(&self, statuses: &[u16]) {
        self.log.script.lock().unwrap().extend(statuses);
    }

    fn received(&self, path: &str) -> Vec<Received> {
        let requests = self.log.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The requests to `path` once there are `count` of them.
    async fn wait_for(&self, path: &str, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received(path);
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{path} received {} of {count} requests within {within:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(log): State<Arc<Log>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    log.requests.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body,
        at,
    });
    if path == "/redirect" {
        return (StatusCode::FOUND, [(header::LOCATION, "/landing")]).into_response();
    }
    let status = log.script.lock().unwrap().pop_front().unwrap_or(204);
    StatusCode::from_u16(status).unwrap().into_response()
}

/// Registers an endpoint as the API would; its id and secret.
async fn register(db: &PgPool, url: &str, events: &[&str]) -> (i64, String) {
    let secret = signature::new_secret();
    let id = sqlx::query_scalar(
        "insert into webhooks (url, events, secret) values ($1, $2, $3) returning id",
    )
    .bind(url)
    .bind(events)
    .bind(&secret)
    .fetch_one(db)
    .await
    .unwrap();
    (id, secret)
}

fn header_of<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The Standard Webhooks signature, computed here from the specification
/// rather than with the service's code.
fn expected_signature(secret: &str, msg_id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks a delivery's headers and signature (both ways) and returns its body.
fn verified(received: &Received, secret: &str) -> Value {
    let id = header_of(received, "webhook-id");
    let timestamp = header_of(received, "webhook-timestamp");
    let signature = header_of(received, "webhook-signature");
    assert!(
        id.len() == 36 && id.starts_with("msg_") && id[4..].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let sent_at: i64 = timestamp.parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - sent_at).abs() <= 60, "a fresh timestamp: {sent_at}");
    assert_eq!(header_of(received, "content-type"), "application/json");
    assert_eq!(header_of(received, "user-agent"), "useradmin-webhooks");
    assert_eq!(
        signature,
        expected_signature(secret, id, timestamp, &received.body)
    );
    signature::verify(secret, id, sent_at, &received.body, signature).unwrap();
    serde_json::from_slice(&received.body).unwrap()
}

async fn deliveries_of(db: &PgPool, webhook_id: i64) -> Vec<DeliveryRow> {
    deliveries::list(db, webhook_id, None, 1000).await.unwrap()
}

/// The endpoint's deliveries once `done` says they are where the test wants them.
async fn wait_for_deliveries(
    db: &PgPool,
    webhook_id: i64,
    within: Duration,
    done: impl Fn(&[DeliveryRow]) -> bool,
) -> Vec<DeliveryRow> {
    let deadline = Instant::now() + within;
    loop {
        let rows = deliveries_of(db, webhook_id).await;
        if done(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries not as expected: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn user_json(app: &TestApp, id: i64) -> Value {
    let (status, user) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(status, 200, "{user}");
    user
}

#[tokio::test]
async fn user_changes_arrive_signed_with_the_user_as_the_api_shows_it() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app.db, &receiver.url("/hook"), &["user.*"]).await;
    let within = Duration::from_secs(10);

    let sent = Instant::now();
    let user = app.create_user("Ada", "ada@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let received = receiver.wait_for("/hook", 1, within).await;
    let created = verified(&received[0], &secret);
    eprintln!("user.created: write → receipt {:?}", received[0].at - sent);
    assert_eq!(created["type"], "user.created");
    assert_eq!(created["data"]["user"], user_json(&app, id).await);
    assert_eq!(created["data"]["user"], user, "as POST /users answered");
    assert_eq!(created["data"]["changes"]["name"], json!([null, "Ada"]));
    assert!(
        created["timestamp"].as_str().unwrap().ends_with('Z'),
        "{created}"
    );

    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Ada Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = receiver.wait_for("/hook", 2, within).await;
    let updated = verified(&received[1], &secret);
    assert_eq!(updated["type"], "user.updated");
    assert_eq!(updated["data"]["user"], user_json(&app, id).await);
    assert_eq!(updated["data"]["user"]["name"], "Ada Lovelace");
    assert_eq!(
        updated["data"]["changes"],
        json!({"name": ["Ada", "Ada Lovelace"]})
    );
    assert_ne!(
        header_of(&received[0], "webhook-id"),
        header_of(&received[1], "webhook-id"),
        "each event is a message of its own"
    );

    let last_state = user_json(&app, id).await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let received = receiver.wait_for("/hook", 3, within).await;
    let deleted = verified(&received[2], &secret);
    assert_eq!(deleted["type"], "user.deleted");
    let shown = &deleted["data"]["user"];
    assert_eq!(shown["id"], id);
    assert_eq!(shown["email"], "ada@example.com", "the last state: {shown}");
    assert_eq!(shown["created_at"], last_state["created_at"]);
    assert!(
        shown.get("password_hash").is_none() && shown.get("session_epoch").is_none(),
        "{shown}"
    );
    assert_eq!(receiver.received("/hook").len(), 3, "nothing else was sent");
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 500]);
    let (webhook_id, secret) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;

    let user = app.create_user("Bo", "bo@example.com").await;
    let received = receiver.wait_for("/hook", 3, Duration::from_secs(70)).await;
    assert_eq!(received.len(), 3);
    let first_id = header_of(&received[0], "webhook-id");
    for attempt in &received {
        let event = verified(attempt, &secret);
        assert_eq!(event["data"]["user"]["id"], user["id"]);
        assert_eq!(
            header_of(attempt, "webhook-id"),
            first_id,
            "retries keep the id"
        );
        assert_eq!(attempt.body, received[0].body, "the same bytes every time");
    }
    let first_wait = received[1].at - received[0].at;
    let second_wait = received[2].at - received[1].at;
    eprintln!("retried after {first_wait:?}, then {second_wait:?}");
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(8)).contains(&first_wait),
        "about 5 s: {first_wait:?}"
    );
    assert!(
        (Duration::from_secs(22)..Duration::from_secs(40)).contains(&second_wait),
        "about 30 s: {second_wait:?}"
    );

    let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(5), |rows| {
        rows.iter().all(|row| row.status == "delivered")
    })
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].response_code, Some(204));
    assert_eq!(rows[0].last_error, None);
    assert!(rows[0].delivered_at.is_some());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (webhook_id, _) = register(&app.db, &receiver.url("/redirect"), &["user.created"]).await;

    app.create_user("Cy", "cy@example.com").await;
    let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(10), |rows| {
        rows.iter().any(|row| row.response_code.is_some())
    })
    .await;
    assert_eq!(rows[0].status, "pending", "to be tried again");
    assert_eq!(rows[0].response_code, Some(302));
    let error = rows[0].last_error.as_deref().unwrap();
    assert!(error.contains("redirects are not followed"), "{error}");
    // Long enough for a followed redirect to have arrived.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received("/redirect").len(), 1);
    assert!(
        receiver.received("/landing").is_empty(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn a_subscription_to_user_created_receives_nothing_else() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (created_only, _) = register(&app.db, &receiver.url("/created"), &["user.created"]).await;
    // Everything, to know when all the events have been sent.
    let (_, _) = register(&app.db, &receiver.url("/all"), &["user.*", "token.*"]).await;

    let user = app.create_user("Di", "di@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Diana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.token_for(app.admin_id, "another").await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let all = receiver.wait_for("/all", 4, Duration::from_secs(10)).await;
    let types: HashSet<String> = all
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        HashSet::from(
            [
                "user.created",
                "user.updated",
                "token.created",
                "user.deleted"
            ]
            .map(String::from)
        )
    );
    let created = receiver.received("/created");
    assert_eq!(created.len(), 1);
    let event: Value = serde_json::from_slice(&created[0].body).unwrap();
    assert_eq!(event["type"], "user.created");
    assert_eq!(
        deliveries_of(&app.db, created_only).await.len(),
        1,
        "nothing else queued"
    );
}

#[tokio::test]
async fn loopback_is_refused_at_delivery_by_default() {
    let app = spawn_app_with(Options::default()).await;
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    // Registered behind the API's back, so only the delivery-time guard is left.
    let (literal, _) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;
    let (named, _) = register(
        &app.db,
        &format!("http://localhost:{port}/hook"),
        &["user.created"],
    )
    .await;

    app.create_user("Ed", "ed@example.com").await;
    for webhook_id in [literal, named] {
        let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(10), |rows| {
            rows.iter().any(|row| row.last_error.is_some())
        })
        .await;
        let error = rows[0].last_error.as_deref().unwrap();
        assert!(error.contains("loopback"), "{error}");
        assert_eq!(rows[0].response_code, None);
        assert_eq!(rows[0].status, "pending");
    }
    assert!(
        receiver.received("/hook").is_empty(),
        "nothing reached loopback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_exactly_once() {
    let first = spawn_app_allowing_private().await;
    let second = spawn_app_with(Options {
        env: allow_private(),
        database_name: Some(first.database_name.clone()),
    })
    .await;
    let receiver = Receiver::start().await;
    let (webhook_id, secret) = register(&first.db, &receiver.url("/hook"), &["user.created"]).await;

    const USERS: usize = 40;
    let creates = (0..USERS).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        async move {
            app.create_user(&format!("User {n}"), &format!("user{n}@example.com"))
                .await
        }
    });
    let users = futures::future::join_all(creates).await;

    receiver
        .wait_for("/hook", USERS, Duration::from_secs(20))
        .await;
    // Time for a duplicate to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received("/hook");
    assert_eq!(received.len(), USERS, "each event exactly once");
    let ids: HashSet<&str> = received
        .iter()
        .map(|r| header_of(r, "webhook-id"))
        .collect();
    assert_eq!(ids.len(), USERS);
    let delivered: HashSet<i64> = received
        .iter()
        .map(|r| verified(r, &secret)["data"]["user"]["id"].as_i64().unwrap())
        .collect();
    let created: HashSet<i64> = users.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(delivered, created);
    let rows = deliveries_of(&first.db, webhook_id).await;
    assert!(
        rows.iter()
            .all(|row| row.status == "delivered" && row.attempts == 1),
        "{rows:#?}"
    );
}

#[tokio::test]
async fn a_change_made_with_raw_sql_is_delivered() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app.db, &receiver.url("/hook"), &["user.updated"]).await;
    let user = app.create_user("Fay", "fay@example.com").await;
    let id = user["id"].as_i64().unwrap();

    sqlx::query("update users set name = 'Fay Raw' where id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let received = receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;
    let event = verified(&received[0], &secret);
    assert_eq!(event["type"], "user.updated");
    assert_eq!(
        event["data"]["changes"],
        json!({"name": ["Fay", "Fay Raw"]})
    );
    assert_eq!(event["data"]["user"], user_json(&app, id).await);
}

#[tokio::test]
async fn delivery_latency_from_write_to_receipt() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;

    const WRITES: usize = 50;
    let mut sent = Vec::with_capacity(WRITES);
    for n in 0..WRITES {
        let started = Instant::now();
        let user = app
            .create_user(&format!("Latency {n}"), &format!("latency{n}@example.com"))
            .await;
        sent.push((user["id"].as_i64().unwrap(), started));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = receiver
        .wait_for("/hook", WRITES, Duration::from_secs(20))
        .await;
    let mut latencies: Vec<Duration> = sent
        .iter()
        .map(|(id, started)| {
            let arrival = received
                .iter()
                .find(|r| verified(r, &secret)["data"]["user"]["id"] == *id)
                .expect("every user's event arrived");
            arrival.at - *started
        })
        .collect();
    latencies.sort();
    let p50 = latencies[WRITES / 2];
    let p99 = latencies[WRITES * 99 / 100];
    eprintln!(
        "write → receipt over {WRITES} creates: p50 {p50:?}, p99 {p99:?}, max {:?}",
        latencies[WRITES - 1]
    );
    // Woken by the write itself, not by the idle look every 5 s.
    assert!(p50 < Duration::from_secs(1), "p50 {p50:?}");
}

/// The service binary on a port of its own, killed when dropped.
struct Instance {
    child: tokio::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Instance {
    async fn start(database_url: &str, prefix: &str) -> Self {
        let port = closed_port();
        let log = std::env::temp_dir().join(format!("useradmin-webhooks-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_useradmin"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url())
            .env("REDIS_KEY_PREFIX", prefix)
            .env("PORT", port.to_string())
            .env("BIND", "127.0.0.1")
            .env("ADMIN_PASSWORD", "admin-password-for-tests")
            .env("COOKIE_SECURE", "false")
            .env("WEBHOOK_ALLOW_PRIVATE", "true")
            .env("RUST_LOG", "info,sqlx=warn,fred=warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut instance = Self { child, port, log };
        instance.wait_healthy().await;
        instance
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client.get(self.url("/health")).send().await
                && response.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the instance exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "not healthy in time: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn sigkill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// A new API token, made with the command line.
async fn cli_token(database_url: &str) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_useradmin"))
        .args(["token", "create", "--name", "webhooks"])
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_with_the_command_line_is_sent_at_once_by_a_running_instance() {
    let database = format!("ua_test_{}", uuid::Uuid::new_v4().simple());
    let database_url = database_url_for(&database);
    let prefix = format!("useradmin:test:{database}:");
    let instance = Instance::start(&database_url, &prefix).await;
    let db = PgPool::connect(&database_url).await.unwrap();
    let receiver = Receiver::start().await;
    let (_, secret) = register(&db, &receiver.url("/hook"), &["token.created"]).await;
    // Long enough for the idle look before the command: what follows is woken.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    cli_token(&database_url).await;
    // The command has no dispatcher of its own; the instance's idle look would
    // take up to 5 s.
    let received = receiver.wait_for("/hook", 1, Duration::from_secs(3)).await;
    let elapsed = started.elapsed();
    assert_eq!(verified(&received[0], &secret)["type"], "token.created");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    drop(instance);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_queued_before_a_sigkill_arrives_after_a_restart() {
    let database = format!("ua_test_{}", uuid::Uuid::new_v4().simple());
    let database_url = database_url_for(&database);
    let prefix = format!("useradmin:test:{database}:");
    // The receiver is down while the first instance runs.
    let receiver_port = closed_port();

    let first = Instance::start(&database_url, &prefix).await;
    let db = PgPool::connect(&database_url).await.unwrap();
    let (webhook_id, secret) = register(
        &db,
        &format!("http://127.0.0.1:{receiver_port}/hook"),
        &["user.created"],
    )
    .await;
    let token = cli_token(&database_url).await;
    let response = reqwest::Client::new()
        .post(first.url("/users"))
        .bearer_auth(&token)
        .json(&json!({"name": "Gus", "email": "gus@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    first.sigkill().await;
    assert_eq!(
        deliveries_of(&db, webhook_id).await[0].status,
        "pending",
        "not delivered while the receiver was down"
    );

    let receiver = Receiver::start_on(receiver_port).await;
    let _second = Instance::start(&database_url, &prefix).await;
    // At most the retry's wait, or the minute a dead instance's claim holds.
    let received = receiver.wait_for("/hook", 1, Duration::from_secs(90)).await;
    let event = verified(&received[0], &secret);
    assert_eq!(event["type"], "user.created");
    assert_eq!(event["data"]["user"]["id"], user["id"]);
    let rows = wait_for_deliveries(&db, webhook_id, Duration::from_secs(5), |rows| {
        rows[0].status == "delivered"
    })
    .await;
    eprintln!("delivered on attempt {}", rows[0].attempts);
    db.close().await;
}

#[tokio::test]
async fn a_test_event_and_a_redelivery_arrive_with_their_ids() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (webhook_id, secret) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;

    let tests = Actor::cli("tests");
    let queued = (app.state.writer)
        .send_test_event(&tests, webhook_id)
        .await
        .unwrap();
    assert_eq!(
        (queued.event_type.as_str(), queued.status.as_str()),
        ("webhook.test", "pending")
    );
    let received = receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;
    let event = verified(&received[0], &secret);
    assert_eq!(event["type"], "webhook.test");
    assert_eq!(
        event["data"],
        json!({"webhook": {"id": webhook_id}, "test": true})
    );
    let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(5), |rows| {
        rows[0].status == "delivered"
    })
    .await;
    assert_eq!(rows[0].id, queued.id);

    let again = app.state.writer.redeliver(&tests, queued.id).await.unwrap();
    assert_eq!((again.status.as_str(), again.attempts), ("pending", 0));
    let received = receiver.wait_for("/hook", 2, Duration::from_secs(10)).await;
    verified(&received[1], &secret);
    assert_eq!(
        header_of(&received[1], "webhook-id"),
        header_of(&received[0], "webhook-id"),
        "a redelivery is the same message"
    );
    assert_eq!(received[1].body, received[0].body);
    assert!(matches!(
        app.state.writer.redeliver(&tests, i64::MAX).await,
        Err(WriteError::NotFound)
    ));
}

#[tokio::test]
async fn a_paused_endpoint_keeps_its_deliveries_until_resumed() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (webhook_id, _) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;
    sqlx::query("update webhooks set active = false where id = $1")
        .bind(webhook_id)
        .execute(&app.db)
        .await
        .unwrap();
    (app.state.writer)
        .send_test_event(&Actor::cli("tests"), webhook_id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rows = deliveries_of(&app.db, webhook_id).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("pending", 0));
    assert!(receiver.received("/hook").is_empty());

    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("update webhooks set active = true where id = $1")
        .bind(webhook_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    deliveries::wake_dispatchers(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    receiver.wait_for("/hook", 1, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn shutdown_releases_the_deliveries_it_could_not_finish() {
    let mut app = spawn_app_allowing_private().await;
    // The app's pool closes with it: the test reads through its own.
    let db = PgPool::connect(&database_url_for(&app.database_name))
        .await
        .unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Accepts connections and never answers.
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (webhook_id, _) = register(&db, &url, &["user.created"]).await;
    app.create_user("Hal", "hal@example.com").await;
    wait_for_deliveries(&db, webhook_id, Duration::from_secs(5), |rows| {
        rows[0].attempts == 1
    })
    .await;

    let stopping = Instant::now();
    app.stop();
    loop {
        let (status, attempts, released): (String, i32, bool) = sqlx::query_as(
            "select status, attempts, claimed_until is null from webhook_deliveries \
             where webhook_id = $1",
        )
        .bind(webhook_id)
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!((status.as_str(), attempts), ("pending", 1));
        if released {
            break;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "not released at shutdown (the claim would hold for a minute)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("released {:?} after the stop", stopping.elapsed());
    hold.abort();
    db.close().await;
}

#[tokio::test]
async fn retries_end_24_hours_after_the_delivery_was_created() {
    let app = spawn_app_allowing_private().await;
    let (webhook_id, _) = register(&app.db, "http://127.0.0.1:9/hook", &["user.created"]).await;
    // Claimed by no running instance (its claim holds): as if mid-attempt.
    let insert = |age: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "insert into webhook_deliveries \
                     (webhook_id, event_type, occurred_at, payload, attempts, claimed_until, \
                      created_at) \
                 values ($1, 'webhook.test', now(), '{}', 7, now() + interval '1 hour', \
                         now() - $2::interval) \
                 returning id",
            )
            .bind(webhook_id)
            .bind(age)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let failure = bookkeeping::Failure {
        response_code: Some(503),
        error: "answered 503 Service Unavailable",
        duration_ms: 12,
        retry_after: Duration::from_secs(3600),
    };
    let young = insert("1 hour").await;
    let nearly_a_day = insert("23 hours 59 minutes 50 seconds").await;
    let over_a_day = insert("24 hours 1 second").await;

    assert!(
        !bookkeeping::record_failure(&app.db, young, 7, &failure)
            .await
            .unwrap()
    );
    assert!(
        !bookkeeping::record_failure(&app.db, nearly_a_day, 7, &failure)
            .await
            .unwrap()
    );
    assert!(
        bookkeeping::record_failure(&app.db, over_a_day, 7, &failure)
            .await
            .unwrap()
    );
    // A stale claim (another attempt count) records nothing.
    assert!(
        !bookkeeping::record_failure(&app.db, young, 6, &failure)
            .await
            .unwrap()
    );

    let waits: Vec<(i64, String, f64)> = sqlx::query_as(
        "select id, status, extract(epoch from next_attempt_at - now())::float8 \
         from webhook_deliveries where webhook_id = $1 order by id",
    )
    .bind(webhook_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let (_, status, wait) = &waits[0];
    assert_eq!(status, "pending");
    assert!(
        (3500.0..3601.0).contains(wait),
        "the backoff's wait: {wait}"
    );
    let (_, status, wait) = &waits[1];
    assert_eq!(status, "pending");
    assert!((0.0..11.0).contains(wait), "capped at 24 hours: {wait}");
    assert_eq!(waits[2].1, "failed");
    let rows = deliveries_of(&app.db, webhook_id).await;
    let failed = rows.iter().find(|row| row.id == over_a_day).unwrap();
    assert_eq!(failed.response_code, Some(503));
    assert_eq!(failed.duration_ms, Some(12));
    assert_eq!(
        failed.last_error.as_deref(),
        Some("answered 503 Service Unavailable")
    );
}
