//! HTML pages: one Askama template per struct, mirroring `templates/`. Each page
//! carries a [`Layout`] for the parts every page shares.

use askama::Template;
use askama_web::WebTemplate;

/// What `base.html` needs.
pub struct Layout {
    pub title: String,
    /// The logged-in admin's name; `None` on the login and error pages.
    pub admin: Option<String>,
    /// The logged-in admin's id, for pages that differ on one's own account.
    pub admin_id: Option<i64>,
    pub csrf: String,
    pub flash: Option<String>,
}

impl Layout {
    /// For pages shown without a logged-in admin.
    pub fn anonymous(title: impl Into<String>, csrf: String) -> Self {
        Self {
            title: title.into(),
            admin: None,
            admin_id: None,
            csrf,
            flash: None,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub reason: String,
    pub message: String,
    pub request_id: String,
}
