//! The list cache served from process memory: the generation kept by each
//! instance over its invalidation connection, and hot pages kept as bytes.
//! Two instances share one database and one Redis prefix, as two replicas do.

use std::time::{Duration, Instant};

use fred::{
    prelude::*,
    types::{ClusterHash, CustomCommand},
};

use crate::helpers::{
    Options, TestApp, emails_of, list_page, redis_url, spawn_app, spawn_app_with,
};

async fn replica_of(first: &TestApp) -> TestApp {
    spawn_app_with(Options {
        env: vec![("REDIS_KEY_PREFIX", first.key_prefix.clone())],
        database_name: Some(first.database_name.clone()),
    })
    .await
}

/// Waits until the instance keeps the generation in memory (its invalidation
/// connection subscribed, its lease renewed and the generation re-read).
async fn wait_until_trusted(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.state.generation.mirror().is_trusted() {
        assert!(
            Instant::now() < deadline,
            "the generation was never kept in memory"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn redis_client() -> Client {
    let client = Builder::from_config(Config::from_url(&redis_url()).unwrap())
        .build()
        .unwrap();
    client.init().await.unwrap();
    client
}

async fn kill_connection(redis: &Client, id: i64) {
    let killed: i64 = redis
        .custom(
            CustomCommand::new_static("CLIENT", ClusterHash::Random, false),
            vec!["KILL".to_owned(), "ID".to_owned(), id.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(killed, 1, "the invalidation connection was not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_comes_from_memory_once_the_page_is_kept_there() {
    let app = spawn_app().await;
    app.seed_users(5).await;
    wait_until_trusted(&app).await;
    assert_eq!(list_page(&app, "/users").await["source"], "database");
    let cached = list_page(&app, "/users").await;
    assert_eq!(cached["source"], "cache");
    // Even with every page gone from Redis, the page kept here is served.
    let redis = redis_client().await;
    let keys: Vec<String> = redis
        .custom(
            CustomCommand::new_static("KEYS", ClusterHash::Random, false),
            vec![format!("{}{{users}}:page:*", app.key_prefix)],
        )
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: i64 = redis.del(keys).await.unwrap();
    let page = list_page(&app, "/users").await;
    assert_eq!(page["source"], "cache");
    assert_eq!(page["data"], cached["data"]);
    let (entries, bytes) = app.state.user_cache.local_usage();
    assert!(entries >= 1 && bytes > 0, "{entries} {bytes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_is_seen_by_the_very_next_read_on_another() {
    let first = spawn_app().await;
    let second = replica_of(&first).await;
    wait_until_trusted(&first).await;
    wait_until_trusted(&second).await;
    let path = "/users?limit=1000";
    for round in 0..10 {
        list_page(&second, path).await;
        assert_eq!(
            list_page(&second, path).await["source"],
            "cache",
            "round {round}"
        );
        let email = format!("round{round}@mail.com");
        first.create_user(&format!("Round {round}"), &email).await;
        // No wait: the write has returned, so no instance may serve the old page.
        let page = list_page(&second, path).await;
        assert_eq!(page["source"], "database", "round {round}");
        assert!(
            emails_of(&page).contains(&email),
            "round {round}: stale page"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_invalidation_connection_trusts_nothing_kept_until_it_has_read_again() {
    let first = spawn_app().await;
    let second = replica_of(&first).await;
    wait_until_trusted(&first).await;
    wait_until_trusted(&second).await;
    let redis = redis_client().await;
    let path = "/users";
    for round in 0..3 {
        list_page(&second, path).await;
        assert_eq!(list_page(&second, path).await["source"], "cache");
        let id = second
            .state
            .generation
            .mirror()
            .connection_id()
            .expect("an invalidation connection");
        kill_connection(&redis, id).await;
        // Written right after the cut, before the second instance may have noticed.
        let email = format!("cut{round}@mail.com");
        first.create_user(&format!("Cut {round}"), &email).await;
        let page = list_page(&second, path).await;
        assert!(
            emails_of(&page).contains(&email),
            "round {round}: served the page kept before the write"
        );
        assert_eq!(page["source"], "database");
        // It reconnects, reads the generation again, and serves from memory again.
        wait_until_trusted(&second).await;
        assert_ne!(
            second.state.generation.mirror().connection_id(),
            Some(id),
            "a new connection"
        );
        let page = list_page(&second, path).await;
        assert!(emails_of(&page).contains(&email));
        let page = list_page(&second, path).await;
        assert_eq!(page["source"], "cache");
        assert!(emails_of(&page).contains(&email));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_in_sql_reaches_both_instances_within_a_second() {
    let first = spawn_app().await;
    let second = replica_of(&first).await;
    wait_until_trusted(&first).await;
    wait_until_trusted(&second).await;
    let path = "/users";
    for app in [&first, &second] {
        list_page(app, path).await;
        assert_eq!(list_page(app, path).await["source"], "cache");
    }
    sqlx::query("update users set email = 'renamed@mail.com' where email = 'admin@example.com'")
        .execute(&first.db)
        .await
        .unwrap();
    let changed = Instant::now();
    for app in [&first, &second] {
        loop {
            let page = list_page(app, path).await;
            if emails_of(&page).contains(&"renamed@mail.com".to_owned()) {
                break;
            }
            assert_eq!(
                page["source"], "cache",
                "an old page comes only from a cache"
            );
            assert!(
                changed.elapsed() < Duration::from_secs(1),
                "not seen within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_kept_in_memory_stay_within_the_configured_bytes() {
    let max = 32 * 1024;
    let app = spawn_app_with(Options {
        env: vec![("LOCAL_CACHE_MAX_BYTES", max.to_string())],
        ..Default::default()
    })
    .await;
    app.seed_users(40).await;
    wait_until_trusted(&app).await;
    for limit in 1..=60 {
        let path = format!("/users?limit={limit}");
        list_page(&app, &path).await;
        assert_eq!(list_page(&app, &path).await["source"], "cache");
        let (_, bytes) = app.state.user_cache.local_usage();
        assert!(bytes <= max, "{bytes} bytes kept, more than {max}");
    }
    let (entries, bytes) = app.state.user_cache.local_usage();
    assert!(
        entries > 0 && entries < 60,
        "{entries} pages, {bytes} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_while_redis_is_lost_is_not_hidden_by_another_instances_memory() {
    let redis = crate::helpers::OwnedRedis::start();
    let first = spawn_app_with(Options {
        env: vec![("REDIS_URL", redis.url())],
        ..Options::default()
    })
    .await;
    let second = spawn_app_with(Options {
        env: vec![
            ("REDIS_URL", redis.url()),
            ("REDIS_KEY_PREFIX", first.key_prefix.clone()),
        ],
        database_name: Some(first.database_name.clone()),
    })
    .await;
    wait_until_trusted(&second).await;
    list_page(&second, "/users").await;
    assert_eq!(list_page(&second, "/users").await["source"], "cache");

    // Redis stops answering without closing anything; a write on the first
    // instance still succeeds, and returns only once the second one's lease on
    // its memory has run out.
    redis.pause();
    first
        .create_user("Written Meanwhile", "meanwhile@example.com")
        .await;
    let page = list_page(&second, "/users").await;
    assert!(
        emails_of(&page).contains(&"meanwhile@example.com".to_owned()),
        "the very next read on the other instance sees the write: {page}"
    );
    assert_eq!(page["source"], "database");
    redis.resume();
}
