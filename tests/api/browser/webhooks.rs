//! Webhooks in the browser, from the nav to deletion.

use super::*;

use crate::helpers::{Options, spawn_app_with};

/// The value of the signing secret's text box, checked to be the one shown.
async fn shown_secret(browser: &Client) -> String {
    let secret = browser
        .find(Locator::Css("textarea#secret"))
        .await
        .expect("the signing secret is shown")
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        secret.starts_with("whsec_") && secret.len() > "whsec_".len() + 16,
        "a signing secret: {secret:?}"
    );
    secret
}

/// The actions of the audit trail's events, as listed, newest first.
async fn audit_actions(browser: &Client) -> Vec<String> {
    let actions = browser
        .execute(
            "return [...document.querySelectorAll('ol.audit-events article.audit-event header strong')] \
             .map((action) => action.textContent.trim())",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(actions).unwrap()
}

/// Webhooks from the nav to deletion: a refused URL, an endpoint whose secret is
/// shown once, a test event in its log (whatever became of it: nothing listens
/// on port 9), pausing, a new secret, the audit trail. Every page through axe-core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_tests_pauses_and_deletes_a_webhook() {
    // 127.0.0.1 is refused unless private addresses are allowed.
    let app: TestApp = spawn_app_with(Options {
        env: vec![("WEBHOOK_ALLOW_PRIVATE", "true".into())],
        ..Options::default()
    })
    .await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    // The nav leads to the list, empty so far.
    click(&browser, "header nav a[href='/webhooks']").await;
    assert_eq!(at(&browser).await, "/webhooks");
    assert_eq!(title(&browser).await, "Webhooks · useradmin");
    assert_eq!(text_of(&browser, "main h1").await, "Webhooks");
    assert_eq!(text_of(&browser, "main .empty").await, "No endpoints yet.");
    let boxes = browser
        .find_all(Locator::Css(
            "form[action='/webhooks'] input[type=checkbox][name=events]",
        ))
        .await
        .unwrap();
    assert_eq!(
        boxes.len(),
        useradmin::domain::WEBHOOK_EVENTS.len(),
        "one box per event"
    );
    assert!(boxes.len() > 20, "role.* and group.* are subscribable too");
    let url = browser.find(Locator::Css("input#url")).await.unwrap();
    assert_eq!(accessible_name(&browser, &url).await, "URL");
    check_page(&browser, "webhooks-none", &mut problems).await;

    // A URL that is not http(s): refused, with the input and the ticked box kept.
    fill(&browser, "#url", "ftp://x").await;
    browser
        .find(Locator::Css("input[name=events][value='user.created']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&browser, "form[action='/webhooks'] button[type=submit]").await;
    assert_eq!(at(&browser).await, "/webhooks");
    assert_eq!(
        text_of(&browser, "#url-error").await,
        "the URL must start with http:// or https://"
    );
    let summary = text_of(&browser, ".error-summary li").await;
    assert!(
        summary.starts_with("URL: ") && summary.ends_with("must start with http:// or https://"),
        "{summary}"
    );
    assert_error_summary(&browser, "url").await;
    let url = browser.find(Locator::Css("input#url")).await.unwrap();
    assert_eq!(url.prop("value").await.unwrap().as_deref(), Some("ftp://x"));
    assert_eq!(
        url.attr("aria-describedby").await.unwrap().as_deref(),
        Some("url-error")
    );
    assert!(
        browser
            .find(Locator::Css("input[name=events][value='user.created']"))
            .await
            .unwrap()
            .is_selected()
            .await
            .unwrap(),
        "the ticked box is kept"
    );
    check_page(&browser, "webhooks-error", &mut problems).await;

    // An endpoint nothing listens on, for user.created (still ticked) and token.*.
    fill(&browser, "#url", "http://127.0.0.1:9/hook").await;
    browser
        .find(Locator::Css("input[name=events][value='token.*']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&browser, "form[action='/webhooks'] button[type=submit]").await;
    assert_eq!(
        title(&browser).await,
        "Webhook http://127.0.0.1:9/hook · useradmin"
    );
    assert_eq!(text_of(&browser, "main h1").await, "Webhook");
    assert_eq!(
        text_of(&browser, ".page-head p").await,
        "http://127.0.0.1:9/hook"
    );
    let test_action = browser
        .find(Locator::Css("main form[action$='/test']"))
        .await
        .unwrap()
        .attr("action")
        .await
        .unwrap()
        .unwrap_or_default();
    let page = test_action
        .strip_suffix("/test")
        .unwrap_or_else(|| panic!("{test_action}"))
        .to_owned();
    let id: i64 = page
        .strip_prefix("/webhooks/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("an endpoint's page: {page}"));
    assert!(id > 0);
    let first_secret = shown_secret(&browser).await;
    let secret_box = browser.find(Locator::Css("textarea#secret")).await.unwrap();
    assert_eq!(
        accessible_name(&browser, &secret_box).await,
        "Signing secret"
    );
    let focused = browser.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("secret"),
        "the secret has the focus, to be copied"
    );
    assert_eq!(text_of(&browser, "#webhook-status").await, "Active");
    assert_eq!(
        text_of(&browser, "dl.webhook-facts div:nth-child(2) dd").await,
        "user.created, token.*"
    );
    assert_eq!(text_of(&browser, "main .empty").await, "Nothing sent yet.");
    save_screenshot(&browser, "webhook-created").await;
    check_page(&browser, "webhook-created", &mut problems).await;
    // On a phone, the whole secret shows.
    emulate(&browser, PHONE, Scheme::Light).await;
    let fits = browser
        .execute(
            "const t = document.getElementById('secret'); \
             return [t.scrollWidth <= t.clientWidth, t.scrollHeight <= t.clientHeight + 1]",
            vec![],
        )
        .await
        .unwrap();
    if fits != json!([true, true]) {
        problems.push(format!(
            "webhook-created at {PHONE} px: the secret does not all show: {fits}"
        ));
    }
    emulate(&browser, DESKTOP, Scheme::Light).await;

    // Its page again: the secret is not shown a second time, anywhere.
    browser.goto(&app.url(&page)).await.unwrap();
    assert_eq!(at(&browser).await, page);
    assert!(
        browser
            .find_all(Locator::Css("textarea#secret, .new-token"))
            .await
            .unwrap()
            .is_empty(),
        "the secret is shown once"
    );
    assert!(
        !browser.source().await.unwrap().contains(&first_secret),
        "the secret is nowhere on the page"
    );

    // The list shows it.
    browser.goto(&app.url("/webhooks")).await.unwrap();
    assert_eq!(
        table_rows(&browser, "table.webhooks").await,
        [cells(&[
            "http://127.0.0.1:9/hook",
            "user.created, token.*",
            "Active",
            &text_of(&browser, "table.webhooks tbody td:nth-child(4)").await,
        ])]
    );
    save_screenshot(&browser, "webhooks-list").await;
    check_page(&browser, "webhooks-one", &mut problems).await;
    click(&browser, &format!("table.webhooks a[href='{page}']")).await;
    assert_eq!(at(&browser).await, page);

    // A test event: in the log at once, pending or (nothing listens) failed.
    click(&browser, "main form[action$='/test'] button").await;
    assert_eq!(at(&browser).await, page);
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Test event queued: it appears in the log below."
    );
    let rows = table_rows(&browser, "table.deliveries").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row[0], "webhook.test", "{row:?}");
    assert!(
        ["pending", "retrying at ", "failed"]
            .iter()
            .any(|status| row[1].starts_with(status)),
        "not delivered, since nothing listens: {row:?}"
    );
    assert!(
        row[2].parse::<u32>().is_ok(),
        "a number of attempts: {row:?}"
    );
    let redeliver = browser
        .find(Locator::Css(
            "table.deliveries form[action$='/redeliver'] button",
        ))
        .await
        .unwrap();
    assert!(
        accessible_name(&browser, &redeliver)
            .await
            .starts_with("Redeliver delivery "),
        "each Redeliver button is named for its delivery"
    );
    // Once tried: when it is tried again, and why the last try failed, in
    // words ("connection refused", not the network library's chain).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        browser.refresh().await.unwrap();
        let status = text_of(&browser, "table.deliveries td.delivery-status").await;
        if status.starts_with("retrying at ") || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert!(status.starts_with("retrying at 20"), "{status}");
    assert!(status.contains(" UTC"), "the display format: {status}");
    assert!(
        status.contains("last error: connection refused"),
        "{status}"
    );
    assert!(!status.contains("os error"), "{status}");
    save_screenshot(&browser, "webhook-log").await;
    check_page(&browser, "webhook-log", &mut problems).await;

    // Paused: the status says so and the button resumes.
    let toggle = "main form[action$='/update'] button";
    assert_eq!(text_of(&browser, toggle).await, "Pause");
    click(&browser, toggle).await;
    assert_eq!(at(&browser).await, page);
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Deliveries paused: they wait until you resume."
    );
    assert!(
        text_of(&browser, "#webhook-status")
            .await
            .starts_with("Paused"),
        "{}",
        text_of(&browser, "#webhook-status").await
    );
    assert_eq!(text_of(&browser, toggle).await, "Resume");
    check_page(&browser, "webhook-paused", &mut problems).await;

    // A new secret, shown once, unlike the first, after a page that names the
    // endpoint and says the receiver is cut off at once.
    click(&browser, "main a[href$='/rotate-secret']").await;
    assert_eq!(at(&browser).await, format!("{page}/rotate-secret"));
    assert_eq!(
        text_of(&browser, "main h1").await,
        "Rotate the signing secret of http://127.0.0.1:9/hook?"
    );
    assert!(
        text_of(&browser, "main article p")
            .await
            .contains("stops signing at once"),
        "the page says what follows"
    );
    check_page(&browser, "webhook-rotate-confirm", &mut problems).await;
    click(&browser, &format!("main article a[href='{page}']")).await;
    assert_eq!(at(&browser).await, page, "Cancel leads back");
    click(&browser, "main a[href$='/rotate-secret']").await;
    click(&browser, "main form[action$='/rotate-secret'] button").await;
    let second_secret = shown_secret(&browser).await;
    assert_ne!(second_secret, first_secret, "a new secret");
    assert!(
        text_of(&browser, "#webhook-status")
            .await
            .starts_with("Paused"),
        "still paused"
    );
    check_page(&browser, "webhook-rotated", &mut problems).await;
    browser.goto(&app.url(&page)).await.unwrap();
    assert!(
        browser
            .find_all(Locator::Css("textarea#secret"))
            .await
            .unwrap()
            .is_empty(),
        "the new secret is shown once too"
    );

    // The audit trail has each step.
    browser.goto(&app.url("/audit")).await.unwrap();
    let actions = audit_actions(&browser).await;
    for action in [
        "webhook.created",
        "webhook.tested",
        "webhook.paused",
        "webhook.secret_rotated",
    ] {
        assert!(
            actions.iter().any(|seen| seen == action),
            "{action} in {actions:?}"
        );
    }
    let trail = text_of(&browser, "ol.audit-events").await;
    assert!(
        !trail.contains(&first_secret) && !trail.contains(&second_secret),
        "no secret in the trail"
    );

    // Deleted: the list is empty again.
    browser.goto(&app.url(&page)).await.unwrap();
    click(&browser, "main a[href$='/delete']").await;
    assert_eq!(at(&browser).await, format!("{page}/delete"));
    assert_eq!(
        text_of(&browser, "main h1").await,
        "Delete the webhook http://127.0.0.1:9/hook?"
    );
    check_page(&browser, "webhook-delete-confirm", &mut problems).await;
    click(&browser, "main form[action$='/delete'] button.danger").await;
    assert_eq!(at(&browser).await, "/webhooks");
    assert_eq!(text_of(&browser, ".flash").await, "Webhook deleted.");
    assert_eq!(
        title(&browser).await,
        "Webhook deleted · Webhooks · useradmin"
    );
    assert_eq!(text_of(&browser, "main .empty").await, "No endpoints yet.");
    assert!(
        browser
            .find_all(Locator::Css("table.webhooks"))
            .await
            .unwrap()
            .is_empty()
    );
    browser.goto(&app.url(&page)).await.unwrap();
    assert!(
        text_of(&browser, "main h1").await.starts_with("404"),
        "the endpoint is gone"
    );

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
