//! Destructive actions confirmed on a page naming the thing, outcomes announced
//! in the title, and error pages in the logged-in layout that say what went
//! wrong in sentences.

use super::*;

use crate::helpers::spawn_app;

/// Whether the page has the logged-in navigation.
async fn has_navigation(browser: &Client) -> bool {
    !browser
        .find_all(Locator::Css(
            "header nav a[href='/users'], header nav a[href='/tokens']",
        ))
        .await
        .unwrap()
        .is_empty()
        && !browser
            .find_all(Locator::Css("header form[action='/logout']"))
            .await
            .unwrap()
            .is_empty()
}

async fn has_link(browser: &Client, css: &str) -> bool {
    !browser
        .find_all(Locator::Css(css))
        .await
        .unwrap()
        .is_empty()
}

/// Token Revoke and Reset two-factor login: a GET page that names the token or
/// the user and says what follows, Cancel, then the POST with its outcome in
/// the title. Every page through axe-core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_and_resetting_two_factor_login_ask_first() {
    let app: TestApp = spawn_app().await;
    app.token_for(app.admin_id, "deploy script").await;
    let (_, tokens) = app.get_json("/tokens").await;
    let token_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "deploy script")
        .and_then(|t| t["id"].as_i64())
        .unwrap();
    let grace = app.create_user("Grace Hopper", "grace@example.com").await["id"]
        .as_i64()
        .unwrap();
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;
    // The login's flash is in the title, read first on the new page.
    assert_eq!(
        title(&browser).await,
        "Welcome, Administrator · Users · useradmin"
    );

    // Revoke: a link to a page naming the token, not an instant POST.
    browser.goto(&app.url("/tokens")).await.unwrap();
    let revoke = format!("/tokens/{token_id}/revoke");
    click(&browser, &format!("main a[href='{revoke}']")).await;
    assert_eq!(at(&browser).await, revoke);
    assert_eq!(
        text_of(&browser, "main h1").await,
        "Revoke the token “deploy script”?"
    );
    assert_eq!(
        title(&browser).await,
        "Revoke token deploy script · useradmin"
    );
    check_page(&browser, "token-revoke-confirm", &mut problems).await;
    click(&browser, "main article a[href='/tokens']").await;
    assert_eq!(at(&browser).await, "/tokens", "Cancel leads back");
    let (_, tokens) = app.get_json("/tokens").await;
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["revoked_at"].is_null()),
        "nothing revoked on the way"
    );
    click(&browser, &format!("main a[href='{revoke}']")).await;
    click(
        &browser,
        &format!("main form[action='{revoke}'] button[type=submit]"),
    )
    .await;
    assert_eq!(at(&browser).await, "/tokens");
    assert_eq!(
        text_of(&browser, ".flash").await,
        format!("Token {token_id} revoked.")
    );
    assert_eq!(
        title(&browser).await,
        format!("Token {token_id} revoked · API tokens · useradmin")
    );

    // Reset two-factor login: the page names the user.
    let reset = format!("/users/{grace}/2fa/reset");
    browser.goto(&app.url(&reset)).await.unwrap();
    assert_eq!(
        text_of(&browser, "main h1").await,
        "Reset the two-factor login of Grace Hopper?"
    );
    assert!(
        text_of(&browser, "main article p")
            .await
            .starts_with("Grace Hopper (grace@example.com) then logs in with the password alone"),
        "{}",
        text_of(&browser, "main article p").await
    );
    check_page(&browser, "two-factor-reset-confirm", &mut problems).await;
    click(
        &browser,
        &format!("main form[action='{reset}'] button[type=submit]"),
    )
    .await;
    assert_eq!(at(&browser).await, format!("/users/{grace}"));
    assert_eq!(
        title(&browser).await,
        "This user had no two-factor login · Grace Hopper · useradmin"
    );
    // One's own is turned off on the account page: no confirmation for it.
    browser
        .goto(&app.url(&format!("/users/{}/2fa/reset", app.admin_id)))
        .await
        .unwrap();
    assert!(text_of(&browser, "main h1").await.starts_with("409"));

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}

/// Error pages keep the navigation of a logged-in admin and speak in
/// sentences; a 409 names the user who holds the email and links to them;
/// a bulk action with nobody ticked stays on the list with a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_pages_keep_the_navigation_and_say_what_conflicts() {
    let app: TestApp = spawn_app().await;
    let ann = app.create_user("Ann Smith", "ann@example.com").await["id"]
        .as_i64()
        .unwrap();
    let deleted = app
        .api
        .delete(app.url(&format!("/users/{ann}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let holder = app.create_user("Ann Other", "ANN@example.com").await["id"]
        .as_i64()
        .unwrap();
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    // An unknown user: the 404 page, with the navigation, in a sentence.
    browser.goto(&app.url("/users/999999")).await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "404 · Not Found");
    assert!(
        has_navigation(&browser).await,
        "the 404 page has the navigation"
    );
    assert_eq!(
        text_of(&browser, "main article p").await,
        "There is nothing at this address: it was deleted, or the link is wrong."
    );
    check_page(&browser, "error-404", &mut problems).await;

    // Restoring Ann, whose email Ann Other has now: a 409 that says so.
    browser.goto(&app.url("/users/deleted")).await.unwrap();
    click(
        &browser,
        &format!("form[action='/users/{ann}/restore'] button[type=submit]"),
    )
    .await;
    assert_eq!(text_of(&browser, "main h1").await, "409 · Conflict");
    assert!(
        has_navigation(&browser).await,
        "the 409 page has the navigation"
    );
    assert_eq!(
        text_of(&browser, "main article p").await,
        "Another user, Ann Other, already has this email (ANN@example.com). \
         Change that user's email first, then restore Ann Smith."
    );
    let link = browser
        .find(Locator::Css(&format!(
            "main article a[href='/users/{holder}']"
        )))
        .await
        .expect("a link to the user who holds the email");
    assert_eq!(link.text().await.unwrap(), "Go to Ann Other");
    check_page(&browser, "error-409", &mut problems).await;
    link.click().await.unwrap();
    assert_eq!(at(&browser).await, format!("/users/{holder}"));

    // A new user with that email: the form names and links the user who has it.
    browser.goto(&app.url("/users/new")).await.unwrap();
    fill(&browser, "#name", "Ann Third").await;
    fill(&browser, "#email", "ann@example.com").await;
    click(&browser, "form[action='/users'] button[type=submit]").await;
    assert_error_summary(&browser, "email").await;
    assert_eq!(
        text_of(&browser, "#email-holder").await,
        "Another user, Ann Other, already has this email."
    );
    let email = browser.find(Locator::Css("input#email")).await.unwrap();
    assert_eq!(
        email.attr("aria-describedby").await.unwrap().as_deref(),
        Some("email-error email-holder")
    );
    assert!(
        has_link(
            &browser,
            &format!("#email-holder a[href='/users/{holder}']")
        )
        .await
    );
    check_page(&browser, "user-new-email-taken", &mut problems).await;

    // Bulk with nobody ticked: the list again, saying so.
    browser.goto(&app.url("/users")).await.unwrap();
    browser
        .find(Locator::Css("form#bulk select[name=action]"))
        .await
        .unwrap()
        .select_by_value("disable")
        .await
        .unwrap();
    click(&browser, "form#bulk button[type=submit]").await;
    assert_eq!(at(&browser).await, "/users");
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Nothing was changed: choose at least one user."
    );
    assert!(
        title(&browser)
            .await
            .starts_with("Nothing was changed: choose at least one user · "),
        "{}",
        title(&browser).await
    );
    check_page(&browser, "bulk-nothing-chosen", &mut problems).await;

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
