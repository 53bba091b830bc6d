//! Faults caused from outside the app process: PostgreSQL connections killed under
//! load, SIGTERM during a stream of requests, and many idle connections.

use std::{
    net::SocketAddr,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::future::join_all;
use reqwest::{Client, header};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::helpers::{TestDatabase, base_database_url, closed_port, redis_url, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_useradmin");

/// Terminates every connection the app holds to its database; returns how many.
async fn terminate_backends(database_name: &str) -> i64 {
    let mut conn = PgConnection::connect(&base_database_url()).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = $1 and pid <> pg_backend_pid()",
    )
    .bind(database_name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    killed.into_iter().filter(|k| *k).count() as i64
}

/// One request of a load loop: when it was sent, how long it took, its status.
#[derive(Debug)]
struct Sample {
    sent: Instant,
    took: Duration,
    status: u16,
    body: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_database_connections_answer_503_quickly_and_recover_without_restart() {
    let app = spawn_app().await;
    let user = app.create_user("Steady", "steady@example.com").await;
    let path = format!("/users/{}", user["id"]);

    let started = Instant::now();
    let run_for = Duration::from_secs(5);
    let loops = (0..4).map(|_| {
        let client = app.api.clone();
        let url = app.url(&path);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while started.elapsed() < run_for {
                let sent = Instant::now();
                let response = client.get(&url).send().await.expect("an answer, always");
                let status = response.status().as_u16();
                let text = response.text().await.expect("a complete body");
                samples.push(Sample {
                    sent,
                    took: sent.elapsed(),
                    status,
                    body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            samples
        })
    });
    let loops: Vec<_> = loops.collect();

    // Kill every connection once, then again and again for 1.5 s, so that some
    // die in the middle of a query.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first_kill = Instant::now();
    let mut killed = terminate_backends(&app.database_name).await;
    let mut last_kill = first_kill;
    while first_kill.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        last_kill = Instant::now();
        killed += terminate_backends(&app.database_name).await;
    }
    assert!(killed >= 1, "the app held connections to kill");

    let mut samples = Vec::new();
    for handle in loops {
        samples.extend(handle.await.unwrap());
    }
    assert!(
        samples.len() > 20,
        "the load ran: {} requests",
        samples.len()
    );
    for sample in &samples {
        assert!(
            sample.status == 200 || sample.status == 503,
            "{} after {:?}: {}",
            sample.status,
            sample.took,
            sample.body
        );
        if sample.status == 503 {
            assert!(sample.body["error"].is_string(), "{}", sample.body);
            assert!(
                !sample.body.to_string().contains("sqlx"),
                "no internal detail: {}",
                sample.body
            );
        }
        assert!(
            sample.took < Duration::from_secs(4),
            "an answer ({}) within ~3 s, not a hang: took {:?}",
            sample.status,
            sample.took
        );
    }
    // Recovery without a restart: requests sent after each kill succeed again soon.
    for kill in [first_kill, last_kill] {
        let recovered = samples
            .iter()
            .filter(|s| s.sent >= kill && s.status == 200)
            .map(|s| s.sent + s.took - kill)
            .min();
        assert!(
            recovered.is_some_and(|after| after < Duration::from_secs(5)),
            "a 200 within 5 s of the kill: {recovered:?}"
        );
    }
    let failures = samples.iter().filter(|s| s.status == 503).count();
    eprintln!(
        "{} requests, {failures} answered 503, {killed} connections killed",
        samples.len()
    );
    let (status, body) = app.get_json(&path).await;
    assert_eq!(status, 200, "{body}");
}

/// The real binary, serving on a port of its own; killed if a test fails early.
pub(crate) struct Served {
    child: Option<Child>,
    pub(crate) port: u16,
    log: PathBuf,
}

impl Served {
    pub(crate) fn start(database_url: &str, prefix: &str) -> Self {
        Self::start_with(database_url, prefix, &[], None)
    }

    /// With extra settings, and optionally under a file limit (`ulimit -n`).
    pub(crate) fn start_with(
        database_url: &str,
        prefix: &str,
        env: &[(&str, &str)],
        file_limit: Option<u64>,
    ) -> Self {
        let port = closed_port();
        let log = std::env::temp_dir().join(format!("useradmin-reliability-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(BIN);
        if let Some(limit) = file_limit {
            let limit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe and touches nothing but the
            // child's own limits.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url())
            .env("REDIS_KEY_PREFIX", prefix)
            .env("PORT", port.to_string())
            .env("BIND", "127.0.0.1")
            .env("ADMIN_PASSWORD", "admin-password-for-tests")
            .env("COOKIE_SECURE", "false")
            .env("RUST_LOG", "info,sqlx=warn,tower_http=warn,fred=warn")
            .envs(env.iter().copied())
            .arg("serve")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child: Some(child),
            port,
            log,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) async fn wait_healthy(&mut self) {
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client.get(self.url("/health")).send().await
                && response.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the server exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "did not become healthy: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn terminate(&self) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A create whose body is still arriving: the request is in the server's hands
/// (headers read, handler waiting for the rest) until `finish` sends the rest.
struct SlowCreate {
    rest: futures::channel::mpsc::UnboundedSender<Result<Vec<u8>, std::io::Error>>,
    tail: Vec<u8>,
    response: tokio::task::JoinHandle<Result<(u16, String), reqwest::Error>>,
}

impl SlowCreate {
    fn start(client: &Client, url: String, name: &str, email: &str) -> Self {
        let body = serde_json::to_vec(&json!({ "name": name, "email": email })).unwrap();
        let (head, tail) = body.split_at(body.len() / 2);
        let (rest, chunks) = futures::channel::mpsc::unbounded();
        rest.unbounded_send(Ok(head.to_vec())).unwrap();
        let request = client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(reqwest::Body::wrap_stream(chunks));
        let response = tokio::spawn(async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            Ok((status, response.text().await?))
        });
        Self {
            rest,
            tail: tail.to_vec(),
            response,
        }
    }

    async fn finish(self) -> Result<(u16, String), reqwest::Error> {
        self.rest.unbounded_send(Ok(self.tail)).unwrap();
        self.rest.close_channel();
        self.response.await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_refuses_new_ones_and_exits_0() {
    let scratch = TestDatabase::new();
    let database_url = scratch.url();
    let mut server = Served::start(&database_url, &scratch.key_prefix());
    server.wait_healthy().await;

    let output = tokio::process::Command::new(BIN)
        .args(["token", "create", "--name", "t"])
        .env("DATABASE_URL", &database_url)
        .env("REDIS_KEY_PREFIX", scratch.key_prefix())
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
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let mut db = PgConnection::connect(&database_url).await.unwrap();
    sqlx::query(
        "insert into users (name, email) \
         select 'user ' || lpad(n::text, 4, '0'), 'user' || n || '@example.com' \
         from generate_series(1, 2000) as n",
    )
    .execute(&mut db)
    .await
    .unwrap();

    let mut auth = header::HeaderMap::new();
    auth.insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let client = Client::builder()
        .default_headers(auth.clone())
        .build()
        .unwrap();

    // A stream of big list reads: every answer that starts must arrive whole.
    let terminated = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let client = Client::builder()
                .default_headers(auth.clone())
                .build()
                .unwrap();
            let url = server.url(&format!(
                "/users?limit=1000&sort={}",
                ["id", "-name", "email", "-id"][i]
            ));
            let terminated = terminated.clone();
            tokio::spawn(async move {
                let mut complete = 0;
                loop {
                    let response = match client.get(&url).send().await {
                        Ok(response) => response,
                        // Refused or closed before an answer began: only once
                        // shutdown has started.
                        Err(e) => {
                            assert!(
                                terminated.load(Ordering::SeqCst),
                                "request failed before SIGTERM: {e}"
                            );
                            return complete;
                        }
                    };
                    assert_eq!(response.status(), 200);
                    let text = response.text().await.expect("an answer arrives whole");
                    let page: Value = serde_json::from_str(&text).expect("complete JSON");
                    assert_eq!(page["data"].as_array().unwrap().len(), 1000);
                    // Keeps going until the server refuses a connection.
                    complete += 1;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let slow: Vec<SlowCreate> = (0..8)
        .map(|i| {
            SlowCreate::start(
                &client,
                server.url("/users"),
                &format!("In flight {i}"),
                &format!("inflight{i}@example.com"),
            )
        })
        .collect();
    // Let the server read their headers and start their handlers.
    tokio::time::sleep(Duration::from_millis(700)).await;

    terminated.store(true, Ordering::SeqCst);
    let signalled = Instant::now();
    server.terminate();

    // While the eight are still in flight, new connections are refused.
    let address: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let refused_by = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(address).await {
            // Reset: the probe reached the backlog just as the listener closed.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) => {
                assert!(
                    Instant::now() < refused_by,
                    "still accepting connections 5 s after SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    // The in-flight requests complete.
    let finished = join_all(slow.into_iter().map(SlowCreate::finish)).await;
    for (i, result) in finished.into_iter().enumerate() {
        let (status, text) =
            result.unwrap_or_else(|e| panic!("in-flight create {i} lost: {e}\n{}", server.log()));
        assert_eq!(status, 201, "{text}");
        let user: Value = serde_json::from_str(&text).expect("a complete JSON body");
        assert_eq!(user["name"], format!("In flight {i}"));
    }
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }

    let status = server
        .wait_exit(Duration::from_secs(10).saturating_sub(signalled.elapsed()))
        .await
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM: {}", server.log()));
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(server.log().contains("shutting down"), "{}", server.log());
    let error = TcpStream::connect(address).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);

    // Every acknowledged create is stored.
    let stored: i64 =
        sqlx::query_scalar("select count(*) from users where email like 'inflight%@example.com'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(stored, 8);
    assert!(reads > 0, "the read stream ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_idle_connections_do_not_starve_real_requests() {
    let app = spawn_app().await;
    let address: SocketAddr = format!("127.0.0.1:{}", app.port).parse().unwrap();
    let mut idle = Vec::new();
    for i in 0..200 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        if i % 2 == 1 {
            // Half of them begin a request and never finish its headers.
            stream
                .write_all(b"GET /users HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    for path in ["/health/live", "/users", "/health"] {
        let started = Instant::now();
        let response = app.api.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    // And a burst of real requests on fresh connections, all at once.
    let fresh = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    let statuses =
        join_all((0..20).map(|_| fresh.get(app.url("/users")).bearer_auth(&app.token).send()))
            .await;
    for status in statuses {
        assert_eq!(status.unwrap().status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "20 requests beside 200 idle connections took {:?}",
        started.elapsed()
    );
    drop(idle);
}
