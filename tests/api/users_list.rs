//! The user list: sorting, paging, search, its parameters, and the kept total.

use serde_json::Value;

use crate::helpers::{TestApp, assert_get_refused, ids_of, spawn_app};

/// 40 users whose name, email and creation orders all differ from id order, with
/// repeated names and creation times so the id tie-breaker matters.
async fn seed_shuffled(app: &TestApp) {
    sqlx::query(
        "insert into users (name, email, created_at) \
         select 'name ' || ((n * 7) % 13), \
                'mail' || ((n * 11) % 40) || '@example.com', \
                timestamptz '2026-01-01' + ((n * 17) % 9) * interval '1 minute' \
                    + (n % 3) * interval '1 microsecond' \
         from generate_series(1, 40) as n",
    )
    .execute(&app.db)
    .await
    .unwrap();
}

async fn expected_ids(app: &TestApp, order_by: &str) -> Vec<i64> {
    let sql = format!("select id from users order by {order_by}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// Follows `next` from the first page to the last; returns every id seen in order.
async fn walk(app: &TestApp, params: &str) -> (Vec<i64>, usize) {
    let (ids, pages, _) = walk_with_last(app, params).await;
    (ids, pages)
}

async fn walk_with_last(app: &TestApp, params: &str) -> (Vec<i64>, usize, Value) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut path = format!("/users?{params}");
    loop {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        ids.extend(ids_of(&page));
        match &page["next"] {
            Value::Null => return (ids, pages, page),
            Value::String(cursor) => path = format!("/users?{params}&after={cursor}"),
            other => panic!("next must be a string or null, got {other}"),
        }
        assert!(pages < 100, "pagination does not end");
    }
}

#[tokio::test]
async fn every_sort_order_pages_through_all_users_both_ways() {
    let app = spawn_app().await;
    seed_shuffled(&app).await;
    for (sort, order_by) in [
        ("id", "id"),
        ("-id", "id desc"),
        ("name", "name, id"),
        ("-name", "name desc, id desc"),
        ("email", "email, id"),
        ("-email", "email desc, id desc"),
        ("created_at", "created_at, id"),
        ("-created_at", "created_at desc, id desc"),
    ] {
        let params = format!("sort={sort}&limit=7");
        let (ids, pages, last) = walk_with_last(&app, &params).await;
        assert_eq!(ids, expected_ids(&app, order_by).await, "sort={sort}");
        assert_eq!(pages, 6, "41 users in pages of 7 (sort={sort})");

        // And back again with `prev`: the same pages in reverse.
        let mut back = ids_of(&last);
        let mut page = last;
        while let Value::String(cursor) = &page["prev"] {
            let (status, previous) = app
                .get_json(&format!("/users?{params}&before={cursor}"))
                .await;
            assert_eq!(status, 200);
            assert_eq!(previous["data"].as_array().unwrap().len(), 7);
            back.splice(0..0, ids_of(&previous));
            page = previous;
        }
        assert_eq!(back, ids, "paging backwards (sort={sort})");
    }
}

#[tokio::test]
async fn the_last_page_has_no_next_and_total_counts_all() {
    let app = spawn_app().await;
    app.seed_users(9).await;
    let (_, page) = app.get_json("/users?limit=10").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 10);
    assert_eq!(page["next"], Value::Null);
    assert_eq!(page["total"], 10);
    let (_, page) = app.get_json("/users?limit=5").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
    assert!(page["next"].is_string());
    assert_eq!(page["total"], 10);
    let (_, page) = app.get_json("/users").await;
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        10,
        "default limit is 50"
    );
}

#[tokio::test]
async fn q_matches_a_case_insensitive_substring_of_name_or_email() {
    let app = spawn_app().await;
    app.create_user("Alice Smith", "alice@mail.com").await;
    app.create_user("Bob", "bob@SMITHS.org").await;
    app.create_user("Carol", "carol@mail.com").await;
    app.create_user("100% Dan_", "dan@mail.com").await;

    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = app.get_json("/users?q=smith").await;
    assert_eq!(names(&page), ["Alice Smith", "Bob"]);
    assert_eq!(page["total"], 2);
    let (_, page) = app.get_json("/users?q=MAIL.COM&sort=-name").await;
    assert_eq!(names(&page), ["Carol", "Alice Smith", "100% Dan_"]);
    // LIKE wildcards in q match themselves only.
    let (_, page) = app.get_json("/users?q=%25").await;
    assert_eq!(names(&page), ["100% Dan_"]);
    let (_, page) = app.get_json("/users?q=_").await;
    assert_eq!(names(&page), ["100% Dan_"]);
    let (_, page) = app.get_json("/users?q=nobody").await;
    assert_eq!(page["data"], serde_json::json!([]));
    assert_eq!(page["total"], 0);
    assert_eq!(page["next"], Value::Null);

    // Paging through a search keeps to the search.
    app.seed_users(12).await;
    let (ids, _) = walk(&app, "q=user%200&limit=5&sort=-name").await;
    assert_eq!(ids.len(), 12);
}

/// A search matching more than 10,000 users says "at least 10,000" rather
/// than visiting every match to count it; its page is still the right one.
/// Narrower searches, and lists without one, are counted exactly.
#[tokio::test]
async fn a_broad_search_counts_to_ten_thousand_and_says_so() {
    let app = spawn_app().await;
    sqlx::query(
        "insert into users (name, email) \
         select 'Crowd ' || n, 'crowd' || n || '@example.com' from generate_series(1, 10005) as n",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let first: Vec<i64> =
        sqlx::query_scalar("select id from users where name like 'Crowd %' order by id limit 3")
            .fetch_all(&app.db)
            .await
            .unwrap();

    let (_, page) = app.get_json("/users?q=crowd&limit=3").await;
    assert_eq!(page["total"], 10_000);
    assert_eq!(page["total_is_lower_bound"], true);
    assert_eq!(ids_of(&page), first);
    assert!(page["next"].is_string());
    let (_, page) = app.get_json("/users?q=CROWD&sort=-name&limit=2").await;
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Crowd 9999", "Crowd 9998"]);
    assert_eq!(page["total_is_lower_bound"], true);

    // "crowd 99": Crowd 99, 990–999 and 9900–9999.
    let (_, page) = app.get_json("/users?q=crowd%2099&limit=1").await;
    assert_eq!(page["total"], 111);
    assert_eq!(page["total_is_lower_bound"], false);
    let (_, page) = app.get_json("/users?limit=1").await;
    let everyone: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(page["total"], everyone);
    assert_eq!(page["total_is_lower_bound"], false);
}

/// Name and email are searched as one lower-cased text with a newline between
/// them; a term holding a newline still matches within one field only.
#[tokio::test]
async fn a_search_never_matches_across_the_name_and_the_email() {
    let app = spawn_app().await;
    sqlx::query("insert into users (name, email) values ('Two\nLines', 'edge@example.com')")
        .execute(&app.db)
        .await
        .unwrap();
    let (_, page) = app.get_json("/users?q=lines%0Aedge").await;
    assert_eq!(page["total"], 0, "{page}");
    let (_, page) = app.get_json("/users?q=two%0Alines").await;
    assert_eq!(page["total"], 1, "{page}");
}

/// List parameters the API refuses with a 400. `{name cursor}` stands for the
/// cursor of a list sorted by name (used with another sort), `{201 characters}`
/// for a search one character over the limit.
const BAD_LIST_QUERIES: &[&str] = &[
    "limit=0",
    "limit=1001",
    "limit=-5",
    "limit=abc",
    "sort=password_hash",
    "sort=name;drop",
    "after=garbage",
    "after=eyJ9",
    "sort=email&after={name cursor}",
    "q={201 characters}",
    "q=a%00b",
];

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let app = spawn_app().await;
    app.seed_users(2).await;
    let (_, first) = app.get_json("/users?limit=1&sort=name").await;
    let name_cursor = first["next"].as_str().unwrap().to_owned();
    for case in BAD_LIST_QUERIES {
        let query = case
            .replace("{name cursor}", &name_cursor)
            .replace("{201 characters}", &"x".repeat(201));
        assert_get_refused(&app, &format!("/users?{query}"), 400).await;
    }
    let response = app
        .api
        .get(app.url("/users?limit=1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_kept_total_follows_creates_deletes_and_bulk_inserts() {
    let app = spawn_app().await;
    assert_eq!(total(&app).await, 1);
    app.seed_users(250).await;
    assert_eq!(total(&app).await, 251);
    let user = app.create_user("Counted", "counted@example.com").await;
    assert_eq!(total(&app).await, 252);
    app.api
        .delete(app.url(&format!("/users/{}", user["id"])))
        .send()
        .await
        .unwrap();
    sqlx::query("delete from users where name like 'user 00%'")
        .execute(&app.db)
        .await
        .unwrap();
    let exact: i64 = sqlx::query_scalar("select count(*) from users where deleted_at is null")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(total(&app).await, exact);
    assert_eq!(exact, 152);
    // And the API reports it.
    assert_eq!(app.get_json("/users?limit=3").await.1["total"], 152);
}

/// The kept total, read directly: rows written with SQL here bypass the app and
/// so its list cache.
async fn total(app: &TestApp) -> i64 {
    useradmin::db::users::count(
        &app.db,
        &useradmin::domain::ListQuery::default(),
        useradmin::db::users::Scope::Live,
    )
    .await
    .unwrap()
}

/// Sorts that are a bare minus or name no column, each a 400 naming `sort`
/// (already URL-encoded: "-%20" is "- ").
const BAD_SORTS: &[&str] = &["-", "--", "-unknown", "--id", "-%20"];

#[tokio::test]
async fn a_sort_of_a_bare_minus_or_an_unknown_column_is_a_400() {
    let app = spawn_app().await;
    for bad in BAD_SORTS {
        let body = assert_get_refused(&app, &format!("/users?sort={bad}"), 400).await;
        assert!(
            body["error"].as_str().unwrap().contains("sort"),
            "{bad:?}: {body}"
        );
    }
    let (status, _) = app.get_json("/users?sort=-id").await;
    assert_eq!(status, 200);
}
