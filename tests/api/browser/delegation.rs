//! Pages that show only what the viewer may do (SPEC §14): a viewer's lists
//! and user pages without actions, the 403 page with the navigation, and an
//! admin's view of where a user's permissions come from. Every page through
//! axe-core.

use super::*;

use crate::delegation::{PASSWORD, user_with_roles};
use crate::helpers::spawn_app;

/// Whether the page has an element matching `css`.
async fn has(browser: &Client, css: &str) -> bool {
    browser.find(Locator::Css(css)).await.is_ok()
}

async fn log_in_as(browser: &Client, app: &TestApp, email: &str) {
    browser.goto(&app.url("/login")).await.unwrap();
    fill(browser, "#email", email).await;
    fill(browser, "#password", PASSWORD).await;
    click(browser, "form[action='/login'] button[type=submit]").await;
    assert_eq!(at(browser).await, "/users");
}

/// The main navigation's link texts.
async fn nav_links(browser: &Client) -> Vec<String> {
    let links = browser
        .execute(
            "return [...document.querySelectorAll('header nav a')] \
             .map((a) => a.textContent.trim())",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(links).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_actions_and_a_refusal_keeps_the_navigation() {
    let app = spawn_app().await;
    user_with_roles(&app, "Vera Viewer", "vera@example.com", &["viewer"]).await;
    let support = app.create_user("Sam Support", "sam@example.com").await["id"]
        .as_i64()
        .unwrap();
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in_as(&browser, &app, "vera@example.com").await;

    // The list: reading only.
    assert_eq!(
        nav_links(&browser).await,
        [
            "useradmin",
            "Users",
            "Groups",
            "Roles",
            "Audit",
            "Account: Vera Viewer"
        ]
    );
    for css in [
        "a[href='/users/new']",
        "a[href='/users/import']",
        "form#bulk",
        "input[name=id]",
        "a[href$='/edit']",
        "a[href$='/delete']",
    ] {
        assert!(!has(&browser, css).await, "the viewer's list has no {css}");
    }
    assert!(has(&browser, "select#group").await && has(&browser, "select#role").await);
    check_page(&browser, "viewer-users", &mut problems).await;

    // A user's page: no Edit, Disable or Delete.
    browser
        .goto(&app.url(&format!("/users/{support}")))
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "Sam Support");
    for css in [
        "a[href$='/edit']",
        "a[href$='/delete']",
        "a[href$='/disable']",
        "form[action$='/enable']",
        "a[href$='/2fa/reset']",
    ] {
        assert!(
            !has(&browser, css).await,
            "the viewer's user page has no {css}"
        );
    }
    check_page(&browser, "viewer-user", &mut problems).await;

    // What it may not open: the 403 page, in the logged-in layout.
    browser.goto(&app.url("/webhooks")).await.unwrap();
    assert_eq!(title(&browser).await, "Forbidden · useradmin");
    assert_eq!(text_of(&browser, "main h1").await, "403 · Forbidden");
    assert!(
        text_of(&browser, "main article")
            .await
            .contains("You need the permission webhooks.manage to do this."),
    );
    assert_eq!(
        nav_links(&browser).await,
        [
            "useradmin",
            "Users",
            "Groups",
            "Roles",
            "Audit",
            "Account: Vera Viewer"
        ]
    );
    check_page(&browser, "forbidden", &mut problems).await;

    // The nav's log-out button works from there (the page has the session's token).
    click(&browser, "header form[action='/logout'] button").await;
    assert_eq!(at(&browser).await, "/login");
    browser.close().await.unwrap();
    assert_no_problems(&problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_a_users_roles_groups_and_where_each_permission_comes_from() {
    let app = spawn_app().await;
    let helper = user_with_roles(&app, "Hal Helper", "hal@example.com", &["viewer"]).await;
    let writer = &app.state.writer;
    let actor = useradmin::write::Actor::cli("tests");
    let group = writer
        .create_group_holding(
            &actor,
            useradmin::domain::PermissionSet::EMPTY,
            &useradmin::domain::GroupFields {
                name: Some(useradmin::domain::GroupName::parse("Support").unwrap()),
                roles: Some(vec![
                    useradmin::domain::RoleName::parse("helpdesk").unwrap(),
                ]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let members = useradmin::write::MemberChanges {
        add: vec![helper],
        ..Default::default()
    };
    writer
        .change_members_holding(
            &actor,
            useradmin::domain::PermissionSet::EMPTY,
            group.id,
            &members,
        )
        .await
        .unwrap();
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    browser
        .goto(&app.url(&format!("/users/{helper}")))
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "dd.roles").await, "viewer");
    assert_eq!(text_of(&browser, "dd.groups").await, "Support");
    let permissions = text_of(&browser, "section.permissions").await;
    assert!(
        permissions.contains("users.read — helpdesk, through the group Support; viewer (direct)"),
        "{permissions}"
    );
    assert!(permissions.contains("credentials.reset — helpdesk, through the group Support"));
    for css in [
        "a[href$='/edit']",
        "a[href$='/delete']",
        "a[href$='/disable']",
    ] {
        assert!(has(&browser, css).await, "the admin has {css}");
    }
    check_page(&browser, "user-permissions", &mut problems).await;

    // The edit form offers the roles; ticking one grants it.
    click(&browser, "a[href$='/edit']").await;
    let offered = browser
        .execute(
            "return [...document.querySelectorAll('input[name=roles][type=checkbox]')] \
             .map((box) => box.value + (box.checked ? ':on' : ':off'))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(offered, json!(["helpdesk:off", "viewer:on"]));
    check_page(&browser, "user-form-roles", &mut problems).await;
    for role in ["helpdesk", "viewer"] {
        let tick = format!("input[name=roles][value={role}]");
        browser
            .find(Locator::Css(&tick))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    click(&browser, "main form button[type=submit]").await;
    assert_eq!(at(&browser).await, format!("/users/{helper}"));
    assert_eq!(text_of(&browser, "dd.roles").await, "helpdesk");

    // The list filters by role, direct or through a group, kept in its links.
    browser
        .goto(&app.url("/users?role=helpdesk"))
        .await
        .unwrap();
    let emails = browser
        .execute(
            "return [...document.querySelectorAll('table.users td.email')].map((td) => td.textContent.trim())",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(emails, json!(["hal@example.com"]));
    check_page(&browser, "users-by-role", &mut problems).await;
    browser.close().await.unwrap();
    assert_no_problems(&problems);
}
