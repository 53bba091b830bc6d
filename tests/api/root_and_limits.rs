use crate::helpers::{assert_error, assert_redirects_to, json_of, spawn_app};

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
