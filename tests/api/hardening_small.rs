//! Small hardening fixes: list sort, request ids, response headers, the cache
//! breaker after /health, create-admin on a terminal, start-up messages, and
//! several X-Forwarded-For lines.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{
    Response,
    header::{self, HeaderMap, HeaderValue},
};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Options, OwnedRedis, assert_error, browser, closed_port, csrf_in,
    database_url_for, redis_url, spawn_app, spawn_app_with,
};

const BIN: &str = env!("CARGO_BIN_EXE_useradmin");

fn fresh_database() -> String {
    database_url_for(&format!("ua_test_{}", uuid::Uuid::new_v4().simple()))
}

// 1. Sort

#[tokio::test]
async fn a_sort_of_a_bare_minus_or_an_unknown_column_is_a_400() {
    let app = spawn_app().await;
    // Already URL-encoded ("-%20" is "- ").
    for bad in ["-", "--", "-unknown", "--id", "-%20"] {
        let response = app
            .api
            .get(app.url(&format!("/users?sort={bad}")))
            .send()
            .await
            .unwrap();
        let body = assert_error(response, 400).await;
        assert!(
            body["error"].as_str().unwrap().contains("sort"),
            "{bad:?}: {body}"
        );
    }
    let (status, _) = app.get_json("/users?sort=-id").await;
    assert_eq!(status, 200);
}

// 2. Request ids

async fn request_id_for(app: &crate::helpers::TestApp, sent: &str) -> (u16, Option<String>) {
    let response = app
        .anonymous
        .get(app.url("/health/live"))
        .header("x-request-id", sent)
        .send()
        .await
        .unwrap();
    let id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), id)
}

#[tokio::test]
async fn a_short_plain_request_id_is_echoed_and_anything_else_replaced() {
    let app = spawn_app().await;
    let valid = format!("abc-DEF_0.9{}", "x".repeat(53));
    assert_eq!(valid.len(), 64);
    assert_eq!(request_id_for(&app, &valid).await, (200, Some(valid)));

    let huge = "a".repeat(300 * 1024);
    for bad in ["a".repeat(65), "two words".into(), "a/b".into(), huge] {
        let (status, id) = request_id_for(&app, &bad).await;
        if status == 431 {
            // Refused before the service: not echoed either.
            assert_ne!(id.as_deref(), Some(bad.as_str()));
            continue;
        }
        assert_eq!(status, 200, "{}", &bad[..bad.len().min(80)]);
        let id = id.expect("a request id is always sent back");
        assert_ne!(id, bad);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "a fresh UUID, got {id:?}"
        );
    }
    // Fresh each time.
    let (_, first) = request_id_for(&app, "a b").await;
    let (_, second) = request_id_for(&app, "a b").await;
    assert_ne!(first, second);
}

// 3. Headers

fn header_text(response: &Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn vary_tokens(response: &Response) -> Vec<String> {
    header_text(response, header::VARY)
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

#[tokio::test]
async fn hsts_is_sent_on_every_response_only_when_cookies_are_secure() {
    let secure = spawn_app_with(Options {
        env: vec![("COOKIE_SECURE", "true".into())],
        ..Default::default()
    })
    .await;
    let plain = spawn_app().await;
    for path in [
        "/health",
        "/users",
        "/login",
        "/no-such-page",
        "/static/app.css",
    ] {
        let response = secure.api.get(secure.url(path)).send().await.unwrap();
        assert_eq!(
            header_text(&response, header::STRICT_TRANSPORT_SECURITY),
            "max-age=31536000",
            "{path}"
        );
        let response = plain.api.get(plain.url(path)).send().await.unwrap();
        assert!(
            response
                .headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .is_none(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn negotiated_responses_vary_on_accept_as_well_as_on_encoding() {
    let app = spawn_app().await;
    app.seed_users(20).await;
    for (path, accept) in [
        ("/users", "application/json"),
        ("/users", "text/html"),
        ("/login", "text/html"),
        ("/health", "*/*"),
        ("/no-such-page", "application/json"),
        ("/static/no-such-file.css", "text/html"),
    ] {
        let response = app
            .api
            .get(app.url(path))
            .header(header::ACCEPT, accept)
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        let vary = vary_tokens(&response);
        assert!(vary.contains(&"accept".to_owned()), "{path}: {vary:?}");
        assert_eq!(
            vary.iter().filter(|t| *t == "accept").count(),
            1,
            "{path}: {vary:?}"
        );
    }
    // Compression's own Vary is kept beside it.
    let response = app
        .api
        .get(app.url("/users"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header_text(&response, header::CONTENT_ENCODING), "gzip");
    let vary = vary_tokens(&response);
    assert!(
        vary.contains(&"accept-encoding".to_owned()) && vary.contains(&"accept".to_owned()),
        "{vary:?}"
    );
    // A static file is the same whatever the client accepts.
    let response = app
        .api
        .get(app.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!vary_tokens(&response).contains(&"accept".to_owned()));
}

#[tokio::test]
async fn json_responses_are_never_stored() {
    let app = spawn_app().await;
    let created = app.create_user("Stored Not", "stored@example.com").await;
    let id = created["id"].as_i64().unwrap();
    for path in [
        "/users".to_owned(),
        format!("/users/{id}"),
        "/health".into(),
        "/no-such-page".into(),
        "/users?limit=0".into(),
    ] {
        let response = app.api.get(app.url(&path)).send().await.unwrap();
        assert!(
            header_text(&response, header::CONTENT_TYPE).starts_with("application/json"),
            "{path}"
        );
        assert_eq!(
            header_text(&response, header::CACHE_CONTROL),
            "no-store",
            "{path}"
        );
    }
    let response = app.anonymous.get(app.url("/users")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(header_text(&response, header::CACHE_CONTROL), "no-store");
}

// 4. The list cache after Redis comes back

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_green_health_check_puts_the_list_cache_back_in_use_at_once() {
    let mut redis = OwnedRedis::start();
    let app = spawn_app_with(Options {
        env: vec![("REDIS_URL", redis.url())],
        ..Default::default()
    })
    .await;
    let list = || async {
        let (status, body) = app.get_json("/users").await;
        assert_eq!(status, 200, "{body}");
        body["source"].as_str().unwrap().to_owned()
    };
    list().await;
    assert_eq!(list().await, "cache");

    redis.stop();
    // Pages kept in process memory are trusted only under the invalidation
    // connection's lease (0.5 s); within about that, the list comes from the
    // database.
    let deadline = Instant::now() + Duration::from_secs(2);
    while list().await != "database" {
        assert!(
            Instant::now() < deadline,
            "still served from memory after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.state.generation.is_bypassed(), "the breaker is open");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.anonymous.get(app.url("/health")).send().await.unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "/health did not become green");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !app.state.generation.is_bypassed(),
        "a green /health closes the breaker"
    );
    // The restarted Redis is empty: one request fills, the next is a hit.
    let started = Instant::now();
    assert_eq!(list().await, "database");
    assert_eq!(list().await, "cache");
    assert!(started.elapsed() < Duration::from_millis(500));
}

// 5. create-admin on a terminal

/// Runs `useradmin create-admin` on a pseudo-terminal (`script`), typing each
/// answer after its prompt; returns (exit code, everything the terminal showed).
fn create_admin_on_a_terminal(database_url: &str, answers: &[&str]) -> (Option<i32>, String) {
    let command = format!("{BIN} create-admin --email tty@example.com --name Tty");
    let mut child = Command::new("script")
        .args(["-q", "-e", "-E", "always", "-c", &command, "/dev/null"])
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env_remove("ADMIN_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) is installed");
    let shown = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for (i, answer) in answers.iter().enumerate() {
        // Wait for the (i+1)-th prompt before typing, so the echo is already off.
        while shown.lock().unwrap().matches("assword").count() <= i {
            assert!(
                Instant::now() < deadline,
                "no prompt: {}",
                shown.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let mut shown = shown.lock().unwrap().clone();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    shown.push_str(&stderr);
    (status.code(), shown)
}

#[test]
fn create_admin_on_a_terminal_asks_twice_without_echo() {
    let db = fresh_database();
    let (code, shown) = create_admin_on_a_terminal(&db, &["first typing 123", "second typing 456"]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("differ"), "{shown}");
    assert!(!shown.contains("first typing"), "echoed: {shown}");
    assert!(!shown.contains("second typing"), "echoed: {shown}");

    let (code, shown) =
        create_admin_on_a_terminal(&db, &["matching words 789", "matching words 789"]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("created admin tty@example.com"), "{shown}");
    assert!(!shown.contains("matching words"), "echoed: {shown}");
}

#[test]
fn create_admin_still_reads_one_piped_line() {
    let db = fresh_database();
    let mut child = Command::new(BIN)
        .args([
            "create-admin",
            "--email",
            "pipe@example.com",
            "--name",
            "Pipe",
        ])
        .env("DATABASE_URL", &db)
        .env("REDIS_URL", redis_url())
        .env_remove("ADMIN_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a piped password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin pipe@example.com"));
}

// 6. and 7. Start-up messages

/// Starts `useradmin serve` and collects its output lines as they come.
struct Serving {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Serving {
    fn start(env: &[(&str, String)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env("DATABASE_URL", fresh_database())
            .env("REDIS_URL", redis_url())
            .env("BIND", "127.0.0.1")
            .env("PORT", closed_port().to_string())
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("RUST_LOG")
            .env_remove("LOG_FORMAT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [out, err] {
            let lines = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        Self {
            child,
            lines,
            readers,
        }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Stops it (SIGTERM) unless it has exited; returns its exit code.
    fn finish(mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = Command::new("kill")
                    .args(["-TERM", &self.child.id().to_string()])
                    .status();
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        status.code()
    }
}

#[test]
fn an_unreachable_redis_at_start_up_is_reported_once_by_address() {
    let port = closed_port();
    let serving = Serving::start(&[("REDIS_URL", format!("redis://127.0.0.1:{port}/0"))]);
    let address = format!("127.0.0.1:{port}");
    let warnings = |serving: &Serving| {
        serving
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains("WARN") && line.contains(&address))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while warnings(&serving) == 0 {
        assert!(Instant::now() < deadline, "no warning: {}", serving.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still serving, and no second warning later.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(warnings(&serving), 1, "{}", serving.text());
    let text = serving.text();
    assert_eq!(serving.finish(Duration::ZERO), Some(0), "{text}");
}

#[test]
fn an_unreachable_database_at_start_up_is_reported_once() {
    let serving = Serving::start(&[(
        "DATABASE_URL",
        format!("postgres://postgres@127.0.0.1:{}/nowhere", closed_port()),
    )]);
    let lines = serving.lines.clone();
    let code = serving.finish(Duration::from_secs(60));
    let text = lines.lock().unwrap().join("\n");
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(text.matches("refused").count(), 1, "{text}");
}

#[test]
fn a_malformed_setting_is_printed_once() {
    let serving = Serving::start(&[("PORT", "abc".into())]);
    let lines = serving.lines.clone();
    assert_eq!(serving.finish(Duration::from_secs(30)), Some(2));
    let text = lines.lock().unwrap().join("\n");
    assert_eq!(text.matches("PORT").count(), 1, "{text}");
    assert_eq!(text.matches("invalid digit").count(), 1, "{text}");
}

// 8. Several X-Forwarded-For lines

async fn failed_login(app: &crate::helpers::TestApp, forwarded: &[&str]) -> u16 {
    let client = browser();
    let page = app.page(&client, "/login", 200).await;
    let mut headers = HeaderMap::new();
    for line in forwarded {
        headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
    }
    client
        .post(app.url("/login"))
        .headers(headers)
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", "wrong password"),
            ("csrf_token", &csrf_in(&page)),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_forwarded_for_line_is_read_and_the_right_most_address_counts() {
    let app = spawn_app_with(Options {
        env: vec![("TRUSTED_PROXY", "x-forwarded-for".into())],
        ..Default::default()
    })
    .await;
    // The client writes the first line; the proxy adds its own line.
    for i in 0..5 {
        let first = format!("203.0.113.{i}");
        assert_eq!(failed_login(&app, &[&first, "198.51.100.7"]).await, 401);
    }
    assert_eq!(
        failed_login(&app, &["203.0.113.99", "198.51.100.7"]).await,
        429
    );
    assert_eq!(
        failed_login(&app, &["198.51.100.7, 198.51.100.7"]).await,
        429
    );
    // Another client behind the same proxy is not blocked.
    assert_eq!(
        failed_login(&app, &["198.51.100.7", "198.51.100.8"]).await,
        401
    );
}
