//! Every page, in every state a form can be in, through axe-core.

use super::*;

use crate::helpers::spawn_app;

/// Every page, in every state a form can be in, through axe-core in light and dark
/// mode at 375 and 1440 px, with the layout fixes measured where they show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_in_light_and_dark_mode_on_a_phone_and_a_desktop() {
    let app: TestApp = spawn_app().await;
    app.seed_users(3).await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();

    browser.goto(&app.url("/login")).await.unwrap();
    check_page(&browser, "login", &mut problems).await;
    fill(&browser, "#email", ADMIN_EMAIL).await;
    fill(&browser, "#password", "not the password").await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    check_page(&browser, "login-error", &mut problems).await;
    fill(&browser, "#password", ADMIN_PASSWORD).await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    // With the "Welcome" flash.
    check_page(&browser, "users", &mut problems).await;

    browser.goto(&app.url("/users/new")).await.unwrap();
    check_page(&browser, "user-new", &mut problems).await;
    click(&browser, "form[action='/users'] button[type=submit]").await;
    assert!(title(&browser).await.starts_with("Error: "));
    check_page(&browser, "user-new-error", &mut problems).await;
    fill(&browser, "#name", "Katherine Coleman Goble Johnson").await;
    fill(
        &browser,
        "#email",
        "katherine.coleman.goble.johnson@langley.example.com",
    )
    .await;
    click(&browser, "form[action='/users'] button[type=submit]").await;
    // With the "Created" flash.
    check_page(&browser, "user-detail", &mut problems).await;
    let detail = at(&browser).await;

    browser
        .goto(&app.url(&format!("{detail}/edit")))
        .await
        .unwrap();
    check_page(&browser, "user-edit", &mut problems).await;
    fill(&browser, "#email", "not an email").await;
    click(&browser, "main form button[type=submit]").await;
    assert!(title(&browser).await.starts_with("Error: "));
    check_page(&browser, "user-edit-error", &mut problems).await;

    browser
        .goto(&app.url(&format!("{detail}/delete")))
        .await
        .unwrap();
    check_page(&browser, "user-delete", &mut problems).await;

    browser.goto(&app.url("/users?sort=name")).await.unwrap();
    check_page(&browser, "users-sorted", &mut problems).await;

    // An account's life: the disable confirmation, the list filtered (and
    // filtered down to nothing), a bulk confirmation, the "Disabled" badges,
    // the deleted users.
    browser
        .goto(&app.url(&format!("{detail}/disable")))
        .await
        .unwrap();
    check_page(&browser, "user-disable", &mut problems).await;
    browser
        .goto(&app.url(
            "/users?status=active&is_admin=false&created_after=2000-01-01&last_login_before=2999-01-01",
        ))
        .await
        .unwrap();
    check_page(&browser, "users-filtered", &mut problems).await;
    browser
        .goto(&app.url("/users?created_after=2999-01-01"))
        .await
        .unwrap();
    check_page(&browser, "users-filtered-none", &mut problems).await;
    // The first three users who are not admins (the seeded ones).
    browser
        .goto(&app.url("/users?is_admin=false"))
        .await
        .unwrap();
    let boxes = browser
        .find_all(Locator::Css("tbody input[name=id]"))
        .await
        .unwrap();
    for checkbox in &boxes[..3] {
        checkbox.click().await.unwrap();
    }
    browser
        .find(Locator::Css("#bulk-action"))
        .await
        .unwrap()
        .select_by_value("disable")
        .await
        .unwrap();
    fill(&browser, "#bulk-reason", "Contract ended").await;
    click(&browser, "form#bulk button[type=submit]").await;
    assert_eq!(text_of(&browser, "main h1").await, "Disable 3 users?");
    check_page(&browser, "users-bulk-confirm", &mut problems).await;
    click(&browser, "main form button[type=submit]").await;
    assert_eq!(at(&browser).await, "/users");
    // With the flash and three badges.
    check_page(&browser, "users-disabled", &mut problems).await;
    let gone = app.create_user("Mary Jackson", "mary@example.com").await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{}", gone["id"])))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    browser.goto(&app.url("/users/deleted")).await.unwrap();
    check_page(&browser, "users-deleted", &mut problems).await;
    browser
        .goto(&app.url("/users/deleted?q=nobody"))
        .await
        .unwrap();
    check_page(&browser, "users-deleted-none", &mut problems).await;

    // The audit trail and one user's history (screenshots at both widths).
    browser.goto(&app.url("/audit")).await.unwrap();
    let trail = browser.source().await.unwrap();
    assert!(
        trail.contains("user.created"),
        "the trail shows the creation"
    );
    check_page(&browser, "audit", &mut problems).await;
    browser
        .goto(&app.url("/audit?action=user.&since=yesterday"))
        .await
        .unwrap();
    assert!(title(&browser).await.starts_with("Error: "));
    check_page(&browser, "audit-error", &mut problems).await;
    browser
        .goto(&app.url(&format!("{detail}/history")))
        .await
        .unwrap();
    let history = browser.source().await.unwrap();
    assert!(history.contains("Katherine Coleman Goble Johnson"));
    check_page(&browser, "user-history", &mut problems).await;

    browser.goto(&app.url("/tokens")).await.unwrap();
    check_page(&browser, "tokens-none", &mut problems).await;
    // Blank (spaces pass the browser's own check of `required`).
    fill(&browser, "#label", "   ").await;
    click(&browser, "form[action='/tokens'] button[type=submit]").await;
    assert!(title(&browser).await.starts_with("Error: "));
    check_page(&browser, "tokens-error", &mut problems).await;
    fill(&browser, "#label", "nightly backup of the user directory").await;
    click(&browser, "form[action='/tokens'] button[type=submit]").await;
    check_page(&browser, "tokens-new", &mut problems).await;
    // On a phone, the whole token shows (and, as check_page measured, the page
    // does not scroll sideways).
    emulate(&browser, PHONE, Scheme::Light).await;
    let token = browser
        .find(Locator::Css("textarea#new-token"))
        .await
        .unwrap();
    let value = token.prop("value").await.unwrap().unwrap_or_default();
    assert!(value.starts_with("ua_") && value.len() == 46, "{value}");
    let fits = browser
        .execute(
            "const t = document.getElementById('new-token'); \
             return [t.scrollWidth <= t.clientWidth, t.scrollHeight <= t.clientHeight + 1, \
                     document.activeElement === t]",
            vec![],
        )
        .await
        .unwrap();
    if fits != json!([true, true, true]) {
        problems.push(format!(
            "tokens-new at {PHONE} px: the token does not all show, focused: {fits}"
        ));
    }
    emulate(&browser, DESKTOP, Scheme::Light).await;
    browser.goto(&app.url("/tokens")).await.unwrap();
    check_page(&browser, "tokens", &mut problems).await;

    browser.goto(&app.url("/account/password")).await.unwrap();
    check_page(&browser, "password", &mut problems).await;
    fill(&browser, "#current_password", "not it").await;
    fill(&browser, "#new_password", "a new password").await;
    fill(&browser, "#confirm_password", "another new password").await;
    click(
        &browser,
        "form[action='/account/password'] button[type=submit]",
    )
    .await;
    assert!(title(&browser).await.starts_with("Error: "));
    check_page(&browser, "password-error", &mut problems).await;

    browser.goto(&app.url("/users/987654")).await.unwrap();
    check_page(&browser, "error-404", &mut problems).await;

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
