//! `/roles` and `/roles/{id}` as pages.

use askama::Template;
use askama_web::WebTemplate;

use crate::domain::{FieldErrors, Permission};
use crate::http::pages::Layout;
use crate::roles::forms::RoleInput;
use crate::roles::views::RoleView;

/// `/roles`: every role against every permission, and (to those who may) the
/// form for a new one.
#[derive(Template, WebTemplate)]
#[template(path = "roles/list.html")]
pub struct RolesPage {
    pub layout: Layout,
    pub roles: Vec<RoleView>,
    /// The new role's form as filled in (empty: a fresh form).
    pub input: RoleInput,
    pub errors: FieldErrors,
}

impl RolesPage {
    pub fn all_permissions(&self) -> [Permission; 11] {
        Permission::ALL
    }
}

/// `/roles/{id}`: one role, its holders, and (to those who may) its edit and
/// delete forms.
#[derive(Template, WebTemplate)]
#[template(path = "roles/show.html")]
pub struct RolePage {
    pub layout: Layout,
    pub role: RoleView,
    /// The edit form as filled in.
    pub input: RoleInput,
    pub errors: FieldErrors,
}

impl RolePage {
    pub fn all_permissions(&self) -> [Permission; 11] {
        Permission::ALL
    }

    /// The edit form of the role as stored.
    pub fn new(layout: Layout, role: RoleView) -> Self {
        let input = RoleInput {
            name: Some(role.name.clone()),
            description: Some(role.description.clone()),
            permissions: Some(role.permissions.names()),
        };
        Self {
            layout,
            role,
            input,
            errors: FieldErrors::default(),
        }
    }
}

/// A permission's name with a break allowed after its dot (table headers).
pub fn breakable(permission: &Permission) -> (&'static str, &'static str) {
    let name = permission.as_str();
    let dot = name.find('.').map_or(name.len(), |i| i + 1);
    (&name[..dot], &name[dot..])
}
