//! Groups in the browser: created from the list, a member added by email
//! (an unknown email refused first), listed, removed; both pages through
//! axe-core.

use super::*;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_a_group_and_adds_and_removes_a_member() {
    let app: TestApp = spawn_app().await;
    app.create_user("Grace Hopper", "grace@example.com").await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    // The nav leads to the list, empty so far, with the create form.
    click(&browser, "header nav a[href='/groups']").await;
    assert_eq!(at(&browser).await, "/groups");
    assert_eq!(title(&browser).await, "Groups · useradmin");
    assert_eq!(text_of(&browser, "main h1").await, "Groups");
    assert_eq!(text_of(&browser, "main .empty").await, "No groups yet.");
    let name = browser.find(Locator::Css("input#name")).await.unwrap();
    assert_eq!(accessible_name(&browser, &name).await, "Name");
    check_page(&browser, "groups-none", &mut problems).await;

    // Create one, giving it the viewer role.
    fill(&browser, "#name", "Night shift").await;
    fill(&browser, "#description", "Who answers at night").await;
    browser
        .find(Locator::Css("input[name=roles][value='viewer']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(
        &browser,
        "form[action='/groups'][method=post] button[type=submit]",
    )
    .await;
    assert!(
        at(&browser).await.starts_with("/groups/"),
        "the new group's page"
    );
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Created the group Night shift."
    );
    assert_eq!(text_of(&browser, "main h1").await, "Night shift");
    assert_eq!(text_of(&browser, "#group-roles").await, "viewer");
    assert_eq!(
        text_of(&browser, ".members .empty").await,
        "No members yet."
    );
    let group_page = at(&browser).await;

    // An email that names nobody: refused, nobody added, the box kept.
    fill(&browser, "#emails", "nobody@example.com").await;
    click(&browser, "form.add-members button[type=submit]").await;
    assert!(
        text_of(&browser, "#emails-error")
            .await
            .contains("nobody@example.com"),
        "the unknown email is named"
    );
    assert_error_summary(&browser, "emails").await;
    let typed = browser.find(Locator::Css("textarea#emails")).await.unwrap();
    assert_eq!(
        typed.prop("value").await.unwrap().as_deref(),
        Some("nobody@example.com")
    );
    assert_eq!(
        text_of(&browser, ".members .empty").await,
        "No members yet."
    );

    // Add Grace by her email: listed.
    fill(&browser, "#emails", "GRACE@example.com\n").await;
    click(&browser, "form.add-members button[type=submit]").await;
    assert_eq!(at(&browser).await, group_page);
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Added 1 member to Night shift."
    );
    assert_eq!(
        table_rows(&browser, "table.members").await,
        [cells(&[
            "Grace Hopper",
            "grace@example.com",
            "Active",
            "Remove Grace Hopper"
        ])]
    );
    check_page(&browser, "group", &mut problems).await;

    // The list shows the group with its member.
    browser.goto(&app.url("/groups?q=NIGHT")).await.unwrap();
    assert_eq!(
        table_rows(&browser, "table.groups").await,
        [cells(&["Night shiftWho answers at night", "viewer", "1"])]
    );
    assert_eq!(
        text_of(&browser, "table.groups .group-description").await,
        "Who answers at night"
    );
    check_page(&browser, "groups", &mut problems).await;

    // Remove her.
    browser.goto(&app.url(&group_page)).await.unwrap();
    click(&browser, "table.members form button[type=submit]").await;
    assert_eq!(at(&browser).await, group_page);
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Removed Grace Hopper from Night shift."
    );
    assert_eq!(
        text_of(&browser, ".members .empty").await,
        "No members yet."
    );

    // Delete the group.
    click(&browser, ".delete-group button[type=submit]").await;
    assert_eq!(at(&browser).await, "/groups");
    assert_eq!(
        text_of(&browser, ".flash").await,
        "Deleted the group Night shift."
    );
    assert_no_problems(&problems);
}
