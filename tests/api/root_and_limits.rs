//! What every response gets: the root, request ids, JSON errors, security and
//! caching headers, `Vary`, and limits on slow clients.

use reqwest::{
    Response,
    header::{self},
};

use crate::helpers::*;

#[tokio::test]
async fn root_greets_scripts_and_sends_browsers_to_the_user_list() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.anonymous.get(app.url("/")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(body["message"].as_str().unwrap().contains("/users"));

    let response = app
        .anonymous
        .get(app.url("/"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app
        .anonymous
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    let b = app
        .anonymous
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id_a.len(), 36, "a UUID: {id_a}");
    assert_ne!(id_a, id_b);
    // A request id set by a proxy in front is kept.
    let c = app
        .anonymous
        .get(app.url("/health/live"))
        .header("x-request-id", "from-the-proxy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(c.headers()["x-request-id"], "from-the-proxy-42");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = spawn_app().await;
    let body = assert_error(app.api.get(app.url("/nope")).send().await.unwrap(), 404).await;
    assert_eq!(body["error"], "not found");
    let response = app.api.put(app.url("/users")).send().await.unwrap();
    assert!(response.headers().contains_key("allow"));
    let body = assert_error(response, 405).await;
    assert_eq!(body["error"], "method not allowed");
}

#[test]
fn a_panic_becomes_a_generic_500() {
    let response = useradmin::http::error_pages::panic_response(Box::new("secret detail"));
    assert_eq!(response.status(), 500);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async {
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    });
    assert_eq!(body, r#"{"error":"internal error"}"#);
}

#[tokio::test]
async fn a_client_that_sends_its_headers_too_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // A slowloris: one byte of the request head every 500 ms, never finishing.
    let head = b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(std::time::Duration::from_millis(500), stream.read(&mut buf))
            .await
        {
            Ok(Ok(_)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(
        closed,
        "the connection is still open after {:?}",
        started.elapsed()
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= useradmin::startup::HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1)
            && elapsed
                < useradmin::startup::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5),
        "cut off after {elapsed:?}"
    );
    // Real requests are served meanwhile and after.
    assert_eq!(
        app.anonymous
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

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
