//! `/health`: what it answers when PostgreSQL or Redis fail, and what a green
//! check gives back.

use std::time::{Duration, Instant};

use crate::{
    helpers::*,
    proxy::{Proxy, host_port, through},
};

#[tokio::test]
async fn health_is_200_when_postgres_and_redis_answer() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.anonymous.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "healthy", "checks": {"database": "up", "cache": "up"}})
    );
    let live = app
        .anonymous
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

#[tokio::test]
async fn health_is_503_naming_redis_when_redis_is_unreachable() {
    let app = spawn_app_with(Options {
        env: vec![(
            "REDIS_URL",
            format!("redis://127.0.0.1:{}/0", closed_port()),
        )],
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let (status, body) = json_of(app.anonymous.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["database"], "up");
    assert_eq!(body["checks"]["cache"], "down");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // Liveness does not depend on Redis.
    let live = app
        .anonymous
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    // The JSON API still works without Redis.
    let (status, _) = app.get_json("/users").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_postgres_outage_answers_503_quickly_and_recovers_without_restart() {
    let scratch = TestDatabase::new();
    let name = scratch.name().to_owned();
    let direct = scratch.url();
    let proxy = Proxy::start(host_port(&base_database_url())).await;
    let app = spawn_app_with(Options {
        env: vec![("DATABASE_URL", through(&direct, &proxy))],
        database_name: Some(name),
    })
    .await;
    let (status, _) = app.get_json("/users").await;
    assert_eq!(status, 200);

    proxy.cut();
    let started = Instant::now();
    let (status, body) = json_of(app.api.get(app.url("/users/1")).send().await.unwrap()).await;
    assert_eq!(status, 503, "{body}");
    assert!(!body["error"].as_str().unwrap().contains("sqlx"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let (status, body) = json_of(app.anonymous.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["database"], "down");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = app.get_json("/users").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

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
