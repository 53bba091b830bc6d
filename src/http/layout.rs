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
        admin_id: Some(admin.user_id),
        csrf: session::csrf_token(session).await?,
        flash: session::take_flash(session).await?,
    })
}

/// The layout for the login page, with the form's CSRF token (which lives in a
/// signed cookie, not in the session). A flash is read only from a session the
/// visitor already has: nothing is stored for an anonymous visitor.
pub async fn anonymous(
    session: &Session,
    title: impl Into<String>,
    csrf: String,
) -> AppResult<Layout> {
    let mut layout = Layout::anonymous(title, csrf);
    if session.id().is_some() {
        layout.flash = session::take_flash(session).await?;
    }
    Ok(layout)
}
