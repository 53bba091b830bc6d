//! End to end in a real headless Chromium (Debian's chromium + chromium-driver),
//! driven over WebDriver: what an admin does, with JavaScript never needed.

use std::{
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, closed_port, spawn_app};

/// A chromedriver of this test's own, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        let port = closed_port();
        // A process group of its own, so dropping the driver also ends the
        // Chromium it started, even when a test fails before closing it.
        let child = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed for the browser tests: apt-get install chromium chromium-driver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    async fn browser(&self, profile: &std::path::Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1440,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn screenshots_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save_screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(browser: &Client, css: &str) -> String {
    match browser.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap(),
        Err(e) => panic!(
            "no {css} on {}: {e}\n{}",
            at(browser).await,
            browser.source().await.unwrap_or_default()
        ),
    }
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks something that loads a new page, and waits until the new page is there
/// (the old document's root element has gone stale).
async fn click(browser: &Client, css: &str) {
    let old_root = browser.find(Locator::Css("html")).await.unwrap();
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while old_root.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "clicking {css} loaded no page");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    browser
        .wait()
        .for_element(Locator::Css("body"))
        .await
        .unwrap();
}

fn path_of(url: &url::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn at(browser: &Client) -> String {
    path_of(&browser.current_url().await.unwrap())
}

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
        text_of(&browser, "p.error").await,
        "Email or password is incorrect."
    );
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
    browser.set_window_size(1440, 1000).await.unwrap();
    save_screenshot(&browser, "users-list-1440").await;
    browser.set_window_size(360, 800).await.unwrap();
    save_screenshot(&browser, "users-list-360").await;
    browser.set_window_size(1440, 1000).await.unwrap();

    // Edit it, then hit a validation error.
    click(&browser, "tbody tr td.actions a[href$='/edit']").await;
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
        "Deleted Katherine G. Johnson (katherine@example.com)."
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
