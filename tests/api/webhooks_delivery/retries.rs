//! Failures: retries with backoff for 24 hours, no redirects, no loopback.

use super::*;

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 500]);
    let (webhook_id, secret) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;

    let user = app.create_user("Bo", "bo@example.com").await;
    let received = receiver.wait_for("/hook", 3, Duration::from_secs(70)).await;
    assert_eq!(received.len(), 3);
    let first_id = header_of(&received[0], "webhook-id");
    for attempt in &received {
        let event = verified(attempt, &secret);
        assert_eq!(event["data"]["user"]["id"], user["id"]);
        assert_eq!(
            header_of(attempt, "webhook-id"),
            first_id,
            "retries keep the id"
        );
        assert_eq!(attempt.body, received[0].body, "the same bytes every time");
    }
    let first_wait = received[1].at - received[0].at;
    let second_wait = received[2].at - received[1].at;
    eprintln!("retried after {first_wait:?}, then {second_wait:?}");
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(8)).contains(&first_wait),
        "about 5 s: {first_wait:?}"
    );
    assert!(
        (Duration::from_secs(22)..Duration::from_secs(40)).contains(&second_wait),
        "about 30 s: {second_wait:?}"
    );

    let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(5), |rows| {
        rows.iter().all(|row| row.status == "delivered")
    })
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].response_code, Some(204));
    assert_eq!(rows[0].last_error, None);
    assert!(rows[0].delivered_at.is_some());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let app = spawn_app_allowing_private().await;
    let receiver = Receiver::start().await;
    let (webhook_id, _) = register(&app.db, &receiver.url("/redirect"), &["user.created"]).await;

    app.create_user("Cy", "cy@example.com").await;
    let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(10), |rows| {
        rows.iter().any(|row| row.response_code.is_some())
    })
    .await;
    assert_eq!(rows[0].status, "pending", "to be tried again");
    assert_eq!(rows[0].response_code, Some(302));
    let error = rows[0].last_error.as_deref().unwrap();
    assert!(error.contains("redirects are not followed"), "{error}");
    // Long enough for a followed redirect to have arrived.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received("/redirect").len(), 1);
    assert!(
        receiver.received("/landing").is_empty(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn loopback_is_refused_at_delivery_by_default() {
    let app = spawn_app_with(Options::default()).await;
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    // Registered behind the API's back, so only the delivery-time guard is left.
    let (literal, _) = register(&app.db, &receiver.url("/hook"), &["user.created"]).await;
    let (named, _) = register(
        &app.db,
        &format!("http://localhost:{port}/hook"),
        &["user.created"],
    )
    .await;

    app.create_user("Ed", "ed@example.com").await;
    for webhook_id in [literal, named] {
        let rows = wait_for_deliveries(&app.db, webhook_id, Duration::from_secs(10), |rows| {
            rows.iter().any(|row| row.last_error.is_some())
        })
        .await;
        let error = rows[0].last_error.as_deref().unwrap();
        assert!(error.contains("loopback"), "{error}");
        assert_eq!(rows[0].response_code, None);
        assert_eq!(rows[0].status, "pending");
    }
    assert!(
        receiver.received("/hook").is_empty(),
        "nothing reached loopback"
    );
}

#[tokio::test]
async fn retries_end_24_hours_after_the_delivery_was_created() {
    let app = spawn_app_allowing_private().await;
    let (webhook_id, _) = register(&app.db, "http://127.0.0.1:9/hook", &["user.created"]).await;
    // Claimed by no running instance (its claim holds): as if mid-attempt.
    let insert = |age: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "insert into webhook_deliveries \
                     (webhook_id, event_type, occurred_at, payload, attempts, claimed_until, \
                      created_at) \
                 values ($1, 'webhook.test', now(), '{}', 7, now() + interval '1 hour', \
                         now() - $2::interval) \
                 returning id",
            )
            .bind(webhook_id)
            .bind(age)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let failure = bookkeeping::Failure {
        response_code: Some(503),
        error: "answered 503 Service Unavailable",
        duration_ms: 12,
        retry_after: Duration::from_secs(3600),
    };
    let young = insert("1 hour").await;
    let nearly_a_day = insert("23 hours 59 minutes 50 seconds").await;
    let over_a_day = insert("24 hours 1 second").await;

    assert!(
        !bookkeeping::record_failure(&app.db, young, 7, &failure)
            .await
            .unwrap()
    );
    assert!(
        !bookkeeping::record_failure(&app.db, nearly_a_day, 7, &failure)
            .await
            .unwrap()
    );
    assert!(
        bookkeeping::record_failure(&app.db, over_a_day, 7, &failure)
            .await
            .unwrap()
    );
    // A stale claim (another attempt count) records nothing.
    assert!(
        !bookkeeping::record_failure(&app.db, young, 6, &failure)
            .await
            .unwrap()
    );

    let waits: Vec<(i64, String, f64)> = sqlx::query_as(
        "select id, status, extract(epoch from next_attempt_at - now())::float8 \
         from webhook_deliveries where webhook_id = $1 order by id",
    )
    .bind(webhook_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let (_, status, wait) = &waits[0];
    assert_eq!(status, "pending");
    assert!(
        (3500.0..3601.0).contains(wait),
        "the backoff's wait: {wait}"
    );
    let (_, status, wait) = &waits[1];
    assert_eq!(status, "pending");
    assert!((0.0..11.0).contains(wait), "capped at 24 hours: {wait}");
    assert_eq!(waits[2].1, "failed");
    let rows = deliveries_of(&app.db, webhook_id).await;
    let failed = rows.iter().find(|row| row.id == over_a_day).unwrap();
    assert_eq!(failed.response_code, Some(503));
    assert_eq!(failed.duration_ms, Some(12));
    assert_eq!(
        failed.last_error.as_deref(),
        Some("answered 503 Service Unavailable")
    );
}
