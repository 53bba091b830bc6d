use askama::Template;
use askama_web::WebTemplate;

use super::views::UserPage;
use crate::audit::views::AuditEventView;
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
}

impl ListFilterValues {
    pub fn any(&self) -> bool {
        [
            &self.status,
            &self.is_admin,
            &self.created_after,
            &self.created_before,
            &self.last_login_before,
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
    pub errors: FieldErrors,
    /// Set when someone else saved first: the current values, shown in the form.
    pub conflict: Option<UserView>,
    pub submitted_name: String,
    pub submitted_email: String,
    /// The admin is editing their own account: a new password needs the current one.
    pub is_self: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "users/delete.html")]
pub struct DeletePage {
    pub layout: Layout,
    pub user: UserView,
}
