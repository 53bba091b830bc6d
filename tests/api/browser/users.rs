//! Managing users in the browser: from login to logout, and disabling in bulk
//! then restoring a deleted user.

use super::*;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_a_user_from_login_to_logout() {
    let app: TestApp = spawn_app().await;
    app.seed_users(3).await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;

    // Not logged in: the list sends us to the login page, which brings us back.
    browser.goto(&app.url("/users?sort=name")).await.unwrap();
    assert_eq!(at(&browser).await, "/login?next=%2Fusers%3Fsort%3Dname");
    fill(&browser, "#email", ADMIN_EMAIL).await;
    fill(&browser, "#password", "not the password").await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    assert_eq!(
        text_of(&browser, ".error-summary li").await,
        "Email or password is incorrect."
    );
    assert_error_summary(&browser, "email").await;
    fill(&browser, "#password", ADMIN_PASSWORD).await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    assert_eq!(at(&browser).await, "/users?sort=name");
    assert_eq!(text_of(&browser, ".flash").await, "Welcome, Administrator.");
    assert!(
        text_of(&browser, ".page-head p")
            .await
            .starts_with("4 users")
    );

    // Create a user.
    click(&browser, "a[href='/users/new']").await;
    fill(&browser, "#name", "Katherine Johnson").await;
    fill(&browser, "#email", "katherine@example.com").await;
    click(&browser, "form[action='/users'] button[type=submit]").await;
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Created Katherine Johnson."
    );
    assert_eq!(text_of(&browser, "article h1").await, "Katherine Johnson");
    let detail = at(&browser).await;

    // Find it with the search box.
    browser.goto(&app.url("/users")).await.unwrap();
    fill(&browser, "#q", "katherine").await;
    click(&browser, "form[role=search] button").await;
    assert_eq!(at(&browser).await, "/users?sort=id&q=katherine");
    let rows = browser.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]
            .text()
            .await
            .unwrap()
            .contains("katherine@example.com")
    );
    save_screenshot(&browser, "users-list-1440").await;
    emulate(&browser, PHONE, Scheme::Light).await;
    save_screenshot(&browser, "users-list-375").await;
    emulate(&browser, DESKTOP, Scheme::Light).await;

    // Edit it, then hit a validation error.
    click(&browser, "tbody tr td.row-actions a[href$='/edit']").await;
    fill(&browser, "#name", "Katherine G. Johnson").await;
    click(&browser, "main form button[type=submit]").await;
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Saved Katherine G. Johnson."
    );
    assert_eq!(at(&browser).await, detail);
    click(&browser, "a[href$='/edit']").await;
    fill(&browser, "#email", "not an email").await;
    click(&browser, "main form button[type=submit]").await;
    assert_eq!(
        text_of(&browser, "#email-error").await,
        "is not a valid email address"
    );
    let kept = browser
        .find(Locator::Css("#email"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("not an email"), "the input is kept");
    assert_error_summary(&browser, "email").await;
    save_screenshot(&browser, "user-edit-error").await;

    // Delete it, after the confirmation page.
    browser
        .goto(&app.url(&format!("{detail}/delete")))
        .await
        .unwrap();
    assert_eq!(
        text_of(&browser, "article h1").await,
        "Delete Katherine G. Johnson?"
    );
    click(&browser, "button.danger").await;
    assert_eq!(at(&browser).await, "/users");
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Deleted Katherine G. Johnson (katherine@example.com). It can be restored from Deleted users."
    );
    assert!(
        !text_of(&browser, "tbody")
            .await
            .contains("katherine@example.com")
    );

    // Log out: the pages are closed again.
    click(&browser, "form[action='/logout'] button").await;
    assert_eq!(at(&browser).await, "/login");
    browser.goto(&app.url("/users")).await.unwrap();
    assert!(at(&browser).await.starts_with("/login"));

    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}

/// The names of the list's rows that carry the "Disabled" badge.
async fn disabled_names(browser: &Client) -> Vec<String> {
    let mut names = Vec::new();
    for row in browser.find_all(Locator::Css("tbody tr")).await.unwrap() {
        let Ok(badge) = row.find(Locator::Css(".badge.disabled")).await else {
            continue;
        };
        assert_eq!(badge.text().await.unwrap(), "Disabled");
        let name = row.find(Locator::Css("td:nth-child(3) a")).await.unwrap();
        names.push(name.text().await.unwrap());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_disables_users_in_bulk_and_restores_a_deleted_one() {
    let app: TestApp = spawn_app().await;
    let mut users = Vec::new();
    for (name, email) in [
        ("Ada Lovelace", "ada@example.com"),
        ("Grace Hopper", "grace@example.com"),
        ("Alan Turing", "alan@example.com"),
        ("Edsger Dijkstra", "edsger@example.com"),
        ("Barbara Liskov", "barbara@example.com"),
    ] {
        let id = app.create_user(name, email).await["id"].as_i64().unwrap();
        users.push((id, name));
    }
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    log_in(&browser, &app).await;
    assert!(disabled_names(&browser).await.is_empty());

    // Tick three users, choose Disable with a reason.
    let chosen = &users[..3];
    for (id, name) in chosen {
        let checkbox = browser
            .find(Locator::Css(&format!("input#select-{id}")))
            .await
            .unwrap();
        assert_eq!(
            accessible_name(&browser, &checkbox).await,
            format!("Select {name}")
        );
        checkbox.click().await.unwrap();
        assert!(checkbox.is_selected().await.unwrap());
    }
    browser
        .find(Locator::Css("form#bulk select[name=action]"))
        .await
        .unwrap()
        .select_by_value("disable")
        .await
        .unwrap();
    fill(&browser, "form#bulk input[name=reason]", "Left the company").await;
    click(&browser, "form#bulk button[type=submit]").await;

    // The confirmation names all three, and only them, with the reason kept.
    assert_eq!(at(&browser).await, "/users/bulk");
    assert_eq!(text_of(&browser, "main h1").await, "Disable 3 users?");
    let named = text_of(&browser, "ul.bulk-users").await;
    for (_, name) in chosen {
        assert!(named.contains(name), "{name} in {named}");
    }
    for (_, name) in &users[3..] {
        assert!(!named.contains(name), "{name} not in {named}");
    }
    let reason = browser
        .find(Locator::Css("textarea#reason"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("Left the company"));
    save_screenshot(&browser, "bulk-confirm-1440").await;
    click(&browser, "main form button[type=submit]").await;

    // Back on the list: a flash, and the badges beside exactly those three.
    assert_eq!(at(&browser).await, "/users");
    let flash = text_of(&browser, ".flash").await;
    assert!(
        flash.starts_with("Disable") && flash.contains('3'),
        "{flash}"
    );
    let mut expected: Vec<String> = chosen.iter().map(|(_, n)| n.to_string()).collect();
    let mut seen = disabled_names(&browser).await;
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
    save_screenshots(&browser, "bulk-users-badges").await;

    // The filter bar shows only them; a search keeps the filter.
    browser
        .find(Locator::Css("form.list-filters summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .find(Locator::Css("select#status"))
        .await
        .unwrap()
        .select_by_value("disabled")
        .await
        .unwrap();
    click(&browser, "form.list-filters button[type=submit]").await;
    assert!(
        at(&browser).await.contains("status=disabled"),
        "{}",
        at(&browser).await
    );
    assert_eq!(
        browser
            .find_all(Locator::Css("tbody tr"))
            .await
            .unwrap()
            .len(),
        3
    );
    fill(&browser, "#q", "a").await;
    click(&browser, "form[role=search] button").await;
    let here = at(&browser).await;
    assert!(
        here.contains("status=disabled") && here.contains("q=a"),
        "{here}"
    );
    let selected = browser
        .find(Locator::Css("select#status"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(selected.as_deref(), Some("disabled"));

    // One user's page gives the reason.
    let (first_id, first_name) = chosen[0];
    click(&browser, &format!("tbody a[href='/users/{first_id}']")).await;
    assert_eq!(text_of(&browser, "article h1").await, first_name);
    let status = text_of(&browser, "dl.details dd:nth-of-type(3)").await;
    assert!(
        status.starts_with("Disabled since") && status.ends_with(": Left the company"),
        "{status}"
    );

    // Delete another user from its row, then restore it from Deleted users.
    let (gone_id, gone_name) = users[4];
    browser.goto(&app.url("/users")).await.unwrap();
    click(&browser, &format!("a[href='/users/{gone_id}/delete']")).await;
    click(&browser, "button.danger").await;
    assert_eq!(at(&browser).await, "/users");
    assert!(!text_of(&browser, "tbody").await.contains(gone_name));
    click(&browser, "a[href='/users/deleted']").await;
    assert_eq!(at(&browser).await, "/users/deleted");
    let rows = browser.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].text().await.unwrap().contains(gone_name));
    save_screenshots(&browser, "bulk-users-deleted").await;
    let restore = browser
        .find(Locator::Css(&format!(
            "form[action='/users/{gone_id}/restore'] button"
        )))
        .await
        .unwrap();
    assert_eq!(
        accessible_name(&browser, &restore).await,
        format!("Restore {gone_name}")
    );
    click(
        &browser,
        &format!("form[action='/users/{gone_id}/restore'] button"),
    )
    .await;
    assert_eq!(
        text_of(&browser, ".flash").await,
        format!("Restored {gone_name}.")
    );
    click(
        &browser,
        "a[href='/users'][role=button], footer a[href='/users']",
    )
    .await;
    assert_eq!(at(&browser).await, "/users");
    let list = text_of(&browser, "tbody").await;
    assert!(list.contains(gone_name), "{gone_name} is back: {list}");
    browser.goto(&app.url("/users/deleted")).await.unwrap();
    assert!(
        browser
            .find_all(Locator::Css("tbody tr"))
            .await
            .unwrap()
            .is_empty()
    );

    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
