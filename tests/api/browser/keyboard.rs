//! What keyboard and screen reader users get.

use super::*;

use crate::helpers::spawn_app;

/// What keyboard and screen reader users get: a skip link first, focus rings they
/// can see, links named for what they do, refused forms that say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_and_screen_reader_users_find_their_way() {
    let app: TestApp = spawn_app().await;
    app.seed_users(3).await;
    app.create_user("Katherine Johnson", "katherine@example.com")
        .await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    log_in(&browser, &app).await;
    browser.goto(&app.url("/users?sort=name")).await.unwrap();

    // The first tab stop: the skip link, shown when focused; it leads into <main>.
    press(&browser, Key::Tab).await;
    assert_eq!(assert_focus_ring(&browser).await, "a.skip-link");
    let skip = browser.active_element().await.unwrap();
    assert_eq!(
        accessible_name(&browser, &skip).await,
        "Skip to main content"
    );
    save_screenshot(&browser, "skip-link-focused").await;
    press(&browser, Key::Enter).await;
    assert_eq!(
        browser.current_url().await.unwrap().fragment(),
        Some("main")
    );
    let focused = browser.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("main"));
    press(&browser, Key::Tab).await;
    assert_eq!(assert_focus_ring(&browser).await, "input#q");
    press(&browser, Key::Tab).await;
    assert_eq!(assert_focus_ring(&browser).await, "button");
    save_screenshot(&browser, "button-focused").await;

    // Each row's links are named for their user; the Edit/Delete cell is a table
    // cell as tall as its row.
    let rows = browser.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let user = row.find(Locator::Css("td:nth-child(3) a")).await.unwrap();
        let name = user.text().await.unwrap();
        for (css, verb) in [
            ("a[href$='/edit']", "Edit"),
            ("a[href$='/delete']", "Delete"),
        ] {
            let link = row.find(Locator::Css(css)).await.unwrap();
            assert_eq!(
                accessible_name(&browser, &link).await,
                format!("{verb} {name}")
            );
        }
        // The row's checkbox is labelled with its user, and is part of the
        // bulk form although the table is not inside it.
        let checkbox = row
            .find(Locator::Css("td.select input[type=checkbox]"))
            .await
            .unwrap();
        assert_eq!(
            accessible_name(&browser, &checkbox).await,
            format!("Select {name}")
        );
        assert_eq!(
            checkbox.attr("form").await.unwrap().as_deref(),
            Some("bulk")
        );
    }
    let cells = browser
        .execute(
            "return [...document.querySelectorAll('td.row-actions')].map((td) => \
             [getComputedStyle(td).display, td.getBoundingClientRect().height, \
              td.parentElement.getBoundingClientRect().height])",
            vec![],
        )
        .await
        .unwrap();
    for cell in cells.as_array().unwrap() {
        assert_eq!(cell[0], "table-cell", "{cell}");
        assert!(
            (cell[1].as_f64().unwrap() - cell[2].as_f64().unwrap()).abs() < 1.0,
            "as tall as its row: {cell}"
        );
    }
    // Names and emails wrap inside their cell, however long their words.
    let wraps = browser
        .execute(
            "return [getComputedStyle(document.querySelector('tbody td.name')).overflowWrap, \
             getComputedStyle(document.querySelector('tbody td.email')).overflowWrap]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wraps, json!(["anywhere", "anywhere"]));

    // No two links to different places share a name: the header's link to the
    // admin's account is not called like the admin's row.
    let mut names: std::collections::BTreeMap<String, String> = Default::default();
    for link in browser.find_all(Locator::Css("a[href]")).await.unwrap() {
        let name = accessible_name(&browser, &link).await;
        let href = link.attr("href").await.unwrap().unwrap_or_default();
        if let Some(other) = names.insert(name.clone(), href.clone()) {
            assert_eq!(other, href, "two links named {name:?}");
        }
    }
    assert_eq!(
        names.get("Account: Administrator").map(String::as_str),
        Some("/account/password")
    );

    // Refused forms: an error summary, announced and focused, and "Error:" in the
    // title, on every form.
    browser.goto(&app.url("/users/new")).await.unwrap();
    fill(&browser, "#email", "katherine@example.com").await;
    click(&browser, "form[action='/users'] button[type=submit]").await;
    assert_error_summary(&browser, "name").await;
    let items = browser
        .find_all(Locator::Css(".error-summary li"))
        .await
        .unwrap();
    assert_eq!(items.len(), 1, "name is required");
    fill(&browser, "#name", "Dorothy Vaughan").await;
    fill(&browser, "#email", "katherine@example.com").await;
    click(&browser, "form[action='/users'] button[type=submit]").await;
    assert_error_summary(&browser, "email").await;
    assert_eq!(
        text_of(&browser, ".error-summary li").await,
        "Email is already used by another user"
    );
    browser.goto(&app.url("/tokens")).await.unwrap();
    fill(&browser, "#label", "   ").await;
    click(&browser, "form[action='/tokens'] button[type=submit]").await;
    assert_error_summary(&browser, "label").await;
    browser.goto(&app.url("/account/password")).await.unwrap();
    fill(&browser, "#current_password", "not it").await;
    fill(&browser, "#new_password", "a new password").await;
    fill(&browser, "#confirm_password", "a new password").await;
    click(
        &browser,
        "form[action='/account/password'] button[type=submit]",
    )
    .await;
    assert_error_summary(&browser, "current_password").await;
    assert_eq!(
        text_of(&browser, ".error-summary li").await,
        "Current password is not your current password"
    );
    // Pages without errors keep their plain title.
    browser.goto(&app.url("/account/password")).await.unwrap();
    assert_eq!(title(&browser).await, "Change your password · useradmin");

    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}

/// Presses Tab until the focused element matches `css`; how many presses it took.
async fn tabs_to(browser: &Client, css: &str) -> u32 {
    for tabs in 1..=80 {
        press(browser, Key::Tab).await;
        let there = browser
            .execute(
                "return document.activeElement.matches(arguments[0])",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if there == json!(true) {
            return tabs;
        }
    }
    panic!("80 Tabs never reached {css} on {}", at(browser).await);
}

async fn checked_rows(browser: &Client) -> Value {
    browser
        .execute(
            "return [...document.querySelectorAll('td.select input[type=checkbox]')].map((c) => c.checked)",
            vec![],
        )
        .await
        .unwrap()
}

/// The keyboard's way through the users list: the first row is a few Tabs away,
/// "Select all on this page" ticks every row with Space, and the next Tab is the
/// bulk action; the filters' summary and the date fields show their focus ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_selects_all_rows_and_reaches_the_bulk_action_next() {
    let app: TestApp = spawn_app().await;
    app.seed_users(3).await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    log_in(&browser, &app).await;

    browser.goto(&app.url("/users")).await.unwrap();
    let tabs = tabs_to(&browser, "td.select input[type=checkbox]").await;
    eprintln!("Tabs from page load to the first row's checkbox: {tabs}");
    // 38 before the filters folded away (a date field takes three Tabs); the
    // second skip link (below) is the short way.
    assert!(tabs <= 28, "{tabs} Tabs to the first row's checkbox");

    browser.goto(&app.url("/users")).await.unwrap();
    let tabs = tabs_to(&browser, "#select-all").await;
    eprintln!("Tabs from page load to Select all: {tabs}");
    assert!(tabs <= 24, "{tabs} Tabs to Select all");
    assert_eq!(assert_focus_ring(&browser).await, "input#select-all");
    let select_all = browser.active_element().await.unwrap();
    assert_eq!(
        accessible_name(&browser, &select_all).await,
        "Select all 4 users on this page"
    );
    assert_eq!(
        checked_rows(&browser).await,
        json!([false, false, false, false])
    );
    press(&browser, Key::Space).await;
    assert_eq!(
        checked_rows(&browser).await,
        json!([true, true, true, true])
    );
    save_screenshots(&browser, "users-all-selected").await;
    // The second skip link: two Tabs and Enter reach the list, one more Tab
    // Select all.
    browser.goto(&app.url("/users")).await.unwrap();
    press(&browser, Key::Tab).await;
    press(&browser, Key::Tab).await;
    let skip = browser.active_element().await.unwrap();
    assert_eq!(skip.text().await.unwrap(), "Skip to the user list");
    assert_eq!(assert_focus_ring(&browser).await, "a.skip-link");
    press(&browser, Key::Enter).await;
    press(&browser, Key::Tab).await;
    assert_eq!(
        assert_focus_ring(&browser).await,
        "input#select-all",
        "Tab after the skip link"
    );
    press(&browser, Key::Tab).await;
    assert_eq!(
        assert_focus_ring(&browser).await,
        "select#bulk-action",
        "the bulk action is the next stop"
    );
    // Unticking one row leaves Select all half ticked; Space again clears all.
    browser
        .find(Locator::Css("td.select input[type=checkbox]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let state = browser
        .execute(
            "const c = document.getElementById('select-all'); return [c.checked, c.indeterminate]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(state, json!([false, true]));

    // The filters fold away behind a summary whose focus ring shows; the date
    // fields show theirs.
    browser.goto(&app.url("/users")).await.unwrap();
    tabs_to(&browser, "form.list-filters summary").await;
    assert_eq!(assert_focus_ring(&browser).await, "summary");
    press(&browser, Key::Enter).await;
    for date in ["#created_after", "#created_before", "#last_login_before"] {
        tabs_to(&browser, date).await;
        // Month, day and year: three Tabs, the ring on each.
        for _ in 0..2 {
            assert_eq!(assert_focus_ring(&browser).await, format!("input{date}"));
            press(&browser, Key::Tab).await;
        }
        assert_eq!(assert_focus_ring(&browser).await, format!("input{date}"));
    }
    save_screenshots(&browser, "users-date-focused").await;

    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}

/// Nothing is a link dressed up as a button (a link ignores Space): what looks
/// like a button is one, what leads to a page is a plain link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_link_pretends_to_be_a_button() {
    let app: TestApp = spawn_app().await;
    let user = app.create_user("Mary Jackson", "mary@example.com").await;
    let disabled = app.create_user("Annie Easley", "annie@example.com").await;
    let response = app
        .api
        .post(app.url(&format!("/users/{}/disable", disabled["id"])))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    log_in(&browser, &app).await;
    for path in [
        "/users".to_owned(),
        format!("/users/{}", user["id"]),
        format!("/users/{}", disabled["id"]),
    ] {
        browser.goto(&app.url(&path)).await.unwrap();
        let fakes = browser
            .execute(
                "return [...document.querySelectorAll('a[role=button], [role=button]:not(button)')] \
                 .map((a) => a.outerHTML)",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fakes, json!([]), "links styled as buttons on {path}");
    }
    // The user's Edit is a link a keyboard follows with Enter.
    browser
        .goto(&app.url(&format!("/users/{}", user["id"])))
        .await
        .unwrap();
    tabs_to(&browser, "main a[href$='/edit']").await;
    assert_focus_ring(&browser).await;
    save_screenshots(&browser, "user-detail-actions").await;
    let old_root = browser.find(Locator::Css("html")).await.unwrap();
    press(&browser, Key::Enter).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while old_root.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "Enter loaded no page");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(at(&browser).await, format!("/users/{}/edit", user["id"]));

    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
