//! What a receiver gets: signed events with the user as the API shows it,
//! only what it subscribed to, changes made with raw SQL, test events and
//! redeliveries, and how soon.

use super::*;

#[tokio::test]
async fn user_changes_arrive_signed_with_the_user_as_the_api_shows_it() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app.db, &receiver.url("/hook"), &["user.*"]).await;
    let within = Duration::from_secs(10);

    let sent = Instant::now();
    let user = app.create_user("Ada", "ada@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let received = receiver.wait_for("/hook", 1, within).await;
    let created = verified(&received[0], &secret);
    eprintln!("user.created: write → receipt {:?}", received[0].at - sent);
    assert_eq!(created["type"], "user.created");
    assert_eq!(created["data"]["user"], user_json(&app, id).await);
    assert_eq!(created["data"]["user"], user, "as POST /users answered");
    assert_eq!(created["data"]["changes"]["name"], json!([null, "Ada"]));
    assert!(
        created["timestamp"].as_str().unwrap().ends_with('Z'),
        "{created}"
    );

    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Ada Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = receiver.wait_for("/hook", 2, within).await;
    let updated = verified(&received[1], &secret);
    assert_eq!(updated["type"], "user.updated");
    assert_eq!(updated["data"]["user"], user_json(&app, id).await);
    assert_eq!(updated["data"]["user"]["name"], "Ada Lovelace");
    assert_eq!(
        updated["data"]["changes"],
        json!({"name": ["Ada", "Ada Lovelace"]})
    );
    assert_ne!(
        header_of(&received[0], "webhook-id"),
        header_of(&received[1], "webhook-id"),
        "each event is a message of its own"
    );

    let last_state = user_json(&app, id).await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let received = receiver.wait_for("/hook", 3, within).await;
    let deleted = verified(&received[2], &secret);
    assert_eq!(deleted["type"], "user.deleted");
    let shown = &deleted["data"]["user"];
    assert_eq!(shown["id"], id);
    assert_eq!(shown["email"], "ada@example.com", "the last state: {shown}");
    assert_eq!(shown["created_at"], last_state["created_at"]);
    assert!(
        shown.get("password_hash").is_none() && shown.get("session_epoch").is_none(),
        "{shown}"
    );
    assert_eq!(receiver.received("/hook").len(), 3, "nothing else was sent");
}

#[tokio::test]
async fn a_subscription_to_user_created_receives_nothing_else() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (created_only, _) = register(&app.db, &receiver.url("/created"), &["user.created"]).await;
    // Everything, to know when all the events have been sent.
    let (_, _) = register(&app.db, &receiver.url("/all"), &["user.*", "token.*"]).await;

    let user = app.create_user("Di", "di@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Diana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.token_for(app.admin_id, "another").await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let all = receiver.wait_for("/all", 4, Duration::from_secs(10)).await;
    let types: HashSet<String> = all
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        HashSet::from(
            [
                "user.created",
                "user.updated",
                "token.created",
                "user.deleted"
            ]
            .map(String::from)
        )
    );
    let created = receiver.received("/created");
    assert_eq!(created.len(), 1);
    let event: Value = serde_json::from_slice(&created[0].body).unwrap();
    assert_eq!(event["type"], "user.created");
    assert_eq!(
        deliveries_of(&app.db, created_only).await.len(),
        1,
        "nothing else queued"
    );
}

#[tokio::test]
async fn a_change_made_with_raw_sql_is_delivered() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app.db, &receiver.url("/hook"), &["user.updated"]).await;
    let user = app.create_user("Fay", "fay@example.com").await;
    let id = user["id"].as_i64().unwrap();

    sqlx::query("update users set name = 'Fay Raw' where id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    let received = receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;
    let event = verified(&received[0], &secret);
    assert_eq!(event["type"], "user.updated");
    assert_eq!(
        event["data"]["changes"],
        json!({"name": ["Fay", "Fay Raw"]})
    );
    assert_eq!(event["data"]["user"], user_json(&app, id).await);
}

#[tokio::test]
async fn delivery_latency_from_write_to_receipt() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;

    const WRITES: usize = 50;
    let mut sent = Vec::with_capacity(WRITES);
    for n in 0..WRITES {
        let started = Instant::now();
        let user = app
            .create_user(&format!("Latency {n}"), &format!("latency{n}@example.com"))
            .await;
        sent.push((user["id"].as_i64().unwrap(), started));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = receiver
        .wait_for("/hook", WRITES, Duration::from_secs(20))
        .await;
    let mut latencies: Vec<Duration> = sent
        .iter()
        .map(|(id, started)| {
            let arrival = received
                .iter()
                .find(|r| verified(r, &secret)["data"]["user"]["id"] == *id)
                .expect("every user's event arrived");
            arrival.at - *started
        })
        .collect();
    latencies.sort();
    let p50 = latencies[WRITES / 2];
    let p99 = latencies[WRITES * 99 / 100];
    eprintln!(
        "write → receipt over {WRITES} creates: p50 {p50:?}, p99 {p99:?}, max {:?}",
        latencies[WRITES - 1]
    );
    // Woken by the write itself, not by the idle look every 5 s.
    assert!(p50 < Duration::from_secs(1), "p50 {p50:?}");
}

#[tokio::test]
async fn a_test_event_and_a_redelivery_arrive_with_their_ids() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (webhook_id, secret) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;

    let tests = Actor::cli("tests");
    let queued = (app.state.writer)
        .send_test_event(&tests, webhook_id)
        .await
        .unwrap();
    assert_eq!(
        (queued.event_type.as_str(), queued.status.as_str()),
        ("webhook.test", "pending")
    );
    let received = receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;
    let event = verified(&received[0], &secret);
    assert_eq!(event["type"], "webhook.test");
    assert_eq!(
        event["data"],
        json!({"webhook": {"id": webhook_id}, "test": true})
    );
    let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(5), |rows| {
        rows[0].status == "delivered"
    })
    .await;
    assert_eq!(rows[0].id, queued.id);

    let again = app.state.writer.redeliver(&tests, queued.id).await.unwrap();
    assert_eq!((again.status.as_str(), again.attempts), ("pending", 0));
    let received = receiver.wait_for("/hook", 2, Duration::from_secs(10)).await;
    verified(&received[1], &secret);
    assert_eq!(
        header_of(&received[1], "webhook-id"),
        header_of(&received[0], "webhook-id"),
        "a redelivery is the same message"
    );
    assert_eq!(received[1].body, received[0].body);
    assert!(matches!(
        app.state.writer.redeliver(&tests, i64::MAX).await,
        Err(WriteError::NotFound)
    ));
}

#[tokio::test]
async fn a_paused_endpoint_keeps_its_deliveries_until_resumed() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (webhook_id, _) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;
    sqlx::query("update webhooks set active = false where id = $1")
        .bind(webhook_id)
        .execute(&app.db)
        .await
        .unwrap();
    (app.state.writer)
        .send_test_event(&Actor::cli("tests"), webhook_id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rows = deliveries_of(&app.db, webhook_id).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("pending", 0));
    assert!(receiver.received("/hook").is_empty());

    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("update webhooks set active = true where id = $1")
        .bind(webhook_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    deliveries::wake_dispatchers(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    receiver.wait_for("/hook", 1, Duration::from_secs(2)).await;
}
