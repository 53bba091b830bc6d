//! Two-factor login in the browser, from enrolment to a login with a code.

use super::*;

use crate::helpers::spawn_app;

/// The code a browser types for its second factor: the one of the step now,
/// or of the next step (one step of drift is accepted) when the code of this
/// step was already used.
fn fresh_code(secret: &[u8], used_step: u64) -> (String, u64) {
    use crate::two_factor::{STEP, code, unix_now};
    let step = (unix_now() / STEP).max(used_step + 1);
    (code(secret, step), step)
}

/// The code field names its error: `aria-describedby` leads to a message beside
/// it, the same as the error summary's.
async fn assert_code_error_described(browser: &Client) {
    let field = browser.find(Locator::Css("input#code")).await.unwrap();
    let described = field
        .attr("aria-describedby")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        described.split(' ').any(|id| id == "code-error"),
        "the code field is described by its error: {described:?}"
    );
    assert_eq!(
        text_of(browser, "#code-error").await,
        text_of(browser, ".error-summary li").await
    );
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
    assert_code_error_described(&browser).await;
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
    click(&browser, "ol.recovery-codes + p a").await;
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
    assert_code_error_described(&browser).await;
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
    // The outcome of a redirect is in the title, which a screen reader reads
    // first on the new page.
    assert_eq!(
        title(&browser).await,
        "Welcome, Administrator · Users · useradmin"
    );
    eprintln!(
        "after the code: {} with the flash {flash:?}",
        at(&browser).await
    );

    assert_no_problems(&problems);
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
