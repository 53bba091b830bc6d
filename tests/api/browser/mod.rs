//! End to end in a real headless Chromium (Debian's chromium + chromium-driver),
//! driven over WebDriver: what an admin does, with JavaScript never needed; what
//! keyboard and screen reader users get; and every page checked with axe-core, in
//! light and dark mode, on a phone (375 px) and a desktop (1440 px).
//!
//! This module holds what the browser tests share (the driver, axe-core,
//! screenshots, filling, clicking and pressing, logging in); each feature has
//! a file of its own.

mod audit;
mod delegation;
mod groups;
mod import;
mod keyboard;
mod layout;
mod outcomes;
mod pages;
mod roles;
mod two_factor;
mod users;
mod webhooks;

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

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, closed_port};

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
        // A link dressed as a button ignores Space, which a button answers.
        let fakes = browser
            .execute(
                "return [...document.querySelectorAll('[role=button]:not(button)')] \
                 .map((a) => a.outerHTML)",
                vec![],
            )
            .await
            .unwrap();
        if fakes != json!([]) {
            problems.push(format!("{place}: links styled as buttons: {fakes}"));
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
