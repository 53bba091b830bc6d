//! Several instances, the command line, SIGKILL and shutdown: each event
//! delivered once and none lost.

use super::*;

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
async fn cli_token(database_url: &str, prefix: &str) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_useradmin"))
        .args(["token", "create", "--name", "webhooks"])
        .env("DATABASE_URL", database_url)
        .env("REDIS_KEY_PREFIX", prefix)
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
    let scratch = TestDatabase::new();
    let database_url = scratch.url();
    let prefix = scratch.key_prefix();
    let instance = Instance::start(&database_url, &prefix).await;
    let db = PgPool::connect(&database_url).await.unwrap();
    let receiver = Receiver::start().await;
    let (_, secret) = register(&db, &receiver.url("/hook"), &["token.created"]).await;
    // Long enough for the idle look before the command: what follows is woken.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    cli_token(&database_url, &prefix).await;
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
    let scratch = TestDatabase::new();
    let database_url = scratch.url();
    let prefix = scratch.key_prefix();
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
    let token = cli_token(&database_url, &prefix).await;
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
