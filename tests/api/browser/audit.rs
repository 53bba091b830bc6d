//! The audit trail in the browser: filters without hand-typed ISO times or
//! `admin:1`, times in the display format.

use super::*;

use crate::helpers::{UserForm, spawn_app, submit_user_form};

/// The value of a form control, as the browser holds it.
async fn value_of(browser: &Client, css: &str) -> String {
    let value = browser
        .execute(
            "return document.querySelector(arguments[0]).value",
            vec![json!(css)],
        )
        .await
        .unwrap();
    value.as_str().unwrap_or_default().to_owned()
}

async fn event_actors(browser: &Client) -> Vec<String> {
    let actors = browser
        .execute(
            "return [...document.querySelectorAll('ol.audit-events article.audit-event .meta')] \
             .map((meta) => meta.textContent.replace(/\\s+/g, ' ').trim())",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(actors).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_filters_the_audit_trail_by_email_and_picked_times() {
    let app = spawn_app().await;
    // One change by a token (the API helper), one by the admin's session.
    app.create_user("Ann", "ann@example.com").await;
    let client = crate::helpers::browser();
    app.log_in_as_admin(&client).await;
    let csrf = app.csrf(&client).await;
    let response = submit_user_form(
        client.post(app.url("/users")),
        UserForm::new(&csrf, "Bob", "bob@example.com"),
    )
    .await;
    assert_eq!(response.status(), 303);

    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    // An old link (the import's result page sends one): `admin:<id>` and an
    // RFC 3339 time. The form shows them as a person would enter them.
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let iso = hour_ago
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let link = format!(
        "/audit?actor=admin%3A{}&since={}",
        app.admin_id,
        iso.replace('+', "%2B")
    );
    browser.goto(&app.url(&link)).await.unwrap();
    assert_eq!(value_of(&browser, "#actor").await, ADMIN_EMAIL);
    let since = value_of(&browser, "#since").await;
    assert_eq!(since.len(), "2026-12-01T09:30:00".len(), "{since}");
    assert!(iso.starts_with(&since), "{since} from {iso}");
    let actors = event_actors(&browser).await;
    assert!(!actors.is_empty());
    assert!(
        actors
            .iter()
            .all(|meta| meta.contains(&format!("by admin {ADMIN_EMAIL}"))),
        "{actors:?}"
    );
    check_page(&browser, "audit-filtered", &mut problems).await;

    // Filled in as a person does: an email in any case, a picked day and time
    // (UTC); the times listed in the pages' display format.
    browser.goto(&app.url("/audit")).await.unwrap();
    assert_eq!(
        browser
            .find(Locator::Css("#since"))
            .await
            .unwrap()
            .attr("type")
            .await
            .unwrap()
            .as_deref(),
        Some("datetime-local")
    );
    fill(&browser, "#actor", &ADMIN_EMAIL.to_uppercase()).await;
    let picked = hour_ago
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]"
        ))
        .unwrap();
    browser
        .execute(
            "document.querySelector('#since').value = arguments[0]",
            vec![json!(picked)],
        )
        .await
        .unwrap();
    click(&browser, "form.audit-filters button[type=submit]").await;
    let at_now = at(&browser).await;
    assert!(at_now.starts_with("/audit?"), "{at_now}");
    let actors = event_actors(&browser).await;
    assert!(!actors.is_empty(), "{}", text_of(&browser, "main").await);
    assert!(
        actors
            .iter()
            .all(|meta| meta.contains(&format!("by admin {ADMIN_EMAIL}"))),
        "only the admin's: {actors:?}"
    );
    let shown = text_of(&browser, "ol.audit-events time").await;
    let display = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    assert!(
        time::PrimitiveDateTime::parse(&shown, display).is_ok(),
        "not the display format: {shown}"
    );
    let raw_iso = browser
        .execute(
            "return /\\d{4}-\\d\\d-\\d\\dT\\d/.test(document.querySelector('main').innerText)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(raw_iso, json!(false), "no raw ISO times on the page");

    // Nothing before a day picked in the future.
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).date();
    browser
        .goto(&app.url(&format!("/audit?since={tomorrow}")))
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "main p.empty").await, "No events.");
    assert_no_problems(&problems);
}
