//! Connection hardening: silent connections are closed, open
//! connections stay below the file limit, and a new client is served even when
//! idle ones hold every place.

use std::{
    net::SocketAddr,
    process::Command,
    time::{Duration, Instant},
};

use futures::future::join_all;
use reqwest::Client;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    faults::Served,
    helpers::{Options, TestDatabase, spawn_app, spawn_app_with},
};

const BIN: &str = env!("CARGO_BIN_EXE_useradmin");

/// The client preface of HTTP/2 with prior knowledge (h2c), then an empty
/// SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Reads (and discards) whatever the server sends until it closes the
/// connection; returns when it did, or `None` if it is still open after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

/// One HTTP/1.1 response read from a raw socket, whole (head and body).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .expect("a Content-Length");
            if data.len() >= head_end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_idle_sockets_under_a_file_limit_of_256_do_not_stop_health_checks() {
    let scratch = TestDatabase::new();
    let mut server = Served::start_with(&scratch.url(), &scratch.key_prefix(), &[], Some(256));
    server.wait_healthy().await;
    let address: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();

    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    // Fresh connections every time, as a load balancer's probes would make; a
    // starved server fails the test rather than hanging it.
    let probe = Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let response = probe
            .get(server.url("/health/live"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer: {e}\n{}", server.log()));
        assert_eq!(response.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "/health/live took {:?} beside 300 idle sockets",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let log = server.log();
    // At most one line a second over these three seconds, not one every 50 ms.
    assert!(
        log.matches("Too many open files").count() <= 3,
        "the log repeats itself:\n{log}"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_nothing_for_10_seconds_are_closed() {
    let app = spawn_app().await;
    let address: SocketAddr = format!("127.0.0.1:{}", app.port).parse().unwrap();

    // Connected, never a byte.
    let mut silent = TcpStream::connect(address).await.unwrap();
    let silent_since = Instant::now();

    // HTTP/2 with prior knowledge: the preface, then nothing.
    let mut h2 = TcpStream::connect(address).await.unwrap();
    h2.write_all(H2_PREFACE).await.unwrap();
    let h2_since = Instant::now();

    // HTTP/1.1 keep-alive: one request answered, then nothing.
    let mut kept = TcpStream::connect(address).await.unwrap();
    kept.write_all(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut kept).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let kept_since = Instant::now();

    let wait = Duration::from_secs(16);
    let (silent_closed, h2_closed, kept_closed) = tokio::join!(
        closed_within(&mut silent, wait),
        closed_within(&mut h2, wait),
        closed_within(&mut kept, wait),
    );
    for (what, since, closed) in [
        ("a silent connection", silent_since, silent_closed),
        ("an idle HTTP/2 connection", h2_since, h2_closed),
        ("an idle keep-alive connection", kept_since, kept_closed),
    ] {
        let closed = closed.unwrap_or_else(|| panic!("{what} is still open after {wait:?}"));
        let after = closed - since;
        assert!(
            after >= Duration::from_secs(9) && after < Duration::from_secs(13),
            "{what} was closed after {after:?}, not about 10 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_max_connections_the_idlest_connections_make_room_for_new_ones() {
    let app = spawn_app_with(Options {
        env: vec![("MAX_CONNECTIONS", "20".into())],
        ..Options::default()
    })
    .await;
    let address: SocketAddr = format!("127.0.0.1:{}", app.port).parse().unwrap();

    let mut idle = Vec::new();
    for _ in 0..25 {
        idle.push(TcpStream::connect(address).await.unwrap());
        // Distinct arrival times, so "idle longest" names one socket.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = app.api.get(app.url("/users")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // 25 idle sockets and the client's connection: the six oldest had to go,
    // the rest (19, beside the client's) are still open.
    let closed: Vec<bool> = join_all(
        idle.iter_mut()
            .map(|stream| closed_within(stream, Duration::from_millis(500))),
    )
    .await
    .into_iter()
    .map(|closed| closed.is_some())
    .collect();
    let expected: Vec<bool> = (0..25).map(|i| i < 6).collect();
    assert_eq!(closed, expected, "closed, oldest first");

    // Still serving, on a connection of its own.
    let fresh = Client::new();
    let response = fresh.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn a_malformed_max_connections_stops_start_up_with_exit_code_2() {
    for value in ["0", "many", "-3"] {
        let output = Command::new(BIN)
            .arg("serve")
            .env("MAX_CONNECTIONS", value)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("MAX_CONNECTIONS"), "{stderr}");
    }
}
