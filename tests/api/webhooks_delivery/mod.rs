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

use crate::helpers::{
    Options, TestApp, TestDatabase, closed_port, database_url_for, redis_url, spawn_app_with,
};

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

mod arrival;
mod instances;
mod retries;
