//! The import pages in the browser: upload, preview, confirm, audit trail.

use super::*;

use crate::helpers::{spawn_app, user_name_by_email};

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

async fn counts(browser: &Client, ids: &[&str]) -> Vec<String> {
    let mut counts = Vec::new();
    for id in ids {
        counts.push(text_of(browser, &format!("#count-{id}")).await);
    }
    counts
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
    assert_eq!(user_name_by_email(&app, "bob@example.com").await, None);
    assert_eq!(
        user_name_by_email(&app, "ada@example.com").await.as_deref(),
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
        user_name_by_email(&app, "bob@example.com").await.as_deref(),
        Some("Bob Kahn")
    );
    assert_eq!(
        user_name_by_email(&app, "ada@example.com").await.as_deref(),
        Some("Ada Lovelace")
    );
    assert_eq!(
        user_name_by_email(&app, "grace@example.com")
            .await
            .as_deref(),
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
    // The errors are announced and focused, like every other page's, and the
    // valid rows are not offered as "Changes": nothing is imported yet.
    let focused = browser.active_element().await.unwrap();
    assert_eq!(
        focused.attr("class").await.unwrap().as_deref(),
        Some("error-summary"),
        "the errors have the focus"
    );
    assert_eq!(
        focused.attr("role").await.unwrap().as_deref(),
        Some("alert")
    );
    assert_eq!(
        text_of(&browser, ".error-summary h2").await,
        "Nothing can be imported yet"
    );
    assert_eq!(
        text_of(&browser, ".error-summary p").await,
        "1 row has an error: fix it in the file and upload it again."
    );
    assert_eq!(
        text_of(&browser, "#changes-heading").await,
        "Valid rows, not imported until every row is valid"
    );
    save_screenshot(&browser, "import-preview-errors-1440").await;
    check_page(&browser, "import-preview-errors", &mut problems).await;
    assert_eq!(user_name_by_email(&app, "carol@example.com").await, None);

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

    // A file that is not text at all: refused in words, without Rust escapes.
    browser.goto(&app.url("/users/import")).await.unwrap();
    let binary = TempFile::new("csv", "\0\u{1}\u{2}\u{3}name,email\n");
    upload(&browser, &binary).await;
    assert_eq!(at(&browser).await, "/users/import");
    let message = text_of(&browser, "#import-error").await;
    assert!(
        message.contains("the file is not text (byte 0x00 at position 1)"),
        "{message}"
    );
    assert!(!message.contains('\\'), "no escapes: {message}");
    assert_error_summary(&browser, "file").await;
    check_page(&browser, "import-refused-binary", &mut problems).await;

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
