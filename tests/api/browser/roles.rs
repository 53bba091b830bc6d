//! Roles in the browser: the table of roles × permissions, a custom role made
//! through the form, and a viewer who sees the table without any control.

use super::*;

use crate::helpers::spawn_app;

/// Which permissions a row of the roles table marks as granted, by the
/// accessible text of its cells (not by the symbol or its colour).
async fn granted_in_row(browser: &Client, role: &str) -> Vec<String> {
    let granted = browser
        .execute(
            "const row = [...document.querySelectorAll('table.roles tbody tr')] \
               .find((tr) => tr.querySelector('th a').textContent.trim() === arguments[0]); \
             const heads = [...document.querySelectorAll('table.roles thead th.permission')] \
               .map((th) => th.textContent.trim()); \
             return [...row.querySelectorAll('td.permission')] \
               .map((td, i) => [heads[i], td.querySelector('.visually-hidden').textContent]) \
               .filter(([, said]) => said === 'yes').map(([name]) => name);",
            vec![json!(role)],
        )
        .await
        .unwrap();
    serde_json::from_value(granted).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_makes_a_custom_role_and_a_viewer_sees_only_the_table() {
    let app = spawn_app().await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    click(&browser, "header nav a[href='/roles']").await;
    assert_eq!(at(&browser).await, "/roles");
    assert_eq!(title(&browser).await, "Roles · useradmin");
    assert_eq!(
        granted_in_row(&browser, "viewer").await,
        ["audit.read", "users.read"]
    );
    assert_eq!(granted_in_row(&browser, "admin").await.len(), 11);
    let name = browser.find(Locator::Css("input#name")).await.unwrap();
    assert_eq!(accessible_name(&browser, &name).await, "Name");
    check_page(&browser, "roles", &mut problems).await;

    // A taken name: the form again, with its input and its error.
    fill(&browser, "#name", "Helpdesk").await;
    click(&browser, "form[action='/roles'] button[type=submit]").await;
    assert_error_summary(&browser, "name").await;
    check_page(&browser, "roles-refused", &mut problems).await;

    fill(&browser, "#name", "Auditors").await;
    fill(&browser, "#description", "Read users and the audit trail").await;
    for permission in ["users.read", "audit.read"] {
        browser
            .find(Locator::Css(&format!(
                "input[name=permissions][value='{permission}']"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    click(&browser, "form[action='/roles'] button[type=submit]").await;
    assert!(
        at(&browser).await.starts_with("/roles/"),
        "{}",
        at(&browser).await
    );
    assert_eq!(
        text_of(&browser, "main .flash").await,
        "Role Auditors created."
    );
    assert_eq!(text_of(&browser, "main h1").await, "Role Auditors");
    check_page(&browser, "role", &mut problems).await;

    click(&browser, "main a[href='/roles']").await;
    assert_eq!(
        granted_in_row(&browser, "Auditors").await,
        ["audit.read", "users.read"]
    );
    let row = browser
        .find(Locator::XPath(
            "//table[contains(@class,'roles')]//tr[th/a='Auditors']",
        ))
        .await
        .unwrap();
    assert!(
        row.text().await.unwrap().contains("Delete"),
        "custom: controls"
    );
    let builtin = browser
        .find(Locator::XPath(
            "//table[contains(@class,'roles')]//tr[th/a='viewer']",
        ))
        .await
        .unwrap();
    let builtin_text = builtin.text().await.unwrap();
    assert!(builtin_text.contains("built in"), "{builtin_text}");
    assert!(!builtin_text.contains("Edit"), "built in: no controls");

    // A viewer: the table, without the form or any control.
    let (status, viewer) = crate::helpers::post_json(
        &app,
        "/users",
        json!({ "name": "Vera", "email": "vera@example.com", "password": "a password for tests" }),
    )
    .await;
    assert_eq!(status, 201);
    let granted = app
        .state
        .writer
        .grant_role(
            &useradmin::write::Actor::cli("tests"),
            viewer["id"].as_i64().unwrap(),
            &useradmin::domain::RoleName::parse("viewer").unwrap(),
        )
        .await
        .unwrap();
    assert!(granted);
    click(&browser, "header form[action='/logout'] button").await;
    browser.goto(&app.url("/login")).await.unwrap();
    fill(&browser, "#email", "vera@example.com").await;
    fill(&browser, "#password", "a password for tests").await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    browser.goto(&app.url("/roles")).await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "Roles");
    assert_eq!(
        granted_in_row(&browser, "Auditors").await,
        ["audit.read", "users.read"]
    );
    for css in [
        "form[action='/roles']",
        "#new-role-title",
        "td.row-actions a",
        "td.row-actions form",
    ] {
        assert!(
            browser.find(Locator::Css(css)).await.is_err(),
            "a viewer sees no {css}"
        );
    }
    check_page(&browser, "roles-viewer", &mut problems).await;

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
