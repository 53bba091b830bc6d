//! Bearer tokens: required, checked, revoked (through the API, another
//! instance or SQL), tied to an admin, stored hashed, and failures throttled
//! per address (IPv6 per /64).

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn every_users_route_requires_a_token() {
    let app = spawn_app().await;
    let requests = [
        app.anonymous.get(app.url("/users")),
        app.anonymous
            .post(app.url("/users"))
            .json(&json!({"name": "A", "email": "a@b.co"})),
        app.anonymous
            .get(app.url(&format!("/users/{}", app.admin_id))),
        app.anonymous
            .put(app.url("/users/1"))
            .json(&json!({"name": "A"})),
        app.anonymous
            .patch(app.url("/users/1"))
            .json(&json!({"name": "A"})),
        app.anonymous.delete(app.url("/users/1")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"useradmin\""
        );
        let body = assert_error(response, 401).await;
        assert_eq!(body["error"], "authentication required");
    }
    // Nothing was created or deleted.
    let count: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn an_unknown_or_malformed_token_is_refused() {
    let app = spawn_app().await;
    for value in [
        "Bearer ua_not-a-real-token",
        "Bearer",
        "Basic YWRtaW46YWRtaW4=",
        "bearer  ",
    ] {
        let response = app
            .anonymous
            .get(app.url("/users"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_error(response, 401).await;
    }
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    let response = app
        .anonymous
        .get(app.url("/users"))
        .header("authorization", format!("bearer {}", app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_revoked_token_stops_working() {
    let app = spawn_app().await;
    let id: i64 = sqlx::query_scalar("select id from api_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        app.api
            .get(app.url("/users"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, revoked) = json_of(
        app.api
            .post(app.url(&format!("/tokens/{id}/revoke")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(revoked["revoked_at"].is_string());
    assert_error(app.api.get(app.url("/users")).send().await.unwrap(), 401).await;
}

#[tokio::test]
async fn a_token_revoked_through_one_instance_is_refused_at_once_by_another() {
    let first = spawn_app().await;
    let second = crate::helpers::spawn_app_with(crate::helpers::Options {
        env: vec![("REDIS_KEY_PREFIX", first.key_prefix.clone())],
        database_name: Some(first.database_name.clone()),
    })
    .await;
    let (_, token) = first.second_admin_with_token().await;
    let use_on = |app: &crate::helpers::TestApp| {
        app.anonymous
            .get(app.url("/users/1"))
            .bearer_auth(&token)
            .send()
    };
    // Both instances have checked (and remembered) the token.
    for _ in 0..3 {
        assert_eq!(use_on(&first).await.unwrap().status(), 200);
        assert_eq!(use_on(&second).await.unwrap().status(), 200);
    }
    let (_, tokens) = first.get_json("/tokens").await;
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "second")
        .unwrap()["id"]
        .clone();
    let response = first
        .api
        .post(first.url(&format!("/tokens/{id}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_error(use_on(&second).await.unwrap(), 401).await;
    assert_error(use_on(&first).await.unwrap(), 401).await;
}

#[tokio::test]
async fn a_token_stops_working_when_its_owner_is_no_longer_an_admin() {
    let app = spawn_app().await;
    let (second_id, second_token) = app.second_admin_with_token().await;
    let with_second = |path: &str| app.anonymous.get(app.url(path)).bearer_auth(&second_token);
    assert_eq!(with_second("/users").send().await.unwrap().status(), 200);

    let demote = app
        .api
        .patch(app.url(&format!("/users/{second_id}")))
        .json(&json!({"is_admin": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 200);
    assert_error(with_second("/users").send().await.unwrap(), 401).await;
}

#[tokio::test]
async fn tokens_are_stored_as_hashes_and_their_use_is_recorded() {
    let app = spawn_app().await;
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from api_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&app.token));

    let (status, _) = json_of(app.api.get(app.url("/users")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    // The use is recorded in the background, at most once a minute.
    let mut last_used = None;
    for _ in 0..50 {
        last_used = sqlx::query_scalar::<_, Option<time::OffsetDateTime>>(
            "select last_used_at from api_tokens",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if last_used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = last_used.expect("last_used_at is set after a request");
    app.api.get(app.url("/users")).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select last_used_at from api_tokens")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(second, Some(first), "no write within the same minute");
}

#[tokio::test]
async fn a_token_revoked_in_sql_is_refused_at_once() {
    let app = spawn_app().await;
    for _ in 0..2 {
        assert_eq!(app.get_json("/users").await.0, 200);
    }
    sqlx::query("update api_tokens set revoked_at = now() where label = 'tests'")
        .execute(&app.db)
        .await
        .unwrap();
    within(Duration::from_secs(1), async || {
        app.api
            .get(app.url("/users/1"))
            .send()
            .await
            .unwrap()
            .status()
            == 401
    })
    .await;
}

#[tokio::test]
async fn failing_bearer_tokens_are_throttled_per_address() {
    let app = spawn_app().await;
    // Garbage is refused without a lookup, and not counted.
    for i in 0..100 {
        let response = bare_client()
            .get(app.url("/users"))
            .bearer_auth(format!("not-a-token-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    // Well-formed unknown tokens each cost a lookup: 60 a minute, then 429.
    let mut statuses = Vec::new();
    for _ in 0..70 {
        let response = bare_client()
            .get(app.url("/users"))
            .bearer_auth(useradmin::auth::tokens::generate())
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[60..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another deployment's clients are not affected (the counter is per prefix).
    let other = spawn_app().await;
    assert_eq!(other.get_json("/users").await.0, 200);
}

#[tokio::test]
async fn failing_bearer_tokens_are_counted_per_64() {
    let app = spawn_app_with(behind_proxy()).await;
    let mut statuses = Vec::new();
    for i in 0..62 {
        let response = app
            .anonymous
            .get(app.url("/users"))
            .header("x-forwarded-for", format!("2001:db8:9:9::{:x}", i + 1))
            .bearer_auth(useradmin::auth::tokens::generate())
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[60..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another /64 still gets its lookups.
    let response = app
        .anonymous
        .get(app.url("/users"))
        .header("x-forwarded-for", "2001:db8:9:a::1")
        .bearer_auth(useradmin::auth::tokens::generate())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// POST /tokens with these fields; (status, body).
async fn new_token(app: &TestApp, body: serde_json::Value) -> (u16, serde_json::Value) {
    json_of(
        app.api
            .post(app.url("/tokens"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn bearer(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// SPEC §14: a token acts with its scopes; beyond them, 403 naming the
/// permission, with `insufficient_scope`.
#[tokio::test]
async fn a_token_scoped_to_users_read_reads_users_and_may_not_create_one() {
    let app = spawn_app().await;
    let (status, created) =
        new_token(&app, json!({"label": "reader", "scopes": ["users.read"]})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["scopes"], json!(["users.read"]));
    let reader = bearer(created["token"].as_str().unwrap());
    let listed = reader.get(app.url("/users")).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let refused = reader
        .post(app.url("/users"))
        .json(&json!({"name": "Nope", "email": "nope@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\""
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "forbidden", "permission": "users.write"})
    );
    for (method, path, permission) in [
        (reqwest::Method::GET, "/tokens", "tokens.manage"),
        (reqwest::Method::GET, "/audit", "audit.read"),
        (reqwest::Method::GET, "/webhooks", "webhooks.manage"),
        (reqwest::Method::GET, "/scim/v2/Users", "scim.provision"),
    ] {
        let response = reader.request(method, app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains(permission), "{path}: {text}");
    }
    assert_eq!(app.user_count().await, 1, "nothing was created");
    // The audit trail records what the token may do.
    let event = audit_events(&app, "action=token.created")
        .await
        .into_iter()
        .find(|e| e["subject"]["label"] == "reader")
        .expect("the creation is audited");
    assert_eq!(
        event["changes"]["scopes"],
        json!([null, ["users.read"]]),
        "{event}"
    );
    assert!(event["changes"]["expires_at"][1].is_string(), "{event}");
}

/// Tokens made without scopes keep every permission; a scope-limited token
/// cannot make a token with more than it holds.
#[tokio::test]
async fn scopes_default_to_the_creators_and_may_not_exceed_them() {
    let app = spawn_app().await;
    let (status, full) = new_token(&app, json!({"label": "full"})).await;
    assert_eq!(status, 201);
    assert_eq!(full["scopes"].as_array().unwrap().len(), 11);
    let (status, limited) = new_token(
        &app,
        json!({"label": "limited", "scopes": ["tokens.manage", "users.read"]}),
    )
    .await;
    assert_eq!(status, 201);
    let limited = bearer(limited["token"].as_str().unwrap());
    let escalate = limited
        .post(app.url("/tokens"))
        .json(&json!({"label": "more", "scopes": ["users.read", "users.write"]}))
        .send()
        .await
        .unwrap();
    let body = assert_error(escalate, 403).await;
    assert_eq!(body["permission"], "users.write");
    let (_, inherited) = json_of(
        limited
            .post(app.url("/tokens"))
            .json(&json!({"label": "inherits"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(inherited["scopes"], json!(["tokens.manage", "users.read"]));
    let (status, bad) = new_token(
        &app,
        json!({"label": "bad", "scopes": ["users.read", "users.everything"]}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        bad["fields"]["scopes"][0]
            .as_str()
            .unwrap()
            .contains("users.everything")
    );
    let (status, _) = new_token(&app, json!({"label": "none", "scopes": []})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn token_lifetimes_default_to_and_stop_at_token_max_days() {
    let app = spawn_app().await;
    let (status, created) = new_token(&app, json!({"label": "yearly"})).await;
    assert_eq!(status, 201);
    let expires = time::OffsetDateTime::parse(
        created["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((365 * 24 - 1..=365 * 24).contains(&days), "{days} hours");
    let (status, short) = new_token(&app, json!({"label": "short", "expires_in_days": 7})).await;
    assert_eq!(status, 201, "{short}");
    for too_long in [json!(366), json!(0), json!(-1), json!("soon")] {
        let (status, body) =
            new_token(&app, json!({"label": "long", "expires_in_days": too_long})).await;
        assert_eq!(status, 422, "{too_long}: {body}");
        assert!(!body["fields"]["expires_in_days"].is_null(), "{body}");
    }
    let (_, listed) = app.get_json("/tokens").await;
    let short_listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "short")
        .unwrap();
    assert_eq!(short_listed["expires_at"], short["expires_at"]);

    let unbounded = spawn_app_with(Options {
        env: vec![("TOKEN_MAX_DAYS", "0".into())],
        ..Options::default()
    })
    .await;
    let (status, forever) = new_token(&unbounded, json!({"label": "forever"})).await;
    assert_eq!(status, 201);
    assert!(forever["expires_at"].is_null());
    let (status, _) = new_token(&unbounded, json!({"label": "zero", "expires_in_days": 0})).await;
    assert_eq!(status, 201);
}

/// An expiry that passes while this instance trusts a cached check still
/// ends the token: expiry is checked on every use.
#[tokio::test]
async fn an_expired_token_answers_401_even_from_the_cache() {
    let app = spawn_app().await;
    let (_, created) = new_token(&app, json!({"label": "brief"})).await;
    let token = created["token"].as_str().unwrap().to_owned();
    sqlx::query(
        "update api_tokens set expires_at = now() + interval '2 seconds' where label = 'brief'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let client = bearer(&token);
    within(Duration::from_secs(2), async || {
        client.get(app.url("/users")).send().await.unwrap().status() == 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let response = client.get(app.url("/users")).send().await.unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"useradmin\""
    );
    assert_error(response, 401).await;
}

/// Purging is a DELETE like a soft delete; the handler asks for users.purge.
#[tokio::test]
async fn purging_needs_users_purge_beyond_users_lifecycle() {
    let app = spawn_app().await;
    let user = app.create_user("Gone", "gone@example.com").await;
    let path = format!("/users/{}", user["id"]);
    let (_, created) = new_token(
        &app,
        json!({"label": "helpdesk", "scopes": ["users.lifecycle", "users.read"]}),
    )
    .await;
    let helpdesk = bearer(created["token"].as_str().unwrap());
    let purge = helpdesk
        .delete(app.url(&format!("{path}?purge=true")))
        .send()
        .await
        .unwrap();
    let body = assert_error(purge, 403).await;
    assert_eq!(body["permission"], "users.purge");
    let delete = helpdesk.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(delete.status(), 200);
}
