//! The command line: settings and start-up messages, help, tokens, create-admin
//! (piped or on a terminal), healthcheck and serve.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_useradmin");

fn useradmin(database_url: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("REDIS_KEY_PREFIX", prefix_of(database_url))
        .env("REDIS_URL", redis_url())
        .env_remove("ADMIN_PASSWORD")
        .env_remove("RUST_LOG");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// The Redis key prefix that goes with the test database in `database_url`.
fn prefix_of(database_url: &str) -> String {
    let url = url::Url::parse(database_url).expect("a database URL");
    key_prefix_for(url.path().trim_start_matches('/'))
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn a_malformed_setting_stops_start_up_with_one_line_naming_it() {
    for (name, value) in [
        ("PORT", "eighty"),
        ("COOKIE_SECURE", "maybe"),
        ("DATABASE_URL", "mysql://x"),
    ] {
        let output = Command::new(BIN)
            .arg("migrate")
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}");
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn help_lists_every_setting() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let help = stdout(&output);
    for variable in useradmin::cli::VARIABLES {
        assert!(
            help.lines().any(|line| line
                .trim_start()
                .starts_with(&format!("{} ", variable.name))),
            "`useradmin --help` does not list {}:\n{help}",
            variable.name
        );
    }
    // The short help points to the long one.
    let short = stdout(&Command::new(BIN).arg("-h").output().unwrap());
    assert!(short.contains("--help"), "{short}");
}

#[test]
fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    let scratch = TestDatabase::new();
    let output = Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", scratch.url())
        .env("REDIS_KEY_PREFIX", scratch.key_prefix())
        .env("REDIS_URL", redis_url())
        .env_remove("RUST_LOG")
        .env_remove("LOG_FORMAT")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("migrations applied"), "{log}");
    assert!(
        !log.contains("\x1b["),
        "colour codes in a piped log: {log:?}"
    );
}

#[test]
fn token_create_prints_only_the_token_and_list_and_revoke_manage_it() {
    let scratch = TestDatabase::new();
    let db = scratch.url();
    // Without any admin there is nobody to own a token.
    let output = useradmin(&db, &[], &["token", "create", "--name", "orphan"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("create-admin"),
        "{}",
        stderr(&output)
    );

    let output = useradmin(
        &db,
        &[("ADMIN_PASSWORD", "a strong password")],
        &[
            "create-admin",
            "--email",
            "Ops@Example.com",
            "--name",
            "Ops",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("created admin Ops@Example.com"));

    let output = useradmin(&db, &[], &["token", "create", "--name", "nightly sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output);
    assert_eq!(
        token.lines().count(),
        1,
        "only the token on stdout: {token:?}"
    );
    assert!(token.trim().starts_with("ua_"));

    let output = useradmin(&db, &[], &["token", "list"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(list[0]["label"], "nightly sync");
    assert_eq!(list[0]["revoked_at"], serde_json::Value::Null);
    assert!(
        !stdout(&output).contains(token.trim()),
        "the list never shows a token"
    );
    let id = list[0]["id"].as_i64().unwrap().to_string();

    let output = useradmin(&db, &[], &["token", "revoke", &id]);
    assert!(output.status.success());
    let output = useradmin(&db, &[], &["token", "list"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(list[0]["revoked_at"].is_string());
    let output = useradmin(&db, &[], &["token", "revoke", "999"]);
    assert!(!output.status.success());
}

#[test]
fn create_admin_reads_the_password_from_stdin_and_promotes_existing_users() {
    let scratch = TestDatabase::new();
    let db = scratch.url();
    let run = |email: &str, password: &str| {
        let mut child = Command::new(BIN)
            .args(["create-admin", "--email", email, "--name", "Someone"])
            .env("DATABASE_URL", &db)
            .env("REDIS_KEY_PREFIX", prefix_of(&db))
            .env_remove("ADMIN_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let output = run("first@example.com", "password one\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run("FIRST@example.com", "password two\n");
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("is now an admin"),
        "{}",
        stdout(&output)
    );
    let output = run("x@example.com", "short\n");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("at least 8"),
        "{}",
        stderr(&output)
    );
}

// Multi-threaded: the blocking child processes must not stall the server under test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_only_when_the_instance_is_healthy() {
    let app = spawn_app().await;
    let healthy = Command::new(BIN)
        .args(["healthcheck", "--url", &app.url("/health")])
        .output()
        .unwrap();
    assert!(healthy.status.success(), "{}", stderr(&healthy));
    let down = Command::new(BIN)
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/health", closed_port()),
        ])
        .output()
        .unwrap();
    assert!(!down.status.success());
    // PORT picks the default URL.
    let by_port = Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", app.port.to_string())
        .output()
        .unwrap();
    assert!(by_port.status.success(), "{}", stderr(&by_port));
}

#[test]
fn serve_creates_the_first_admin_once_and_exits_0_on_sigterm() {
    let scratch = TestDatabase::new();
    let db = scratch.url();
    let start = || {
        let port = closed_port();
        let child = Command::new(BIN)
            .arg("serve")
            .env("DATABASE_URL", &db)
            .env("REDIS_KEY_PREFIX", prefix_of(&db))
            .env("REDIS_URL", redis_url())
            .env("PORT", port.to_string())
            .env("BIND", "127.0.0.1")
            .env_remove("ADMIN_PASSWORD")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = Command::new(BIN)
                .args([
                    "healthcheck",
                    "--url",
                    &format!("http://127.0.0.1:{port}/health"),
                ])
                .output()
                .unwrap()
                .status
                .success();
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "did not become healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
        child
    };
    let stop = |child: std::process::Child| {
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let started = Instant::now();
        let output = child.wait_with_output().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stderr(&output)
    };

    let first = stop(start());
    assert!(first.contains("FIRST ADMIN CREATED"), "{first}");
    assert!(!first.contains("\x1b["), "no colour codes in a piped log");
    assert!(first.contains("admin@example.com"));
    let password_line = first.lines().find(|l| l.contains("password:")).unwrap();
    let password = password_line.split("password:").nth(1).unwrap().trim();
    assert!(
        password.len() >= 20,
        "a strong generated password: {password:?}"
    );

    let second = stop(start());
    assert!(!second.contains("FIRST ADMIN CREATED"), "logged once only");
    assert!(!second.contains(password));
}

/// Runs `useradmin create-admin` on a pseudo-terminal (`script`), typing each
/// answer after its prompt; returns (exit code, everything the terminal showed).
fn create_admin_on_a_terminal(database_url: &str, answers: &[&str]) -> (Option<i32>, String) {
    let command = format!("{BIN} create-admin --email tty@example.com --name Tty");
    let mut child = Command::new("script")
        .args(["-q", "-e", "-E", "always", "-c", &command, "/dev/null"])
        .env("DATABASE_URL", database_url)
        .env("REDIS_KEY_PREFIX", prefix_of(database_url))
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
    let scratch = TestDatabase::new();
    let db = scratch.url();
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
    let scratch = TestDatabase::new();
    let db = scratch.url();
    let mut child = Command::new(BIN)
        .args([
            "create-admin",
            "--email",
            "pipe@example.com",
            "--name",
            "Pipe",
        ])
        .env("DATABASE_URL", &db)
        .env("REDIS_KEY_PREFIX", prefix_of(&db))
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

/// Starts `useradmin serve` and collects its output lines as they come.
struct Serving {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _scratch: TestDatabase,
}

impl Serving {
    fn start(env: &[(&str, String)]) -> Self {
        let scratch = TestDatabase::new();
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env("DATABASE_URL", scratch.url())
            .env("REDIS_KEY_PREFIX", scratch.key_prefix())
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
            _scratch: scratch,
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

/// `token create --scopes --expires-in-days --user`: an identity provider's
/// token that may only provision through SCIM.
#[tokio::test]
async fn token_create_takes_scopes_an_expiry_and_an_owner() {
    let app = spawn_app().await;
    let db = database_url_for(&app.database_name);
    let prefix = app.key_prefix.clone();
    let env = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let args = [
        "token",
        "create",
        "--name",
        "identity provider",
        "--user",
        ADMIN_EMAIL,
        "--scopes",
        "scim.provision",
        "--expires-in-days",
        "30",
    ];
    let output = useradmin(&db, &env, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output).trim().to_owned();
    let client = reqwest::Client::new();
    let scim = client
        .get(app.url("/scim/v2/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), 200);
    let users = client
        .get(app.url("/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 403);

    let output = useradmin(&db, &env, &["token", "list"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "identity provider")
        .unwrap();
    assert_eq!(listed["scopes"], serde_json::json!(["scim.provision"]));
    assert!(listed["expires_at"].is_string());

    // The old flag still names the owner.
    let owner = [
        "token",
        "create",
        "--name",
        "old flag",
        "--owner",
        ADMIN_EMAIL,
    ];
    assert!(useradmin(&db, &env, &owner).status.success());
    for (flag, value) in [("--scopes", "users.nope"), ("--expires-in-days", "400")] {
        let args = ["token", "create", "--name", "refused", flag, value];
        let output = useradmin(&db, &env, &args);
        assert!(!output.status.success(), "{flag} {value}");
        assert!(stderr(&output).contains(flag), "{}", stderr(&output));
    }
}

/// `token create --user` for someone who is no admin: the token may do what
/// its owner holds and no more.
#[tokio::test]
async fn a_token_for_a_viewer_holds_only_what_the_viewer_holds() {
    let app = spawn_app().await;
    let db = database_url_for(&app.database_name);
    let prefix = app.key_prefix.clone();
    let env = [("REDIS_KEY_PREFIX", prefix.as_str())];
    app.create_user("Vera Viewer", "vera@example.com").await;
    let create = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "create",
            "--name",
            "report",
            "--user",
            "vera@example.com",
        ];
        args.extend_from_slice(extra);
        useradmin(&db, &env, &args)
    };
    // Nothing held, nothing to give.
    let output = create(&[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("holds no permission"),
        "{}",
        stderr(&output)
    );
    assert!(
        useradmin(&db, &env, &["grant", "vera@example.com", "viewer"])
            .status
            .success()
    );
    let output = create(&["--scopes", "users.read,users.write"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("users.write"),
        "{}",
        stderr(&output)
    );
    let output = create(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output).trim().to_owned();
    let client = reqwest::Client::new();
    let read = client
        .get(app.url("/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let write = client
        .post(app.url("/users"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "X", "email": "x@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
}

/// `role list`, `grant` and `revoke`: roles from the command line, with a
/// clear message and exit 1 for an unknown email or role, and a second grant
/// saying the user held it already.
#[tokio::test]
async fn role_list_grant_and_revoke_manage_roles_from_the_command_line() {
    let app = spawn_app().await;
    let db = database_url_for(&app.database_name);
    let prefix = app.key_prefix.clone();
    let env = [("REDIS_KEY_PREFIX", prefix.as_str())];
    let user = app.create_user("Helper", "helper@example.com").await;
    let id = user["id"].as_i64().unwrap();

    let output = useradmin(&db, &env, &["role", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let list = stdout(&output);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "{list}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["NAME", "BUILTIN", "PERMISSIONS"]);
    let viewer: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(viewer, ["viewer", "yes", "audit.read,users.read"]);

    let output = useradmin(&db, &env, &["grant", "HELPER@example.com", "Helpdesk"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("helper@example.com now holds the role helpdesk"),
        "{}",
        stdout(&output)
    );
    let (_, shown) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(shown["roles"], serde_json::json!(["helpdesk"]));
    assert!(
        shown["permissions"]
            .as_array()
            .unwrap()
            .contains(&"users.lifecycle".into()),
        "{shown}"
    );
    let output = useradmin(&db, &env, &["grant", "helper@example.com", "helpdesk"]);
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("already held"),
        "{}",
        stdout(&output)
    );

    for (args, says) in [
        (
            ["grant", "nobody@example.com", "helpdesk"],
            "no user has the email",
        ),
        (
            ["grant", "helper@example.com", "wizards"],
            "no role is named",
        ),
        (
            ["revoke", "nobody@example.com", "helpdesk"],
            "no user has the email",
        ),
        (
            ["revoke", "helper@example.com", "wizards"],
            "no role is named",
        ),
    ] {
        let output = useradmin(&db, &env, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }

    let output = useradmin(&db, &env, &["revoke", "helper@example.com", "helpdesk"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("no longer holds"),
        "{}",
        stdout(&output)
    );
    let (_, shown) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(shown["roles"], serde_json::json!([]));
    let output = useradmin(&db, &env, &["revoke", "helper@example.com", "helpdesk"]);
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("did not hold"),
        "{}",
        stdout(&output)
    );

    // The last admin keeps the role.
    let output = useradmin(&db, &env, &["revoke", ADMIN_EMAIL, "admin"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("last admin"),
        "{}",
        stderr(&output)
    );
    let (_, admin) = app.get_json(&format!("/users/{}", app.admin_id)).await;
    assert_eq!(admin["is_admin"], true);

    let changed = audit_events(
        &app,
        &format!("action=user.roles_changed&subject=user:{id}"),
    )
    .await;
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(changed[0]["via"], "cli");
}

/// A start that cannot reach PostgreSQL says where it looked and why, in
/// words: no `(os error 111)`, no "at line 768" of PostgreSQL's own source.
#[test]
fn a_start_up_error_names_the_address_and_the_cause_in_words() {
    let port = closed_port();
    let output = useradmin(
        &format!("postgres://postgres:secret@127.0.0.1:{port}/nowhere"),
        &[],
        &["migrate"],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("PostgreSQL at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    assert!(!err.contains("secret"), "never the password: {err}");

    // PostgreSQL answers, and refuses: its message alone.
    let scratch = TestDatabase::new();
    let url = scratch
        .url()
        .replacen("postgres://postgres", "postgres://no_such_role", 1);
    let output = useradmin(&url, &[], &["migrate"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("role \"no_such_role\" does not exist"),
        "{err}"
    );
    assert!(!err.contains("at line"), "{err}");
    assert_eq!(err.matches("does not exist").count(), 1, "{err}");
}

#[test]
fn a_malformed_rust_log_stops_start_up_with_one_line_naming_it() {
    let scratch = TestDatabase::new();
    let output = useradmin(
        &scratch.url(),
        &[("RUST_LOG", "info,sqlx=loud")],
        &["migrate"],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("RUST_LOG"), "{err}");
    // A good one is taken.
    let output = useradmin(&scratch.url(), &[("RUST_LOG", "warn")], &["migrate"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn importing_a_directory_names_it() {
    let dir = std::env::temp_dir().join(format!("ua-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scratch = TestDatabase::new();
    let output = useradmin(&scratch.url(), &[], &["import", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(dir.to_str().unwrap()), "{err}");
    assert!(err.contains("is a directory"), "{err}");
    std::fs::remove_dir(dir).unwrap();
}

/// `export --sort -name`, as `--help` puts it, sorts by name descending.
#[tokio::test]
async fn export_sorts_descending_with_a_leading_minus() {
    let app = spawn_app().await;
    for (name, email) in [("Ann", "ann@example.com"), ("Zoe", "zoe@example.com")] {
        app.create_user(name, email).await;
    }
    let help = stdout(
        &Command::new(BIN)
            .args(["export", "--help"])
            .output()
            .unwrap(),
    );
    assert!(help.contains("--sort -name"), "{help}");
    let output = useradmin(
        &database_url_for(&app.database_name),
        &[("REDIS_KEY_PREFIX", app.key_prefix.as_str())],
        &[
            "export",
            "--format",
            "ndjson",
            "--sort",
            "-name",
            "--q",
            "example.com",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let names: Vec<String> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["name"].to_string())
        .collect();
    let zoe = names.iter().position(|n| n.contains("Zoe")).unwrap();
    let ann = names.iter().position(|n| n.contains("Ann")).unwrap();
    assert!(zoe < ann, "{names:?}");
}

/// Without `$USER` (a container, cron) the audit trail still says who ran a
/// command: the system's name for the process's user.
#[test]
fn a_command_line_actor_is_named_without_user_in_the_environment() {
    let scratch = TestDatabase::new();
    let db = scratch.url();
    let mut command = Command::new(BIN);
    command
        .args([
            "create-admin",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ])
        .env("DATABASE_URL", &db)
        .env("REDIS_KEY_PREFIX", scratch.key_prefix())
        .env("REDIS_URL", redis_url())
        .env("ADMIN_PASSWORD", "a strong password")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("RUST_LOG");
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let whoami = Command::new("id").arg("-un").output().unwrap();
    let expected = String::from_utf8(whoami.stdout).unwrap().trim().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let label: String = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db).await.unwrap();
        sqlx::query_scalar("select actor_label from audit_events where actor_kind = 'cli' limit 1")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    assert_eq!(label, expected);
    assert_ne!(label, "unknown");
}

/// `--help` lists every command, and says which use the database without
/// leaving any out.
#[test]
fn help_lists_every_command() {
    use clap::CommandFactory;
    let help = stdout(&Command::new(BIN).arg("--help").output().unwrap());
    for command in useradmin::cli::Cli::command().get_subcommands() {
        let name = command.get_name();
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(&format!("{name} "))),
            "`useradmin --help` does not list {name}:\n{help}"
        );
    }
    assert!(
        help.contains("Every command but healthcheck uses the database"),
        "{help}"
    );
}

/// On a terminal the import counts the rows it has planned, with separators,
/// and a whole rate, then leaves one summary line: "12,345 rows planned
/// (4,100 rows/s, 3s)", never "4100.1234/s".
#[test]
fn import_progress_on_a_terminal_reads_as_counts() {
    let scratch = TestDatabase::new();
    let dir = std::env::temp_dir().join(format!("ua-tty-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("people.ndjson");
    let lines: String = (0..20_000)
        .map(|i| format!("{{\"name\":\"P {i}\",\"email\":\"p{i}@example.com\"}}\n"))
        .collect();
    std::fs::write(&file, lines).unwrap();
    let output = Command::new("script")
        .args([
            "-qec",
            &format!("{BIN} import {} --dry-run > /dev/null", file.display()),
            "/dev/null",
        ])
        .env("DATABASE_URL", scratch.url())
        .env("REDIS_KEY_PREFIX", scratch.key_prefix())
        .env("REDIS_URL", redis_url())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    let screen = stdout(&output);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains(" rows planned ("), "{screen}");
    assert!(screen.contains(" rows/s, "), "{screen}");
    let mut rest = screen.as_str();
    while let Some(end) = rest.find(" rows/s") {
        let start = rest[..end].rfind('(').map_or(0, |at| at + 1);
        let rate = &rest[start..end];
        assert!(!rate.contains('.'), "a rate with decimals: {rate:?}");
        rest = &rest[end + 1..];
    }
    // The summary on a line of its own, the progress line cleared.
    assert!(
        screen.split(['\r', '\n']).any(|line| line
            .trim_start_matches("\x1b[2K")
            .starts_with("dry run, nothing written: 20,000 to create")),
        "{screen:?}"
    );
}
