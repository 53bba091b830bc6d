//! The list cache in Redis: hits, invalidation by every kind of write (through
//! the service, another instance or raw SQL), Redis outages, and the
//! invalidation listener coming back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use useradmin::{
    cache::{Generation, Lookup, UserListCache},
    db,
    domain::ListQuery,
    users::views::UserPage,
    views::UserView,
};

use crate::{
    helpers::*,
    proxy::{Proxy, host_port, through},
};

/// Polls until the list is served from the cache again.
async fn wait_for_cache(app: &TestApp, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = list_page(app, path).await;
        if page["source"] == "cache" {
            return page;
        }
        assert!(Instant::now() < deadline, "the cache was not used again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_second_read_is_a_cache_hit_with_the_same_page() {
    let app = spawn_app().await;
    app.seed_users(3).await;
    let first = list_page(&app, "/users?limit=2").await;
    assert_eq!(first["source"], "database");
    let second = list_page(&app, "/users?limit=2").await;
    assert_eq!(second["source"], "cache");
    for field in ["data", "next", "total"] {
        assert_eq!(first[field], second[field], "{field}");
    }
    // Another query is another page.
    assert_eq!(
        list_page(&app, "/users?limit=3").await["source"],
        "database"
    );
    assert_eq!(
        list_page(&app, "/users?limit=2&sort=-name").await["source"],
        "database"
    );
    assert_eq!(
        list_page(&app, "/users?limit=2&q=user").await["source"],
        "database"
    );
    let next = first["next"].as_str().unwrap();
    assert_eq!(
        list_page(&app, &format!("/users?limit=2&after={next}")).await["source"],
        "database"
    );
    assert_eq!(
        list_page(&app, &format!("/users?limit=2&after={next}")).await["source"],
        "cache"
    );
    // Equivalent spellings of one query share a page.
    assert_eq!(
        list_page(&app, "/users?limit=2&sort=id&q=%20").await["source"],
        "cache"
    );
}

#[tokio::test]
async fn every_kind_of_write_invalidates_cached_lists() {
    let app = spawn_app().await;
    let path = "/users?limit=1000";
    list_page(&app, path).await;
    assert_eq!(list_page(&app, path).await["source"], "cache");

    let alice = app.create_user("Alice", "alice@mail.com").await;
    let page = list_page(&app, path).await;
    assert_eq!(page["source"], "database");
    assert!(emails_of(&page).contains(&"alice@mail.com".to_owned()));
    assert_eq!(list_page(&app, path).await["source"], "cache");

    let user_path = app.url(&format!("/users/{}", alice["id"]));
    for (method, body, expected_email) in [
        (
            reqwest::Method::PUT,
            json!({"email": "put@mail.com"}),
            "put@mail.com",
        ),
        (
            reqwest::Method::PATCH,
            json!({"email": "patch@mail.com"}),
            "patch@mail.com",
        ),
    ] {
        let response = app
            .api
            .request(method, &user_path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page = list_page(&app, path).await;
        assert_eq!(page["source"], "database");
        assert!(emails_of(&page).contains(&expected_email.to_owned()));
        assert_eq!(list_page(&app, path).await["source"], "cache");
    }

    assert_eq!(
        app.api.delete(&user_path).send().await.unwrap().status(),
        200
    );
    let page = list_page(&app, path).await;
    assert_eq!(page["source"], "database");
    assert_eq!(emails_of(&page), ["admin@example.com"]);
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn a_slow_reader_cannot_store_its_pre_write_page_where_readers_look() {
    let app = spawn_app().await;
    let query = ListQuery::default();
    let redis = useradmin::redis::connect(&settings_for_cache(&app)).unwrap();
    redis_wait(&redis).await;
    let generation = Generation::new(redis.clone(), &app.key_prefix, "users");
    let reader = UserListCache::new(generation, redis, &app.key_prefix, Duration::from_secs(300));

    // A reader reads the generation, misses, and reads the database...
    let Lookup::Miss(ticket) = reader.lookup(&query, None).await else {
        panic!("expected a miss on an empty cache");
    };
    let rows = db::users::list(&app.db, &query, db::users::Scope::Live)
        .await
        .unwrap()
        .rows;
    let stale = UserPage {
        data: rows.into_iter().map(UserView::from).collect(),
        next: None,
        prev: None,
        total: 1,
        total_is_lower_bound: false,
    };
    // ...then pauses while a write commits and returns...
    app.create_user("Written", "written@mail.com").await;
    // ...then stores its pre-write page.
    reader.fill(ticket, stale.to_bytes()).await;

    // Nobody is served that page: the write moved the generation on.
    let page = list_page(&app, "/users").await;
    assert_eq!(page["source"], "database");
    assert!(emails_of(&page).contains(&"written@mail.com".to_owned()));
    let page = list_page(&app, "/users").await;
    assert_eq!(page["source"], "cache");
    assert!(emails_of(&page).contains(&"written@mail.com".to_owned()));
    assert!(matches!(reader.lookup(&query, None).await, Lookup::Hit(_)));
}

fn settings_for_cache(app: &TestApp) -> useradmin::config::Settings {
    let url = redis_url();
    let prefix = app.key_prefix.clone();
    useradmin::config::Settings::from_lookup(|name| match name {
        "REDIS_URL" => Some(url.clone()),
        "REDIS_KEY_PREFIX" => Some(prefix.clone()),
        _ => None,
    })
    .unwrap()
}

async fn redis_wait(redis: &fred::prelude::Pool) {
    use fred::prelude::ClientLike;
    tokio::time::timeout(Duration::from_secs(5), redis.wait_for_connect())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_every_route_still_works_quickly_and_the_cache_returns_after() {
    let mut redis = OwnedRedis::start();
    let app = spawn_app_with(Options {
        env: vec![("REDIS_URL", redis.url())],
        ..Default::default()
    })
    .await;
    list_page(&app, "/users").await;
    assert_eq!(list_page(&app, "/users").await["source"], "cache");

    redis.stop();
    let mut slowest = Duration::ZERO;
    let mut timed = |started: Instant| slowest = slowest.max(started.elapsed());

    let started = Instant::now();
    let (status, health) = app.get_json("/health").await;
    timed(started);
    assert_eq!(status, 503);
    assert_eq!(health["checks"]["cache"], "down");
    assert_eq!(health["checks"]["database"], "up");

    let started = Instant::now();
    let created = app.create_user("During Outage", "outage@mail.com").await;
    timed(started);
    for _ in 0..5 {
        let started = Instant::now();
        let page = list_page(&app, "/users").await;
        timed(started);
        assert_eq!(page["source"], "database");
        assert!(emails_of(&page).contains(&"outage@mail.com".to_owned()));
    }
    let user_path = format!("/users/{}", created["id"]);
    let started = Instant::now();
    let response = app
        .api
        .patch(app.url(&user_path))
        .json(&json!({"name": "Patched"}))
        .send()
        .await
        .unwrap();
    timed(started);
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let (status, user) = app.get_json(&user_path).await;
    timed(started);
    assert_eq!((status, user["name"].as_str()), (200, Some("Patched")));
    let started = Instant::now();
    assert_eq!(
        app.api
            .delete(app.url(&user_path))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    timed(started);
    assert!(
        slowest < Duration::from_millis(800),
        "slowest request took {slowest:?}"
    );

    redis.restart();
    let page = wait_for_cache(&app, "/users").await;
    assert_eq!(
        emails_of(&page),
        ["admin@example.com"],
        "no stale page after recovery"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get_json("/health").await.0 != 200 {
        assert!(Instant::now() < deadline, "health did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bump_missed_while_redis_was_unreachable_is_paid_before_the_cache_is_used() {
    // Redis keeps its data here (only the path to it is cut), so the page cached
    // before the outage is still there when it comes back.
    let proxy = Proxy::start(host_port(&redis_url())).await;
    let app = spawn_app_with(Options {
        env: vec![("REDIS_URL", through(&redis_url(), &proxy))],
        ..Default::default()
    })
    .await;
    list_page(&app, "/users").await;
    assert_eq!(list_page(&app, "/users").await["source"], "cache");

    proxy.cut();
    app.create_user("While Cut", "cut@mail.com").await;
    proxy.restore();

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = list_page(&app, "/users").await;
        assert!(
            emails_of(&page).contains(&"cut@mail.com".to_owned()),
            "served the page cached before the write: {page}"
        );
        if page["source"] == "cache" {
            break;
        }
        assert!(Instant::now() < deadline, "the cache was not used again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_write_through_one_instance_is_seen_by_the_next_read_of_another() {
    let first = spawn_app().await;
    let second = spawn_app_with(Options {
        env: vec![("REDIS_KEY_PREFIX", first.key_prefix.clone())],
        database_name: Some(first.database_name.clone()),
    })
    .await;
    for app in [&first, &second] {
        list_page(app, "/users").await;
    }
    assert_eq!(list_page(&second, "/users").await["source"], "cache");

    first.create_user("From First", "first@mail.com").await;
    let page = list_page(&second, "/users").await;
    assert_eq!(page["source"], "database");
    assert!(emails_of(&page).contains(&"first@mail.com".to_owned()));

    let (status, _) = crate::helpers::json_of(
        second
            .api
            .delete(second.url(&format!("/users/{}", page["data"][1]["id"])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let page = list_page(&first, "/users").await;
    assert_eq!(emails_of(&page), ["admin@example.com"]);
}

async fn listed_names(app: &TestApp) -> (Value, Vec<String>) {
    let (status, page) = app.get_json("/users").await;
    assert_eq!(status, 200);
    let names = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    (page["source"].clone(), names)
}

async fn raw_rename(app: &TestApp, id: i64, name: &str) {
    sqlx::query("update users set name = $2 where id = $1")
        .bind(id)
        .bind(name)
        .execute(&app.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_edit_made_in_sql_is_seen_at_once_and_moves_the_etag_on() {
    let app = spawn_app().await;
    let user = app.create_user("Before", "raw@example.com").await;
    let id = user["id"].as_i64().unwrap();
    listed_names(&app).await;
    assert_eq!(listed_names(&app).await.0, "cache");

    raw_rename(&app, id, "Edited in Adminer").await;
    within(Duration::from_secs(1), async || {
        listed_names(&app)
            .await
            .1
            .contains(&"Edited in Adminer".to_owned())
    })
    .await;

    let response = app
        .api
        .get(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["etag"],
        "\"2\"",
        "the raw edit is version 2"
    );
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Overwrite"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        412,
        "a stale If-Match does not overwrite it"
    );
    let (_, fresh) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(fresh["name"], "Edited in Adminer");
    assert_ne!(fresh["updated_at"], user["updated_at"]);
}

#[tokio::test]
async fn the_instance_listens_again_after_losing_its_connection_and_misses_nothing() {
    let app = spawn_app().await;
    let user = app.create_user("Listener", "listener@example.com").await;
    let id = user["id"].as_i64().unwrap();
    listed_names(&app).await;
    assert_eq!(listed_names(&app).await.0, "cache");

    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = $1 and query ilike 'listen%useradmin_changes%'",
    )
    .bind(&app.database_name)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one listening connection was cut");
    // An edit while nobody may be listening.
    raw_rename(&app, id, "Changed while deaf").await;
    within(Duration::from_secs(2), async || {
        listed_names(&app)
            .await
            .1
            .contains(&"Changed while deaf".to_owned())
    })
    .await;
    // And it listens again: a later edit is seen too.
    listed_names(&app).await;
    raw_rename(&app, id, "Heard again").await;
    within(Duration::from_secs(1), async || {
        listed_names(&app)
            .await
            .1
            .contains(&"Heard again".to_owned())
    })
    .await;
}
