//! Builds the shared part of every page for the admin who asked for it.

use tower_sessions::Session;

use super::pages::Layout;
use crate::{
    auth::{CurrentAdmin, session},
    error::AppResult,
};

/// The layout for a logged-in admin: their name, the session's CSRF token and the
/// flash message left by the previous request (shown once).
pub async fn for_admin(
    session: &Session,
    admin: &CurrentAdmin,
    title: impl Into<String>,
) -> AppResult<Layout> {
    Ok(Layout {
        title: title.into(),
        admin: Some(admin.name.clone()),
        csrf: session::csrf_token(session).await?,
        flash: session::take_flash(session).await?,
    })
}

/// The layout for the login page.
pub async fn anonymous(session: &Session, title: impl Into<String>) -> AppResult<Layout> {
    let mut layout = Layout::anonymous(title, session::csrf_token(session).await?);
    layout.flash = session::take_flash(session).await?;
    Ok(layout)
}
