//! HTML pages: one Askama template per struct, mirroring `templates/`. Each page
//! carries a [`Layout`] for the parts every page shares.

use askama::Template;
use askama_web::WebTemplate;

use crate::domain::{Permission, PermissionSet};

/// What `base.html` needs.
pub struct Layout {
    pub title: String,
    /// The logged-in admin's name; `None` on the login and error pages.
    pub admin: Option<String>,
    /// The logged-in admin's id, for pages that differ on one's own account.
    pub admin_id: Option<i64>,
    pub csrf: String,
    pub flash: Option<String>,
    /// What the logged-in account may do: the navigation and every page show
    /// only what it may (SPEC §14). Empty without one.
    pub permissions: PermissionSet,
}

impl Layout {
    /// Whether the account holds the permission named (`"users.write"`), for
    /// templates; an unknown name is a typo and holds nothing.
    pub fn may(&self, permission: &str) -> bool {
        Permission::parse(permission).is_ok_and(|p| self.permissions.contains(p))
    }

    /// For pages shown without a logged-in admin.
    pub fn anonymous(title: impl Into<String>, csrf: String) -> Self {
        Self {
            title: title.into(),
            admin: None,
            admin_id: None,
            csrf,
            flash: None,
            permissions: PermissionSet::EMPTY,
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
