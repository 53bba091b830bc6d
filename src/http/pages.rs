//! HTML pages: one Askama template per struct, mirroring `templates/`. Each page
//! carries a [`Layout`] for the parts every page shares.

use askama::Template;
use askama_web::WebTemplate;

use super::views::{AuditEventView, DeletedUserView, TokenView, UserPage, UserView};
use crate::domain::FieldErrors;

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
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "account/password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub errors: FieldErrors,
}

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

/// `GET /audit` and `GET /users/{id}/history`.
#[derive(Template, WebTemplate)]
#[template(path = "audit/list.html")]
pub struct AuditListPage {
    pub layout: Layout,
    pub heading: String,
    /// Where the filter form submits.
    pub action: String,
    /// A user's history is already about one subject.
    pub show_subject_filter: bool,
    pub filters: AuditFilters,
    pub errors: FieldErrors,
    pub events: Vec<AuditEventView>,
    pub next_href: Option<String>,
}

/// The filters as typed, to show them again.
#[derive(Default)]
pub struct AuditFilters {
    pub subject: String,
    pub actor: String,
    pub action: String,
    pub since: String,
    pub until: String,
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

#[derive(Template, WebTemplate)]
#[template(path = "tokens/list.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<TokenView>,
    /// A token just created: shown once, never again.
    pub new_token: Option<String>,
    pub label: String,
    pub errors: FieldErrors,
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

/// `GET /users/{id}/disable`: the confirmation, asking why.
#[derive(Template, WebTemplate)]
#[template(path = "users/disable.html")]
pub struct DisablePage {
    pub layout: Layout,
    pub user: UserView,
    pub reason: String,
    pub errors: FieldErrors,
}

/// `GET /users/deleted`.
#[derive(Template, WebTemplate)]
#[template(path = "users/deleted.html")]
pub struct DeletedUsersPage {
    pub layout: Layout,
    pub users: Vec<DeletedUserView>,
    pub total: i64,
    pub q: String,
    pub next_href: Option<String>,
    /// How long a deleted user can be restored.
    pub restore_days: u64,
}

/// The confirmation of a bulk action, naming every user it touches.
#[derive(Template, WebTemplate)]
#[template(path = "users/bulk_confirm.html")]
pub struct BulkConfirmPage {
    pub layout: Layout,
    pub action: &'static str,
    pub verb: &'static str,
    pub users: Vec<UserView>,
    pub reason: String,
}

/// `GET /users/import`: the upload form, with the reason an upload was refused.
#[derive(Template, WebTemplate)]
#[template(path = "users/import.html")]
pub struct ImportPage {
    pub layout: Layout,
    pub error: Option<String>,
}

/// The plan of an uploaded file, to confirm.
#[derive(Template, WebTemplate)]
#[template(path = "users/import_preview.html")]
pub struct ImportPreviewPage {
    pub layout: Layout,
    pub source: String,
    pub counts: crate::import::Counts,
    /// The first changes (the counts cover all of them).
    pub changes: Vec<crate::import::PlannedRow>,
    pub shown_changes: u64,
    /// The first rows with errors (the counts cover all of them).
    pub errors: Vec<crate::import::PlannedRow>,
    pub shown_errors: u64,
    /// The kept plan to confirm; `None` when there is nothing to apply.
    pub plan_id: Option<String>,
    pub notice: Option<String>,
}

impl ImportPreviewPage {
    /// A changed value as shown: text as it is, JSON otherwise.
    pub fn shown(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::Null => "—".into(),
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// The import applied.
#[derive(Template, WebTemplate)]
#[template(path = "users/import_result.html")]
pub struct ImportResultPage {
    pub layout: Layout,
    pub source: String,
    pub counts: crate::import::Counts,
    pub audit_href: String,
}

/// `/webhooks`: the endpoints and the form to add one.
#[derive(Template, WebTemplate)]
#[template(path = "webhooks/list.html")]
pub struct WebhooksPage {
    pub layout: Layout,
    pub webhooks: Vec<super::views::WebhookView>,
    pub url: String,
    /// The events ticked (the form shown again with its errors).
    pub chosen: Vec<String>,
    pub errors: FieldErrors,
    pub all_events: Vec<&'static str>,
}

impl WebhooksPage {
    pub fn is_chosen(&self, event: &&str) -> bool {
        self.chosen.iter().any(|e| e == event)
    }
}

/// `/webhooks/{id}`: one endpoint, its delivery log and its actions.
#[derive(Template, WebTemplate)]
#[template(path = "webhooks/show.html")]
pub struct WebhookPage {
    pub layout: Layout,
    pub webhook: super::views::WebhookView,
    /// Shown once, right after creating or rotating.
    pub secret: Option<String>,
    pub deliveries: Vec<super::views::DeliveryView>,
    pub all_events: Vec<&'static str>,
}
