//! Concurrent writes keep their promises: one winner per `If-Match`, one row per
//! email whatever its letter case, versions that count the updates, and always an
//! admin left.

use std::collections::HashMap;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{json_of, spawn_app};

fn tally(statuses: &[u16]) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for status in statuses {
        *counts.entry(*status).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_patches_with_the_same_if_match_have_exactly_one_winner() {
    let app = spawn_app().await;
    let user = app.create_user("Race", "race@example.com").await;
    let path = format!("/users/{}", user["id"]);
    let requests = (0..50).map(|i| {
        let request = app
            .api
            .patch(app.url(&path))
            .header("if-match", "\"1\"")
            .json(&json!({ "name": format!("writer {i}") }));
        async move {
            let response = request.send().await.unwrap();
            let (status, body) = json_of(response).await;
            (i, status, body)
        }
    });
    let results = join_all(requests).await;
    let statuses: Vec<u16> = results.iter().map(|(_, s, _)| *s).collect();
    let counts = tally(&statuses);
    assert_eq!(counts.get(&200), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&412), Some(&49), "{counts:?}");
    for (_, status, body) in &results {
        if *status == 412 {
            assert!(body["error"].is_string(), "{body}");
        }
    }
    let (winner, _, body) = results.iter().find(|(_, s, _)| *s == 200).unwrap();
    assert_eq!(body["version"], 2);

    let (status, stored) = app.get_json(&path).await;
    assert_eq!(status, 200);
    assert_eq!(stored["version"], 2, "exactly one update applied");
    assert_eq!(
        stored["name"],
        format!("writer {winner}"),
        "the winner's write"
    );
}

/// Every letter-case variant of `address` that differs in one letter, plus all
/// upper and all lower case: 50 distinct spellings of one email.
fn case_variants(address: &str, count: usize) -> Vec<String> {
    let mut variants = vec![address.to_lowercase(), address.to_uppercase()];
    let letters: Vec<usize> = address
        .char_indices()
        .filter(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, _)| i)
        .collect();
    // Flip letters by the bits of a counter: each counter value a distinct spelling.
    let mut n: u64 = 1;
    while variants.len() < count {
        let spelled: String = address
            .char_indices()
            .map(|(i, c)| match letters.iter().position(|&at| at == i) {
                Some(bit) if n >> (bit % 64) & 1 == 1 => c.to_ascii_uppercase(),
                _ => c.to_ascii_lowercase(),
            })
            .collect();
        if !variants.contains(&spelled) {
            variants.push(spelled);
        }
        n += 1;
    }
    variants
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_creates_of_one_email_in_different_cases_make_exactly_one_user() {
    let app = spawn_app().await;
    let variants = case_variants("grace.hopper@example.com", 50);
    assert_eq!(variants.len(), 50);
    let requests = variants.iter().enumerate().map(|(i, email)| {
        let request = app
            .api
            .post(app.url("/users"))
            .json(&json!({ "name": format!("Grace {i}"), "email": email }));
        async move {
            let (status, body) = json_of(request.send().await.unwrap()).await;
            (status, body)
        }
    });
    let results = join_all(requests).await;
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    let counts = tally(&statuses);
    assert_eq!(counts.get(&201), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&409), Some(&49), "{counts:?}");
    for (status, body) in &results {
        if *status == 409 {
            assert_eq!(
                body["fields"]["email"][0],
                "is already used by another user"
            );
        }
    }
    let (_, created) = results.iter().find(|(s, _)| *s == 201).unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "select id, email from users where lower(email) = 'grace.hopper@example.com'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(Value::from(rows[0].0), created["id"]);
    assert_eq!(
        Value::from(rows[0].1.clone()),
        created["email"],
        "stored as sent"
    );
    assert_eq!(app.user_count().await, 2, "the admin and the one new user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_mixed_load_each_version_counts_the_successful_updates() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let user = app
            .create_user(&format!("Load {i}"), &format!("load{i}@example.com"))
            .await;
        ids.push(user["id"].as_i64().unwrap());
    }
    // 200 updates spread over the ten users, with reads and list requests mixed in.
    let updates = (0..200).map(|n| {
        let id = ids[(n * 7) % ids.len()];
        let body = match n % 3 {
            0 => json!({ "name": format!("Load {id} v{n}") }),
            1 => json!({ "email": format!("load{id}.{n}@example.com") }),
            _ => {
                json!({ "name": format!("Both {n}"), "email": format!("both{id}.{n}@example.com") })
            }
        };
        let request = if n % 2 == 0 {
            app.api.patch(app.url(&format!("/users/{id}")))
        } else {
            app.api.put(app.url(&format!("/users/{id}")))
        }
        .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let (status, body) = json_of(response).await;
            (id, status, body)
        }
    });
    let reads = (0..40).map(|n| {
        let path = if n % 2 == 0 {
            format!("/users/{}", ids[n % ids.len()])
        } else {
            "/users?limit=5".to_owned()
        };
        let request = app.api.get(app.url(&path));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let (results, read_statuses) = tokio::join!(join_all(updates), join_all(reads));
    assert!(
        read_statuses.iter().all(|s| *s == 200),
        "reads: {:?}",
        tally(&read_statuses)
    );

    let statuses: Vec<u16> = results.iter().map(|(_, s, _)| *s).collect();
    let counts = tally(&statuses);
    // 503 (no free connection within 3 s on a busy machine) is the only refusal
    // allowed; it must not have changed anything.
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{counts:?}"
    );
    assert!(
        counts.get(&200).copied().unwrap_or(0) >= 150,
        "most updates succeed: {counts:?}"
    );
    let mut successes: HashMap<i64, i32> = HashMap::new();
    let mut seen_versions: HashMap<i64, Vec<i64>> = HashMap::new();
    for (id, status, body) in &results {
        if *status == 200 {
            *successes.entry(*id).or_default() += 1;
            seen_versions
                .entry(*id)
                .or_default()
                .push(body["version"].as_i64().unwrap());
        }
    }
    for id in &ids {
        let (status, user) = app.get_json(&format!("/users/{id}")).await;
        assert_eq!(status, 200);
        let expected = 1 + successes.get(id).copied().unwrap_or(0);
        assert_eq!(
            user["version"],
            expected,
            "user {id}: version counts its {} successful updates",
            expected - 1
        );
        // Every successful update answered a distinct version: none was lost.
        let mut versions = seen_versions.remove(id).unwrap_or_default();
        versions.sort_unstable();
        let wanted: Vec<i64> = (2..=i64::from(expected)).collect();
        assert_eq!(versions, wanted, "user {id}: the versions answered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_admins_demoting_themselves_at_once_leave_exactly_one_admin() {
    let app = spawn_app().await;
    // Each admin demotes itself with its own token, so a token never stops
    // working (its owner demoted) before its own request was authenticated.
    let mut admins = Vec::new();
    let admin_token = app.token_for(app.admin_id, "self").await;
    admins.push((app.admin_id, admin_token));
    for i in 1..20 {
        let response = app
            .api
            .post(app.url("/users"))
            .json(&json!({
                "name": format!("Admin {i}"),
                "email": format!("admin{i}@example.com"),
                "is_admin": true,
                // Only admins who can log in count for the last-admin rule:
                // with passwords, every one of them may be the last.
                "password": format!("admin password {i}"),
            }))
            .send()
            .await
            .unwrap();
        let (status, user) = json_of(response).await;
        assert_eq!(status, 201, "{user}");
        assert_eq!(user["is_admin"], true);
        let id = user["id"].as_i64().unwrap();
        admins.push((id, app.token_for(id, "self").await));
    }
    let requests = admins.iter().map(|(id, token)| {
        let request = app
            .anonymous
            .patch(app.url(&format!("/users/{id}")))
            .bearer_auth(token)
            .json(&json!({ "is_admin": false }));
        async move {
            let (status, body) = json_of(request.send().await.unwrap()).await;
            (status, body)
        }
    });
    let results = join_all(requests).await;
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    let counts = tally(&statuses);
    assert_eq!(counts.get(&200), Some(&19), "{counts:?}: {results:?}");
    assert_eq!(counts.get(&409), Some(&1), "{counts:?}: {results:?}");
    let (_, refused) = results.iter().find(|(s, _)| *s == 409).unwrap();
    assert_eq!(
        refused["error"],
        "the last admin cannot be disabled, deleted or demoted: no other active admin with a password would be left to log in"
    );
    let remaining: i64 = sqlx::query_scalar("select count(*) from users where is_admin")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(remaining, 1, "the last-admin rule holds under concurrency");
}
