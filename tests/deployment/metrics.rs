//! SPEC §15 as an operator meets it: `/metrics` on `METRICS_BIND` (compose and
//! the manifests set it, never publish it), in a format `promtool` accepts,
//! counting what happens without naming anyone. Each test runs its own
//! instance of the binary, so counters are that process's alone.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant as Clock},
};

use serde_json::json;
use serde_yaml_ng::Value;
use useradmin_test_support::csrf_in;

use super::{Instance, find_kind, kubernetes_documents, no_vars, published_ports, service};

/// The listener compose and the manifests give `/metrics`.
const METRICS_BIND: &str = "0.0.0.0:9100";

const PASSWORD: &str = "metrics-test-password-1";

/// An instance with the compose environment (its metrics listener moved to a
/// free loopback port by [`Instance::start`]), the admin's password known and
/// webhooks allowed to reach this machine's receiver.
async fn instance() -> Instance {
    let mut instance = Instance::start(|env| {
        env.insert("ADMIN_PASSWORD".into(), PASSWORD.into());
        env.insert("WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
    })
    .await;
    instance.wait_until_healthy().await;
    instance
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn scrape(&self) -> String {
        let url = format!("http://{}/metrics", self.env["METRICS_BIND"]);
        let response = reqwest::get(url)
            .await
            .unwrap_or_else(|e| self.fail(&format!("cannot scrape: {e}")));
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        response.text().await.unwrap()
    }

    /// A token of the first admin's, made by the CLI with the instance's settings.
    async fn token(&self) -> String {
        let output = tokio::process::Command::new(super::BIN)
            .args(["token", "create", "--name", "metrics-test"])
            .env_clear()
            .envs(&self.env)
            .output()
            .await
            .expect("run useradmin token create");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

/// The value of the series `name{labels}` exactly as rendered (labels in
/// rendering order), or `None` when it is not in the exposition.
fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn sample(exposition: &str, series: &str) -> f64 {
    value(exposition, series).unwrap_or_else(|| panic!("no {series} in:\n{exposition}"))
}

/// `promtool check metrics` (Debian's `prometheus` package) on an exposition.
fn promtool_check(exposition: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool checks the exposition: apt-get install prometheus");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn compose_serves_metrics_to_its_network_and_never_publishes_them() {
    let compose = super::compose();
    let web = service(&compose, "web");
    let env = super::environment(web, &no_vars());
    assert_eq!(
        env.get("METRICS_BIND").map(String::as_str),
        Some(METRICS_BIND)
    );
    let exposed: Vec<String> = web
        .get("expose")
        .and_then(Value::as_sequence)
        .expect("web exposes the metrics port to the compose network")
        .iter()
        .filter_map(|port| super::scalar(port, &no_vars()))
        .collect();
    assert_eq!(exposed, ["9100"]);
    let published = published_ports(web, &no_vars());
    assert!(
        published.iter().all(|port| port.container_port != "9100"),
        "the metrics port is published"
    );
}

#[test]
fn kubernetes_pods_are_scraped_on_a_port_the_service_does_not_route() {
    let documents = kubernetes_documents();
    let deployment = find_kind(&documents, "Deployment");
    let pod = &deployment["spec"]["template"];
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some("9100"));
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));
    let container = &pod["spec"]["containers"][0];
    let env: BTreeMap<&str, &str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|var| Some((var["name"].as_str()?, var["value"].as_str()?)))
        .collect();
    assert_eq!(env.get("METRICS_BIND"), Some(&METRICS_BIND));
    let ports: Vec<(&str, u64)> = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|port| {
            (
                port["name"].as_str().unwrap(),
                port["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(ports.contains(&("metrics", 9100)), "{ports:?}");
    let service = find_kind(&documents, "Service");
    for port in service["spec"]["ports"].as_sequence().unwrap() {
        assert_ne!(port["targetPort"].as_str(), Some("metrics"));
        assert_ne!(port["targetPort"].as_u64(), Some(9100));
    }
    let policy = find_kind(&documents, "NetworkPolicy");
    let rules = policy["spec"]["ingress"].as_sequence().unwrap();
    let metrics_rule = rules
        .iter()
        .find(|rule| rule["ports"][0]["port"].as_str() == Some("metrics"))
        .expect("a rule for the metrics port");
    assert!(
        metrics_rule["from"]
            .as_sequence()
            .is_some_and(|from| !from.is_empty()),
        "the metrics port is open to scrapers only"
    );
}

#[tokio::test]
async fn metrics_are_on_their_own_listener_in_a_format_promtool_accepts() {
    let mut instance = instance().await;
    let public = reqwest::get(instance.url("/metrics")).await.unwrap();
    assert_eq!(public.status(), 404, "/metrics on the public port");
    let exposition = instance.scrape().await;
    promtool_check(&exposition);
    // What exists from the start: the pool, the breaker, the outbox, and the
    // counters of fixed outcomes at zero.
    assert!(sample(&exposition, "useradmin_db_pool_max_connections") >= 1.0);
    assert!(value(&exposition, "useradmin_db_pool_connections").is_some());
    assert!(value(&exposition, "useradmin_db_pool_idle_connections").is_some());
    assert_eq!(sample(&exposition, "useradmin_redis_breaker_open"), 0.0);
    assert_eq!(sample(&exposition, "useradmin_webhook_outbox_depth"), 0.0);
    assert_eq!(
        sample(&exposition, r#"useradmin_logins_total{result="throttled"}"#),
        0.0
    );
    assert!(exposition.contains("# TYPE useradmin_http_request_duration_seconds histogram"));
    assert!(instance.terminate().await.success());
    instance.cleanup().await;
}

/// Logs in through the form: a wrong password, then the right one.
async fn fail_then_log_in(instance: &Instance) {
    let mut html = reqwest::header::HeaderMap::new();
    html.insert(reqwest::header::ACCEPT, "text/html".parse().unwrap());
    let browser = reqwest::Client::builder()
        .default_headers(html)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (password, status) in [("wrong-password-here", 401), (PASSWORD, 303)] {
        let page = browser.get(instance.url("/login")).send().await.unwrap();
        let csrf = csrf_in(&page.text().await.unwrap());
        let response = browser
            .post(instance.url("/login"))
            .form(&[
                ("email", "admin@example.com"),
                ("password", password),
                ("csrf_token", csrf.as_str()),
                ("next", "/users"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "login with {password}");
    }
}

/// Subscribes a receiver here to user.created and creates a user; the receiver.
async fn deliver_one_webhook(instance: &Instance, token: &str) -> Receiver {
    let scripts = reqwest::Client::new();
    let receiver = Receiver::start().await;
    let response = scripts
        .post(instance.url("/webhooks"))
        .bearer_auth(token)
        .json(&json!({"url": receiver.url, "events": ["user.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let response = scripts
        .post(instance.url("/users"))
        .bearer_auth(token)
        .json(&json!({"name": "Metrics Reader", "email": "metrics@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    receiver
}

#[tokio::test]
async fn a_failed_login_a_cache_hit_and_a_webhook_delivery_move_their_counters() {
    let mut instance = instance().await;
    let failures = r#"useradmin_logins_total{result="failure"}"#;
    let successes = r#"useradmin_logins_total{result="success"}"#;
    assert_eq!(sample(&instance.scrape().await, failures), 0.0);
    fail_then_log_in(&instance).await;

    // The same list twice: the second comes from the cache.
    let token = instance.token().await;
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .get(instance.url("/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let cached = instance.scrape().await;
    let receiver = deliver_one_webhook(&instance, &token).await;

    let delivered = r#"useradmin_webhook_deliveries_total{result="delivered"}"#;
    let deadline = Clock::now() + Duration::from_secs(15);
    let after = loop {
        let exposition = instance.scrape().await;
        if value(&exposition, delivered).unwrap_or(0.0) >= 1.0 {
            break exposition;
        }
        if Clock::now() > deadline {
            instance.fail(&format!("no delivery counted:\n{exposition}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(receiver.received(), 1);
    assert_eq!(sample(&after, failures), 1.0);
    assert_eq!(sample(&after, successes), 1.0);
    let cache_reads = |source: &str| {
        sample(
            &cached,
            &format!(r#"useradmin_cache_reads_total{{cache="user_list",source="{source}"}}"#),
        )
    };
    assert_eq!(cache_reads("database"), 1.0, "the first list: the database");
    assert_eq!(
        cache_reads("process") + cache_reads("redis"),
        1.0,
        "the second list: the cache"
    );
    assert!(
        sample(
            &cached,
            r#"useradmin_http_requests_total{route="/users",method="GET",status="2xx"}"#
        ) >= 2.0
    );
    promtool_check(&after);
    assert!(instance.terminate().await.success());
    instance.cleanup().await;
}

#[tokio::test]
async fn requests_for_ids_and_made_up_paths_create_no_series_naming_them() {
    let mut instance = instance().await;
    let token = instance.token().await;
    let client = reqwest::Client::new();
    let id = "987654321";
    for path in [
        format!("/users/{id}"),
        format!("/users/{id}/edit"),
        format!("/no-such-page/{id}"),
        format!("/wp-admin/{id}.php"),
    ] {
        for bearer in [None, Some(&token)] {
            let mut request = client.get(instance.url(&path));
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert!(response.status().is_client_error(), "{path}");
        }
    }
    let exposition = instance.scrape().await;
    assert!(
        !exposition.contains(id),
        "an id became a label:\n{exposition}"
    );
    assert!(
        !exposition.contains("wp-admin"),
        "a raw path became a label"
    );
    assert!(!exposition.contains(&token), "a token became a label");
    assert!(
        sample(
            &exposition,
            r#"useradmin_http_requests_total{route="/users/{id}",method="GET",status="4xx"}"#
        ) >= 2.0
    );
    assert!(
        sample(
            &exposition,
            r#"useradmin_http_requests_total{route="unmatched",method="GET",status="4xx"}"#
        ) >= 4.0
    );
    assert!(instance.terminate().await.success());
    instance.cleanup().await;
}

/// A webhook receiver on loopback that answers 204 and counts what it got.
struct Receiver {
    url: String,
    count: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start() -> Self {
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { axum::http::StatusCode::NO_CONTENT }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, count }
    }

    fn received(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}
