//! What long real-world values and low-contrast borders do to the pages.

use super::*;

use crate::helpers::{Options, spawn_app_with};

/// A real place name, 85 letters and no space (a hill in New Zealand).
const LONG_NAME: &str =
    "Taumatawhakatangihangakoauauotamateaturipukakapikimaungahoronukupokaiwhenuakitanatahu";

const LONG_EMAIL: &str = "taumata.whakatangihanga@hawkes-bay.example.co.nz";

/// How a table fits: how far its scroll box scrolls sideways, the cells whose
/// content is wider than the cell, the rows whose last cell (the actions) ends
/// beyond the box or the viewport, and for a users table the email cells' widths
/// (in characters of the cell's font) and lines.
const TABLE_FIT: &str = r#"
const table = document.querySelector(arguments[0]);
const box = table.closest('.overflow-auto');
const edge = Math.min(box.getBoundingClientRect().right, innerWidth);
const lines = (cell) => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
};
const ch = (cell) => {
  const probe = document.createElement('span');
  probe.textContent = '0000000000';
  probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap';
  cell.appendChild(probe);
  const w = probe.getBoundingClientRect().width / 10;
  probe.remove();
  return w;
};
const rows = [...table.querySelectorAll('tbody tr')];
return {
  sideways: box.scrollWidth - box.clientWidth,
  overflowing: [...table.querySelectorAll('td')]
    .filter((td) => getComputedStyle(td).display !== 'none' && td.scrollWidth > td.clientWidth + 1)
    .map((td) => td.textContent.trim().slice(0, 40)),
  actionsOut: rows
    .filter((tr) => tr.cells[tr.cells.length - 1].getBoundingClientRect().right > edge + 1)
    .map((tr) => tr.textContent.trim().slice(0, 40)),
  emails: [...table.querySelectorAll('td.email')].map((td) => ({
    chars: Math.round(td.clientWidth / ch(td)), lines: lines(td), text: td.textContent.trim(),
  })),
  heights: rows.map((tr) => Math.round(tr.getBoundingClientRect().height)),
  columns: rows.length ? [...rows[0].cells].map((td) => Math.round(td.getBoundingClientRect().width)) : [],
  room: Math.round(box.clientWidth),
};
"#;

async fn table_fit(browser: &Client, table: &str) -> Value {
    browser
        .execute(TABLE_FIT, vec![json!(table)])
        .await
        .unwrap()
}

/// A long word wraps inside its own cell: no table scrolls sideways, no cell
/// spills, every row's actions stay in sight, at 1440 and at 375 px.
async fn check_table_fits(browser: &Client, page: &str, table: &str, problems: &mut Vec<String>) {
    for width in [DESKTOP, PHONE] {
        emulate(browser, width, Scheme::Light).await;
        let fit = table_fit(browser, table).await;
        let place = format!("{page} {table} at {width} px");
        if fit["sideways"].as_f64().unwrap_or(0.0) > 0.0 {
            problems.push(format!("{place}: scrolls sideways: {fit}"));
        }
        if fit["overflowing"] != json!([]) {
            problems.push(format!("{place}: cells spill: {fit}"));
        }
        if fit["actionsOut"] != json!([]) {
            problems.push(format!("{place}: actions out of sight: {fit}"));
        }
        for email in fit["emails"].as_array().unwrap() {
            let chars = email["chars"].as_f64().unwrap();
            let least = match (width, table) {
                (PHONE, "table.deleted-users") => 7.0,
                (PHONE, _) => 10.0,
                _ => 36.0,
            };
            if chars < least {
                problems.push(format!(
                    "{place}: an email cell {chars} characters wide (at least {least}): {email}"
                ));
            }
            // An email of up to 36 characters takes one line on a desktop.
            let text = email["text"].as_str().unwrap_or_default();
            if width == DESKTOP && text.chars().count() <= 36 && email["lines"] != 1 {
                problems.push(format!("{place}: an email on several lines: {email}"));
            }
        }
        if width == DESKTOP && table == "table.users" {
            // The long name may take a second line, not more.
            let heights: Vec<f64> = fit["heights"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_f64().unwrap())
                .collect();
            let shortest = heights.iter().copied().fold(f64::MAX, f64::min);
            let tallest = heights.iter().copied().fold(0.0, f64::max);
            if tallest > shortest * 1.8 {
                problems.push(format!(
                    "{place}: a row {tallest} px tall beside rows of {shortest} px: {fit}"
                ));
            }
        }
    }
    emulate(browser, DESKTOP, Scheme::Light).await;
}

/// An 85-letter name, a long email, a long token label and a webhook whose URL
/// is one long word: each wraps in its own cell on the users list, the deleted
/// users, the tokens and the delivery log, and the rows keep their actions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_words_wrap_inside_their_own_cell_and_rows_keep_their_actions() {
    let app: TestApp = spawn_app_with(Options {
        env: vec![("WEBHOOK_ALLOW_PRIVATE", "true".into())],
        ..Options::default()
    })
    .await;
    app.seed_users(3).await;
    assert_eq!(LONG_NAME.chars().count(), 85);
    let long = app.create_user(LONG_NAME, LONG_EMAIL).await;
    let gone = app
        .create_user(
            &format!("{LONG_NAME}x"),
            "gone.whakatangihanga@example.co.nz",
        )
        .await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{}", gone["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let label = "deployment-pipeline-for-the-hawkes-bay-regional-council-staging-and-production-clusters-eu";
    let response = app
        .api
        .post(app.url("/tokens"))
        .json(&json!({ "label": label, "scopes": ["users.read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, hook) = crate::helpers::post_json(
        &app,
        "/webhooks",
        json!({"url": format!("http://127.0.0.1:9/{LONG_NAME}{LONG_NAME}"), "events": ["user.*"]}),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;

    browser.goto(&app.url("/users?sort=name")).await.unwrap();
    check_table_fits(&browser, "users", "table.users", &mut problems).await;
    save_screenshots(&browser, "long-name-users").await;

    // The user's own page: the name wraps in its heading, the page fits.
    browser
        .goto(&app.url(&format!("/users/{}", long["id"])))
        .await
        .unwrap();
    save_screenshots(&browser, "long-name-user-detail").await;

    browser.goto(&app.url("/users/deleted")).await.unwrap();
    check_table_fits(&browser, "deleted", "table.deleted-users", &mut problems).await;
    save_screenshots(&browser, "long-name-deleted").await;

    browser.goto(&app.url("/tokens")).await.unwrap();
    check_table_fits(&browser, "tokens", "table.tokens", &mut problems).await;
    save_screenshots(&browser, "long-label-tokens").await;

    browser
        .goto(&app.url(&format!("/webhooks/{}", hook["id"])))
        .await
        .unwrap();
    click(&browser, "main form[action$='/test'] button").await;
    check_table_fits(&browser, "deliveries", "table.deliveries", &mut problems).await;
    save_screenshots(&browser, "long-url-deliveries").await;

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}

/// Each visible field's and checkbox's border against what is behind it.
const BORDERS: &str = r#"
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
const ratio = (a, b) => { const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x); return (hi + 0.05) / (lo + 0.05); };
return [...document.querySelectorAll('input:not([type=hidden]):not([type=submit]), select, textarea')]
  .filter((el) => el.getBoundingClientRect().width > 0 && !el.checked)
  .map((el) => {
    const style = getComputedStyle(el);
    const border = rgba(style.borderTopColor);
    const outside = behind(el.parentElement);
    const inside = rgba(style.backgroundColor);
    const fill = inside[3] >= 0.5 ? inside : outside;
    return {
      element: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '[' + (el.type || '') + ']',
      width: parseFloat(style.borderTopWidth),
      contrast: Math.min(ratio(border, outside), ratio(border, fill)),
    };
  });
"#;

/// Text fields', selects' and checkboxes' borders are at least 3:1 against the
/// page and against the field's own background (WCAG 1.4.11), in light and dark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_and_checkbox_borders_have_three_to_one_contrast() {
    let app: TestApp = crate::helpers::spawn_app().await;
    app.seed_users(3).await;
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!("useradmin-chromium-{}", uuid::Uuid::new_v4()));
    let browser = driver.browser(&profile).await;
    let mut problems = Vec::new();
    log_in(&browser, &app).await;
    for (page, path) in [
        ("users", "/users?status=active"),
        ("user-new", "/users/new"),
        ("tokens", "/tokens"),
    ] {
        browser.goto(&app.url(path)).await.unwrap();
        for scheme in [Scheme::Light, Scheme::Dark] {
            emulate(&browser, DESKTOP, scheme).await;
            let borders = browser.execute(BORDERS, vec![]).await.unwrap();
            let borders = borders.as_array().unwrap();
            assert!(!borders.is_empty(), "fields on {page}");
            for border in borders {
                let contrast = border["contrast"].as_f64().unwrap();
                if contrast < 3.0 || border["width"].as_f64().unwrap() < 1.0 {
                    problems.push(format!("{page}, {scheme}: {border}"));
                }
            }
        }
        save_screenshots(&browser, &format!("borders-{page}")).await;
    }
    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
