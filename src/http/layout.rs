//! The shared part of the anonymous pages (the login form). An admin's pages get
//! theirs from [`super::respond::AdminContext::layout`].

use crate::http::pages::Layout;
use crate::http::{error::AppResult, session::AdminSession};

/// The layout for the login page, with the form's CSRF token (which lives in a
/// signed cookie, not in the session). A flash is read only from a session the
/// visitor already has: nothing is stored for an anonymous visitor.
pub async fn anonymous(
    session: &AdminSession,
    title: impl Into<String>,
    csrf: String,
) -> AppResult<Layout> {
    let mut layout = Layout::anonymous(title, csrf);
    layout.flash = session.take_flash().await?;
    Ok(layout)
}
