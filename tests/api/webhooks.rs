//! Managing webhook endpoints over the JSON API: the secret shown once, the
//! address guard at registration, pause and resume, rotation, the delivery log,
//! a test event, redelivery, and every action in the audit trail.

use serde_json::json;

use crate::helpers::*;

async fn private_allowed() -> TestApp {
    spawn_app_with(Options {
        env: vec![("WEBHOOK_ALLOW_PRIVATE", "true".into())],
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn an_endpoint_is_created_with_its_secret_shown_once_and_managed() {
    let app = private_allowed().await;
    let (status, created) = post_json(
        &app,
        "/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "events": ["user.*", "token.revoked", "user.created"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(
        created["events"],
        json!(["user.*", "user.created", "token.revoked"])
    );
    assert_eq!(created["active"], true);
    let id = created["id"].as_i64().unwrap();

    let (_, list) = app.get_json("/webhooks").await;
    assert_eq!(list["data"][0]["id"], id);
    assert!(list["data"][0].get("secret").is_none(), "never listed");
    let (_, shown) = app.get_json(&format!("/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none());

    let response = app
        .api
        .patch(app.url(&format!("/webhooks/{id}")))
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    let (status, paused) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(paused["active"], false);

    let (status, rotated) =
        post_json(&app, &format!("/webhooks/{id}/rotate-secret"), json!({})).await;
    assert_eq!(status, 200);
    assert_ne!(rotated["secret"], created["secret"]);
    let stored: String = sqlx::query_scalar("select secret from webhooks where id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, rotated["secret"].as_str().unwrap());

    let (status, queued) = post_json(&app, &format!("/webhooks/{id}/test"), json!({})).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["type"], "webhook.test");
    assert_eq!(queued["status"], "pending", "paused: it waits");
    let (_, log) = app.get_json(&format!("/webhooks/{id}/deliveries")).await;
    assert_eq!(log["data"][0]["id"], queued["id"]);
    let (status, again) = post_json(
        &app,
        &format!("/webhooks/deliveries/{}/redeliver", queued["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{again}");

    // Every action is in the trail, and the secret never is.
    let (_, audit) = app.get_json(&format!("/audit?subject=webhook:{id}")).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "webhook.created",
        "webhook.paused",
        "webhook.secret_rotated",
        "webhook.tested",
        "webhook.redelivered",
    ] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
    assert!(!audit.to_string().contains("whsec_"), "{audit}");

    let response = app
        .api
        .delete(app.url(&format!("/webhooks/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .api
        .get(app.url(&format!("/webhooks/{id}")))
        .send()
        .await
        .unwrap();
    assert_error(response, 404).await;
    let left: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0, "its log goes with it");
}

#[tokio::test]
async fn private_addresses_and_unknown_events_are_refused_at_registration() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let (status, body) =
            post_json(&app, "/webhooks", json!({"url": url, "events": ["user.*"]})).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert!(body["fields"]["url"].is_array(), "{url}: {body}");
    }
    let (status, body) = post_json(
        &app,
        "/webhooks",
        json!({"url": "https://example.com/hook", "events": ["user.exploded"]}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["fields"]["events"][0]
            .as_str()
            .unwrap()
            .contains("unknown event")
    );
    let (status, body) = post_json(
        &app,
        "/webhooks",
        json!({"url": "https://example.com/hook"}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["fields"]["events"].is_array());
    let count: i64 = sqlx::query_scalar("select count(*) from webhooks")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn strangers_get_nothing() {
    let app = spawn_app().await;
    let response = app
        .anonymous
        .get(app.url("/webhooks"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401).await;
    let response = app
        .anonymous
        .post(app.url("/webhooks"))
        .json(&json!({"url": "https://example.com/", "events": ["user.*"]}))
        .send()
        .await
        .unwrap();
    assert_error(response, 401).await;
}

#[tokio::test]
async fn ipv4_translated_addresses_are_refused_at_registration() {
    let app = spawn_app().await;
    for url in [
        // ::ffff:0:127.0.0.1, ::ffff:0:10.0.0.1 and the metadata service.
        "http://[::ffff:0:7f00:1]/hook",
        "http://[::ffff:0:a00:1]:8080/hook",
        "http://[::ffff:0:a9fe:a9fe]/latest/meta-data",
    ] {
        let response = app
            .api
            .post(app.url("/webhooks"))
            .json(&json!({"url": url, "events": ["user.*"]}))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, 422, "{url}: {body}");
        let message = body["fields"]["url"][0].as_str().unwrap_or_default();
        assert!(message.contains("may not reach"), "{url}: {body}");
        // And how to allow it on purpose (a receiver on the same network).
        assert!(
            message.contains("WEBHOOK_ALLOW_PRIVATE=true"),
            "{url}: {body}"
        );
    }
    let count: i64 = sqlx::query_scalar("select count(*) from webhooks")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}
