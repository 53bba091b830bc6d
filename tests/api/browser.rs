//! End to end in a real headless Chromium (Debian's chromium + chromium-driver),
//! driven over WebDriver: what an admin does, with JavaScript never needed; what
//! keyboard and screen reader users get; and every page checked with axe-core, in
//! light and dark mode, on a phone (375 px) and a desktop (1440 px).

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::http::Method;
use fantoccini::{
    Client, ClientBuilder, Locator,
    actions::{InputSource, KeyAction, KeyActions},
    elements::Element,
    key::Key,
    wd::WebDriverCompatibleCommand,
};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Options, TestApp, closed_port, spawn_app, spawn_app_with,
};

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

/// A Chrome DevTools Protocol command, through chromedriver's own endpoint for it.
#[derive(Debug)]
struct Cdp(Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(self.0.to_string()))
    }
}

async fn cdp(browser: &Client, cmd: &str, params: Value) {
    browser
        .issue_cmd(Cdp(json!({ "cmd": cmd, "params": params })))
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
}

/// WebDriver's Get Computed Label: the accessible name Chromium gives an element,
/// as a screen reader reads it.
#[derive(Debug)]
struct ComputedLabel(String);

impl WebDriverCompatibleCommand for ComputedLabel {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/element/{}/computedlabel",
            session_id.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::GET, None)
    }
}

async fn accessible_name(browser: &Client, element: &Element) -> String {
    let name = browser
        .issue_cmd(ComputedLabel(element.element_id().to_string()))
        .await
        .unwrap();
    name.as_str().unwrap_or_default().to_owned()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Light,
    Dark,
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Light => "light",
            Self::Dark => "dark",
        })
    }
}

const PHONE: u32 = 375;
const DESKTOP: u32 = 1440;

/// Shows the page as on a phone (a 375 px mobile viewport, which honours the
/// viewport meta tag) or a desktop, in light or dark mode (`prefers-color-scheme`),
/// with reduced motion so that no colour is caught halfway through a transition.
/// It holds across page loads until changed.
async fn emulate(browser: &Client, width: u32, scheme: Scheme) {
    let phone = width < 600;
    cdp(
        browser,
        "Emulation.setDeviceMetricsOverride",
        json!({
            "width": width, "height": if phone { 800 } else { 1000 },
            "deviceScaleFactor": 1, "mobile": phone,
        }),
    )
    .await;
    cdp(
        browser,
        "Emulation.setEmulatedMedia",
        json!({ "features": [
            { "name": "prefers-color-scheme", "value": scheme.to_string() },
            { "name": "prefers-reduced-motion", "value": "reduce" },
        ] }),
    )
    .await;
    let seen = browser
        .execute(
            "return [window.innerWidth, \
             matchMedia('(prefers-color-scheme: dark)').matches]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        seen,
        json!([width, scheme == Scheme::Dark]),
        "the emulated viewport width and colour scheme"
    );
}

/// axe-core's browser build, installed by scripts/test (npm, into target/axe).
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/axe/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is needed at {}: {e}\n\
                 scripts/test installs it: npm install --prefix target/axe axe-core@4.14",
                path.display()
            )
        })
    })
}

const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] }).then(
  (results) => done({
    version: axe.version,
    violations: results.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html, summary: n.failureSummary || '' })),
    })),
  }),
  (error) => done({ error: String(error) }),
);
"#;

/// axe-core's violations (every rule it runs by default, any impact) on the page as
/// it is now, one entry per rule with the failing elements.
async fn axe_violations(browser: &Client) -> Vec<String> {
    // Injected through WebDriver, so the page's Content-Security-Policy (no
    // inline script) does not apply to it.
    let present = browser
        .execute("return typeof window.axe === 'object'", vec![])
        .await
        .unwrap();
    if present != json!(true) {
        browser
            .execute(&format!("{}\nreturn true;", axe_source()), vec![])
            .await
            .unwrap();
    }
    let result = browser.execute_async(AXE_RUN, vec![]).await.unwrap();
    assert!(result["error"].is_null(), "axe-core failed: {result}");
    let version = result["version"].as_str().unwrap_or_default();
    assert!(version.starts_with("4.14."), "axe-core 4.14, not {version}");
    result["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let mut line = format!("[{}] {}: {}", v["impact"], v["id"], v["help"]);
            for node in v["nodes"].as_array().unwrap() {
                let summary = node["summary"].as_str().unwrap_or_default();
                line.push_str(&format!(
                    "\n      {} {}\n        {}",
                    node["target"].as_str().unwrap_or_default(),
                    node["html"].as_str().unwrap_or_default(),
                    summary.replace('\n', "\n        ")
                ));
            }
            line
        })
        .collect()
}

async fn number(browser: &Client, script: &str) -> f64 {
    let value = browser.execute(script, vec![]).await.unwrap();
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{script} gave {value}"))
}

/// What every page gets, at both widths and in both colour schemes: axe-core, no
/// sideways scrolling, and a screenshot in target/screenshots/ to look at.
/// Problems are collected, so that one run reports all of them.
async fn check_page(browser: &Client, name: &str, problems: &mut Vec<String>) {
    for (width, scheme) in [
        (DESKTOP, Scheme::Light),
        (DESKTOP, Scheme::Dark),
        (PHONE, Scheme::Light),
        (PHONE, Scheme::Dark),
    ] {
        emulate(browser, width, scheme).await;
        let place = format!("{name} ({}) at {width} px, {scheme}", at(browser).await);
        for violation in axe_violations(browser).await {
            problems.push(format!("{place}: {violation}"));
        }
        let wide = number(browser, "return document.documentElement.scrollWidth").await;
        if wide > f64::from(width) {
            problems.push(format!(
                "{place}: the page is {wide} px wide and scrolls sideways"
            ));
        }
        if width == PHONE {
            // Tables scroll in a box of their own; on a phone they must fit it.
            let cut = browser
                .execute(
                    "return [...document.querySelectorAll('.overflow-auto')] \
                     .filter((box) => box.scrollWidth > box.clientWidth) \
                     .map((box) => `${box.scrollWidth} px in ${box.clientWidth} px`)",
                    vec![],
                )
                .await
                .unwrap();
            if cut != json!([]) {
                problems.push(format!(
                    "{place}: a table is cut off in its scroll box: {cut}"
                ));
            }
        }
        save_screenshot(browser, &format!("{name}-{width}-{scheme}")).await;
    }
    emulate(browser, DESKTOP, Scheme::Light).await;
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} accessibility problems:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

async fn title(browser: &Client) -> String {
    browser.title().await.unwrap()
}

/// A refused form: an error summary, announced (role=alert) and focused, whose
/// links lead to the fields, and a title that starts with "Error:".
async fn assert_error_summary(browser: &Client, first_field: &str) {
    let title = title(browser).await;
    assert!(title.starts_with("Error: "), "the title says so: {title}");
    let summary = browser
        .find(Locator::Css(".error-summary"))
        .await
        .unwrap_or_else(|_| panic!("an error summary on {title}"));
    assert_eq!(
        summary.attr("role").await.unwrap().as_deref(),
        Some("alert")
    );
    let focused = browser.active_element().await.unwrap();
    assert_eq!(
        focused.attr("class").await.unwrap().as_deref(),
        Some("error-summary"),
        "the summary has the focus"
    );
    let link = summary.find(Locator::Css("a")).await.unwrap();
    assert_eq!(
        link.attr("href").await.unwrap(),
        Some(format!("#{first_field}"))
    );
    link.click().await.unwrap();
    let focused = browser.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some(first_field),
        "the summary's link leads to the field"
    );
}

async fn press(browser: &Client, key: Key) {
    let key = char::from(key);
    browser
        .perform_actions(
            KeyActions::new("keyboard".into())
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key }),
        )
        .await
        .unwrap();
}

/// The focused element and its focus ring: style, width, and contrast against the
/// (opaque) background it is drawn on.
const FOCUS_RING: &str = r#"
const el = document.activeElement;
const rgba = (s) => { const m = s.match(/[\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; };
const behind = (node) => {
  for (let n = node; n; n = n.parentElement) {
    const c = rgba(getComputedStyle(n).backgroundColor);
    if (c[3] >= 0.5) return c;
  }
  return [255, 255, 255, 1];
};
const lum = (c) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
};
const style = getComputedStyle(el);
const ring = rgba(style.outlineColor);
const [hi, lo] = [lum(ring), lum(behind(el.parentElement))].sort((a, b) => b - a);
const rect = el.getBoundingClientRect();
return {
  element: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className.split(' ').join('.') : ''),
  focusVisible: el.matches(':focus-visible'), style: style.outlineStyle,
  width: parseFloat(style.outlineWidth), alpha: ring[3], contrast: (hi + 0.05) / (lo + 0.05),
  visible: rect.width > 10 && rect.height > 10 && rect.top >= 0 && rect.left >= 0 && rect.bottom <= innerHeight,
};
"#;

/// The focused element, after checking it shows a focus ring of at least 3:1 in
/// light and dark mode.
async fn assert_focus_ring(browser: &Client) -> String {
    let mut element = String::new();
    for scheme in [Scheme::Light, Scheme::Dark] {
        emulate(browser, DESKTOP, scheme).await;
        let ring = browser.execute(FOCUS_RING, vec![]).await.unwrap();
        element = ring["element"].as_str().unwrap().to_owned();
        assert_eq!(ring["focusVisible"], true, "{scheme}: {ring}");
        assert_eq!(ring["visible"], true, "{scheme}: {ring}");
        assert_eq!(ring["style"], "solid", "{scheme}: {ring}");
        assert!(ring["width"].as_f64().unwrap() >= 2.0, "{scheme}: {ring}");
        assert_eq!(ring["alpha"].as_f64(), Some(1.0), "{scheme}: {ring}");
        assert!(
            ring["contrast"].as_f64().unwrap() >= 3.0,
            "a focus ring of at least 3:1 in {scheme} mode: {ring}"
        );
    }
    emulate(browser, DESKTOP, Scheme::Light).await;
    element
}

async fn log_in(browser: &Client, app: &TestApp) {
    browser.goto(&app.url("/login")).await.unwrap();
    fill(browser, "#email", ADMIN_EMAIL).await;
    fill(browser, "#password", ADMIN_PASSWORD).await;
    click(browser, "form[action='/login'] button[type=submit]").await;
    assert_eq!(at(browser).await, "/users");
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

/// Screenshots of the page as it is, at 1440 and 375 px, light and dark.
async fn save_screenshots(browser: &Client, name: &str) {
    for (width, scheme) in [
        (DESKTOP, Scheme::Light),
        (DESKTOP, Scheme::Dark),
        (PHONE, Scheme::Light),
        (PHONE, Scheme::Dark),
    ] {
        emulate(browser, width, scheme).await;
        let wide = number(browser, "return document.documentElement.scrollWidth").await;
        assert!(
            wide <= f64::from(width),
            "{name} at {width} px is {wide} px wide"
        );
        save_screenshot(browser, &format!("{name}-{width}-{scheme}")).await;
        save_full_page_screenshot(browser, &format!("{name}-{width}-{scheme}-full")).await;
    }
    emulate(browser, DESKTOP, Scheme::Light).await;
}

/// A screenshot of the whole page, beyond the viewport.
async fn save_full_page_screenshot(browser: &Client, name: &str) {
    use base64::Engine;
    let shot = browser
        .issue_cmd(Cdp(json!({
            "cmd": "Page.captureScreenshot",
            "params": { "format": "png", "captureBeyondViewport": true },
        })))
        .await
        .unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap_or_default())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
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
    // Names break between words; only emails anywhere.
    let wraps = browser
        .execute(
            "return [getComputedStyle(document.querySelector('tbody td:nth-child(3)')).overflowWrap, \
             getComputedStyle(document.querySelector('tbody td.email')).overflowWrap]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wraps, json!(["break-word", "anywhere"]));

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

/// A file of this test's own under the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(extension: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "useradmin-import-{}.{extension}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    /// The name the browser sends with it.
    fn name(&self) -> String {
        self.0.file_name().unwrap().to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Chooses `file` in the upload form and sends it for a preview.
async fn upload(browser: &Client, file: &TempFile) {
    let input = browser
        .find(Locator::Css(
            "form[action='/users/import'] input[type=file]",
        ))
        .await
        .unwrap();
    // An absolute path typed into a file input chooses that file.
    input
        .send_keys(&file.0.display().to_string())
        .await
        .unwrap();
    click(browser, "form[action='/users/import'] button[type=submit]").await;
}

/// The text of each cell of each body row of the table `css`.
async fn table_rows(browser: &Client, css: &str) -> Vec<Vec<String>> {
    let rows = browser
        .execute(
            "return [...document.querySelectorAll(`${arguments[0]} tbody tr`)] \
             .map((tr) => [...tr.cells].map((cell) => cell.textContent.trim()))",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(rows).unwrap()
}

fn cells(row: &[&str]) -> Vec<String> {
    row.iter().map(|cell| (*cell).to_owned()).collect()
}

async fn counts(browser: &Client, ids: &[&str]) -> Vec<String> {
    let mut counts = Vec::new();
    for id in ids {
        counts.push(text_of(browser, &format!("#count-{id}")).await);
    }
    counts
}

async fn name_of_user(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar("select name from users where email = $1 and deleted_at is null")
        .bind(email)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

/// The import pages: upload a CSV, see what it would do (old → new), nothing
/// written until confirmed, then the result and its audit entries; a file with
/// a bad row shows the row and cannot be imported. Every page through axe-core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_previews_an_import_confirms_it_and_finds_it_in_the_audit_trail() {
    let app: TestApp = spawn_app().await;
    app.create_user("Ada", "ada@example.com").await;
    app.create_user("Grace Hopper", "grace@example.com").await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    // The list leads to the upload form.
    click(&browser, "a[href='/users/import']").await;
    assert_eq!(at(&browser).await, "/users/import");
    assert_eq!(title(&browser).await, "Import users · useradmin");
    let form = browser
        .find(Locator::Css("form[action='/users/import']"))
        .await
        .unwrap();
    assert_eq!(form.attr("method").await.unwrap().as_deref(), Some("post"));
    assert_eq!(
        form.attr("enctype").await.unwrap().as_deref(),
        Some("multipart/form-data")
    );
    let first = form.find(Locator::Css("input:first-child")).await.unwrap();
    assert_eq!(first.attr("type").await.unwrap().as_deref(), Some("hidden"));
    assert_eq!(
        first.attr("name").await.unwrap().as_deref(),
        Some("csrf_token")
    );
    let input = form.find(Locator::Css("input#file")).await.unwrap();
    assert_eq!(input.attr("name").await.unwrap().as_deref(), Some("file"));
    assert_eq!(accessible_name(&browser, &input).await, "File");
    assert_eq!(
        form.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Preview"
    );
    check_page(&browser, "import", &mut problems).await;

    // A file that renames Ada, adds Bob and leaves Grace as she is.
    let file = TempFile::new(
        "csv",
        "name,email,is_admin\n\
         Ada Lovelace,ada@example.com,false\n\
         Bob Kahn,bob@example.com,false\n\
         Grace Hopper,grace@example.com,false\n",
    );
    upload(&browser, &file).await;
    assert_eq!(at(&browser).await, "/users/import");
    assert_eq!(title(&browser).await, "Import preview · useradmin");
    assert_eq!(text_of(&browser, "main h1").await, "Import preview");
    assert_eq!(
        text_of(&browser, ".page-head p").await,
        format!("{}: nothing has been written yet.", file.name())
    );
    assert_eq!(
        counts(&browser, &["create", "update", "unchanged", "error"]).await,
        ["1", "1", "1", "0"]
    );
    // Each changed row under a line of its own, then its fields old → new.
    assert_eq!(
        table_rows(&browser, "table.import-changes").await,
        [
            cells(&["Line 2 · ada@example.com · update"]),
            cells(&["name", "Ada", "Ada Lovelace"]),
            cells(&["Line 3 · bob@example.com · create"]),
            cells(&["email", "—", "bob@example.com"]),
            cells(&["is_admin", "—", "false"]),
            cells(&["name", "—", "Bob Kahn"]),
            cells(&["status", "—", "active"]),
        ],
        "Grace's row changes nothing"
    );
    assert!(
        browser
            .find_all(Locator::Css("table.import-errors"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        text_of(
            &browser,
            "form[action='/users/import/confirm'] button[type=submit]"
        )
        .await,
        "Import 2 changes"
    );
    save_screenshot(&browser, "import-preview-1440").await;
    emulate(&browser, PHONE, Scheme::Light).await;
    save_screenshot(&browser, "import-preview-375").await;
    emulate(&browser, DESKTOP, Scheme::Light).await;
    check_page(&browser, "import-preview", &mut problems).await;

    // Nothing is written before the confirmation.
    assert_eq!(name_of_user(&app, "bob@example.com").await, None);
    assert_eq!(
        name_of_user(&app, "ada@example.com").await.as_deref(),
        Some("Ada")
    );

    click(
        &browser,
        "form[action='/users/import/confirm'] button[type=submit]",
    )
    .await;
    // The confirmation answers 303 to the result, like every form post.
    assert_eq!(at(&browser).await, "/users/import/done");
    assert_eq!(title(&browser).await, "Import done · useradmin");
    assert_eq!(text_of(&browser, "main h1").await, "Import done");
    assert_eq!(
        text_of(&browser, "main article > p").await,
        format!("{} was imported in one go.", file.name())
    );
    assert_eq!(
        counts(&browser, &["create", "update", "unchanged"]).await,
        ["1", "1", "1"]
    );
    assert_eq!(
        name_of_user(&app, "bob@example.com").await.as_deref(),
        Some("Bob Kahn")
    );
    assert_eq!(
        name_of_user(&app, "ada@example.com").await.as_deref(),
        Some("Ada Lovelace")
    );
    assert_eq!(
        name_of_user(&app, "grace@example.com").await.as_deref(),
        Some("Grace Hopper")
    );
    save_screenshot(&browser, "import-result-1440").await;
    check_page(&browser, "import-result", &mut problems).await;

    // The audit entries of the import, and only those: the summary and one event
    // per changed user, by this admin, via the import.
    let link = browser
        .find(Locator::LinkText("See the audit entries"))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    assert!(
        href.starts_with(&format!("/audit?actor=admin%3A{}&since=", app.admin_id)),
        "{href}"
    );
    click(&browser, "main .actions a[href^='/audit?']").await;
    assert_eq!(at(&browser).await, href);
    let events = browser
        .execute(
            "return [...document.querySelectorAll('ol.audit-events article.audit-event')] \
             .map((event) => [event.querySelector('header strong').textContent.trim(), \
                              event.querySelector('.meta').textContent.replace(/\\s+/g, ' ')])",
            vec![],
        )
        .await
        .unwrap();
    let events: Vec<(String, String)> = serde_json::from_value(events).unwrap();
    let mut actions: Vec<&str> = events.iter().map(|(action, _)| action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        ["user.created", "user.updated", "users.imported"],
        "{events:?}"
    );
    for (action, meta) in &events {
        assert!(
            meta.contains(&format!("by admin {ADMIN_EMAIL}")) && meta.contains("via import"),
            "{action}: {meta}"
        );
    }
    let trail = text_of(&browser, "ol.audit-events").await;
    assert!(
        trail.contains("Ada Lovelace") && trail.contains("Bob Kahn"),
        "{trail}"
    );
    save_screenshot(&browser, "import-audit-1440").await;

    // A file with a bad email: its line named, and nothing to confirm.
    browser.goto(&app.url("/users/import")).await.unwrap();
    let bad = TempFile::new(
        "csv",
        "name,email,is_admin\n\
         Carol Shaw,carol@example.com,false\n\
         Dan Bricklin,not an email,false\n",
    );
    upload(&browser, &bad).await;
    assert_eq!(at(&browser).await, "/users/import");
    assert_eq!(text_of(&browser, "main h1").await, "Import preview");
    assert_eq!(title(&browser).await, "Error: Import preview · useradmin");
    assert_eq!(
        counts(&browser, &["create", "update", "unchanged", "error"]).await,
        ["1", "0", "0", "1"]
    );
    assert_eq!(
        table_rows(&browser, "table.import-errors").await,
        [cells(&[
            "3",
            "not an email",
            "email: is not a valid email address"
        ])]
    );
    assert!(
        browser
            .find_all(Locator::Css(
                "form[action='/users/import/confirm'], main button[type=submit]"
            ))
            .await
            .unwrap()
            .is_empty(),
        "no confirm button"
    );
    assert_eq!(
        text_of(&browser, "main .actions a[href='/users/import']").await,
        "Upload the corrected file"
    );
    save_screenshot(&browser, "import-preview-errors-1440").await;
    check_page(&browser, "import-preview-errors", &mut problems).await;
    assert_eq!(name_of_user(&app, "carol@example.com").await, None);

    // A real-sized file (several hundred KiB, so the browser's first chunk
    // carries far more than the CSRF field) previews like a small one.
    browser.goto(&app.url("/users/import")).await.unwrap();
    let mut large = String::from("name,email\n");
    for i in 0..6_000 {
        large.push_str(&format!(
            "Person {i} {},person{i}@example.com\n",
            "z".repeat(40)
        ));
    }
    assert!(large.len() > 400 * 1024);
    let large = TempFile::new("csv", &large);
    upload(&browser, &large).await;
    assert_eq!(title(&browser).await, "Import preview · useradmin");
    assert_eq!(
        counts(&browser, &["create", "update", "unchanged", "error"]).await,
        ["6000", "0", "0", "0"]
    );
    assert_eq!(
        text_of(
            &browser,
            "form[action='/users/import/confirm'] button[type=submit]"
        )
        .await,
        "Import 6000 changes"
    );

    // A file with no users is refused on the upload form, which says why.
    browser.goto(&app.url("/users/import")).await.unwrap();
    let empty = TempFile::new("csv", "name,email,is_admin\n");
    upload(&browser, &empty).await;
    assert_eq!(at(&browser).await, "/users/import");
    assert_eq!(
        text_of(&browser, "#import-error").await,
        "the file holds no users"
    );
    assert_error_summary(&browser, "file").await;
    let input = browser.find(Locator::Css("input#file")).await.unwrap();
    assert_eq!(
        input.attr("aria-describedby").await.unwrap().as_deref(),
        Some("import-error")
    );
    check_page(&browser, "import-refused", &mut problems).await;

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}

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
    assert_eq!(boxes.len(), 14, "one box per event");
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
        row[1].starts_with("pending") || row[1].starts_with("failed"),
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

    // A new secret, shown once, unlike the first.
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
    click(&browser, "main form[action$='/delete'] button.danger").await;
    assert_eq!(at(&browser).await, "/webhooks");
    assert_eq!(text_of(&browser, ".flash").await, "Webhook deleted.");
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

/// The code a browser types for its second factor: the one of the step now,
/// or of the next step (one step of drift is accepted) when the code of this
/// step was already used.
fn fresh_code(secret: &[u8], used_step: u64) -> (String, u64) {
    use crate::two_factor::{STEP, code, unix_now};
    let step = (unix_now() / STEP).max(used_step + 1);
    (code(secret, step), step)
}

/// Two-factor login end to end: enrolment from the QR page (the code computed
/// from the secret the page shows), the recovery codes, then a login with the
/// password that lands on the code page, a wrong code, a right one, the users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_turns_on_two_factor_login_and_logs_in_with_a_code() {
    use crate::two_factor::{base32_decode, far_code};

    let app: TestApp = spawn_app().await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    // From the account page to the enrolment page.
    browser.goto(&app.url("/account/password")).await.unwrap();
    click(&browser, "main a[href='/account/2fa']").await;
    assert_eq!(at(&browser).await, "/account/2fa");
    assert_eq!(text_of(&browser, "main h1").await, "Two-factor login");
    // The QR code is an image drawn on the server; it loads under the CSP.
    let qr_width = number(
        &browser,
        "const img = document.querySelector('.qr img'); \
         return img.complete ? img.naturalWidth : 0",
    )
    .await;
    assert!(qr_width >= 200.0, "the QR code is shown ({qr_width} px)");
    let scripts = number(&browser, "return document.scripts.length").await;
    assert_eq!(scripts, 0.0, "no script on the page");
    let qr_alt = browser
        .find(Locator::Css(".qr img"))
        .await
        .unwrap()
        .attr("alt")
        .await
        .unwrap()
        .unwrap_or_default();
    let secret_text = text_of(&browser, "#secret").await;
    eprintln!(
        "enrolment page: h1 \"Two-factor login\"; QR image {qr_width} px wide, alt {qr_alt:?}; key shown as {:?}",
        secret_text.len()
    );
    let secret = base32_decode(&secret_text);
    assert_eq!(secret.len(), 20);
    check_page(&browser, "two-factor-enrol", &mut problems).await;
    for width in [PHONE, DESKTOP] {
        emulate(&browser, width, Scheme::Light).await;
        let qr_shown = number(
            &browser,
            "return document.querySelector('.qr img').getBoundingClientRect().width",
        )
        .await;
        assert!(
            (200.0..=f64::from(width)).contains(&qr_shown),
            "the QR code at {width} px is {qr_shown} px wide"
        );
        save_screenshot(&browser, &format!("two-factor-qr-{width}")).await;
    }
    emulate(&browser, DESKTOP, Scheme::Light).await;

    // A wrong code, then the right one.
    let (enrol_code, enrol_step) = fresh_code(&secret, 0);
    fill(&browser, "#code", &far_code(&secret, enrol_step)).await;
    click(
        &browser,
        "form[action='/account/2fa/enable'] button[type=submit]",
    )
    .await;
    assert_error_summary(&browser, "code").await;
    let refused = text_of(&browser, ".error-summary li").await;
    eprintln!("a wrong enrolment code: {refused:?}");
    // The secret is the same after the refusal.
    assert_eq!(text_of(&browser, "#secret").await, secret_text);
    fill(&browser, "#code", &enrol_code).await;
    click(
        &browser,
        "form[action='/account/2fa/enable'] button[type=submit]",
    )
    .await;
    assert_eq!(text_of(&browser, "main h1").await, "Your recovery codes");
    let codes = browser
        .find_all(Locator::Css(".recovery-codes code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    let first_code = codes[0].text().await.unwrap();
    assert_eq!(first_code.len(), 11, "{first_code}");
    eprintln!(
        "recovery codes page: {:?}, 10 codes such as xxxxx-xxxxx",
        text_of(&browser, "main .status").await
    );
    check_page(&browser, "two-factor-recovery-codes", &mut problems).await;
    click(&browser, "main a[role=button]").await;
    assert_eq!(at(&browser).await, "/account/2fa");
    let status = text_of(&browser, "main p.status").await;
    assert!(status.starts_with("Two-factor login is on."), "{status}");
    eprintln!("account page after enrolment: {status:?}");
    check_page(&browser, "two-factor-on", &mut problems).await;

    // Log out, log in again: the password leads to the code page only.
    click(&browser, "header form[action='/logout'] button").await;
    assert_eq!(at(&browser).await, "/login");
    fill(&browser, "#email", ADMIN_EMAIL).await;
    fill(&browser, "#password", ADMIN_PASSWORD).await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    assert_eq!(at(&browser).await, "/login/2fa");
    eprintln!(
        "after the password: {} with {:?}",
        at(&browser).await,
        text_of(&browser, "main h1").await
    );
    check_page(&browser, "two-factor-second-step", &mut problems).await;
    browser.goto(&app.url("/users")).await.unwrap();
    assert!(
        at(&browser).await.starts_with("/login"),
        "not logged in yet"
    );
    browser.goto(&app.url("/login/2fa")).await.unwrap();

    fill(&browser, "#code", &far_code(&secret, enrol_step + 1)).await;
    click(&browser, "form[action='/login/2fa'] button[type=submit]").await;
    assert_eq!(at(&browser).await, "/login/2fa");
    assert_error_summary(&browser, "code").await;
    eprintln!(
        "a wrong code: {:?}",
        text_of(&browser, ".error-summary li").await
    );
    check_page(&browser, "two-factor-second-step-error", &mut problems).await;

    let (login_code, _) = fresh_code(&secret, enrol_step);
    fill(&browser, "#code", &login_code).await;
    click(&browser, "form[action='/login/2fa'] button[type=submit]").await;
    assert_eq!(at(&browser).await, "/users");
    let flash = text_of(&browser, ".flash").await;
    assert_eq!(flash, "Welcome, Administrator.");
    eprintln!(
        "after the code: {} with the flash {flash:?}",
        at(&browser).await
    );

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
