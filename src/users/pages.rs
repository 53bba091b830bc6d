use askama::Template;
use askama_web::WebTemplate;

use super::views::UserPage;
use crate::audit::views::AuditEventView;
use crate::db::roles::HeldRole;
use crate::domain::FieldErrors;
use crate::http::pages::Layout;
use crate::views::UserView;

/// A sortable column header of the user list.
pub struct SortLink {
    pub label: &'static str,
    pub href: String,
    /// ▲ or ▼ on the column the list is sorted by.
    pub indicator: &'static str,
    /// `ascending`, `descending` or `none` (for screen readers).
    pub aria_sort: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/list.html")]
pub struct UsersListPage {
    pub layout: Layout,
    pub page: UserPage,
    pub q: String,
    pub sort: String,
    pub columns: Vec<SortLink>,
    pub next_href: Option<String>,
    pub prev_href: Option<String>,
    /// The filter bar's fields, as its inputs show them.
    pub filters: ListFilterValues,
    /// The filters that are set, as hidden fields of the search form, so that a
    /// search keeps them.
    pub filter_pairs: Vec<(&'static str, String)>,
    /// The list without its filters (search and sort kept).
    pub clear_filters_href: String,
    /// This search, filters and order, as an export's query string.
    pub export_query: String,
    /// The groups and roles the filters offer.
    pub choices: ListChoices,
}

/// What the group and role filters offer.
#[derive(Default)]
pub struct ListChoices {
    /// Each group's id and name, by name.
    pub groups: Vec<(i64, String)>,
    /// Every role's name.
    pub roles: Vec<String>,
}

/// The user list's filters as typed into the filter bar; empty for "any".
#[derive(Default)]
pub struct ListFilterValues {
    /// `active`, `disabled` or empty.
    pub status: String,
    /// `true`, `false` or empty.
    pub is_admin: String,
    /// Dates (`YYYY-MM-DD`, UTC), as date inputs take them.
    pub created_after: String,
    pub created_before: String,
    pub last_login_before: String,
    /// A group's id, or empty.
    pub group: String,
    /// A role's name, or empty.
    pub role: String,
}

impl ListFilterValues {
    pub fn any(&self) -> bool {
        [
            &self.status,
            &self.is_admin,
            &self.created_after,
            &self.created_before,
            &self.last_login_before,
            &self.group,
            &self.role,
        ]
        .iter()
        .any(|value| !value.is_empty())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "users/show.html")]
pub struct UserDetailPage {
    pub layout: Layout,
    pub user: UserView,
    /// The user's latest events.
    pub events: Vec<AuditEventView>,
    /// More events than shown: link to the full history.
    pub more_history: bool,
    /// The user has two-factor login on (an admin can reset it).
    pub two_factor: bool,
    /// Each permission the user holds and where it comes from.
    pub sources: Vec<PermissionSource>,
}

/// One permission a user holds, and the roles (direct or through a group)
/// that give it.
#[derive(Debug, PartialEq, Eq)]
pub struct PermissionSource {
    pub permission: String,
    /// E.g. "helpdesk, through the group Support; viewer (direct)".
    pub sources: String,
}

impl PermissionSource {
    /// Per permission, in name order, the roles that give it.
    pub fn of(held: &[HeldRole]) -> Vec<Self> {
        let mut permissions: Vec<&str> = held
            .iter()
            .flat_map(|role| role.permissions.iter().map(String::as_str))
            .collect();
        permissions.sort_unstable();
        permissions.dedup();
        permissions
            .into_iter()
            .map(|permission| Self {
                permission: permission.to_owned(),
                sources: held
                    .iter()
                    .filter(|role| role.permissions.iter().any(|p| p == permission))
                    .map(|role| match &role.group_name {
                        Some(group) => format!("{}, through the group {group}", role.role_name),
                        None => format!("{} (direct)", role.role_name),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect()
    }
}

/// A role the form offers (beside `admin`, which the form's Role choice is).
pub struct RoleChoice {
    pub name: String,
    pub description: String,
    pub checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/form.html")]
pub struct UserFormPage {
    pub layout: Layout,
    pub heading: String,
    pub action: String,
    pub submit_label: &'static str,
    pub cancel_href: String,
    /// Present on the edit form: the version the form was filled from.
    pub version: Option<i32>,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    /// The roles offered beside `admin`; empty unless the viewer may grant
    /// roles (`roles.manage`).
    pub roles: Vec<RoleChoice>,
    pub errors: FieldErrors,
    /// Set when someone else saved first: the current values, shown in the form.
    pub conflict: Option<UserView>,
    /// The user who holds the email entered (id, name), linked beside the
    /// field when the email is taken and the viewer may read users.
    pub email_holder: Option<(i64, String)>,
    pub submitted_name: String,
    pub submitted_email: String,
    /// The admin is editing their own account: a new password needs the current one.
    pub is_self: bool,
    /// Creating, one's own account, or `credentials.reset`: the password field.
    pub may_set_password: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/delete.html")]
pub struct DeletePage {
    pub layout: Layout,
    pub user: UserView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_permission_names_the_roles_and_groups_it_comes_from() {
        let held = |name: &str, permissions: &[&str], group: Option<&str>| HeldRole {
            role_id: 1,
            role_name: name.into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            group_id: group.map(|_| 1),
            group_name: group.map(str::to_owned),
        };
        let sources = PermissionSource::of(&[
            held("helpdesk", &["users.read", "users.write"], Some("Support")),
            held("viewer", &["audit.read", "users.read"], None),
        ]);
        let line = |p: &str, s: &str| PermissionSource {
            permission: p.into(),
            sources: s.into(),
        };
        assert_eq!(
            sources,
            [
                line("audit.read", "viewer (direct)"),
                line(
                    "users.read",
                    "helpdesk, through the group Support; viewer (direct)"
                ),
                line("users.write", "helpdesk, through the group Support"),
            ]
        );
    }
}
