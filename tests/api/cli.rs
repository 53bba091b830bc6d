use std::{
    io::Write,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{closed_port, database_url_for, redis_url, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_useradmin");

fn fresh_database() -> String {
    database_url_for(&format!("ua_test_{}", uuid::Uuid::new_v4().simple()))
}

fn useradmin(database_url: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env_remove("ADMIN_PASSWORD")
        .env_remove("RUST_LOG");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.output().unwrap()
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
    let output = Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", fresh_database())
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
    let db = fresh_database();
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
    let db = fresh_database();
    let run = |email: &str, password: &str| {
        let mut child = Command::new(BIN)
            .args(["create-admin", "--email", email, "--name", "Someone"])
            .env("DATABASE_URL", &db)
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
    let db = fresh_database();
    let start = || {
        let port = closed_port();
        let child = Command::new(BIN)
            .arg("serve")
            .env("DATABASE_URL", &db)
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
