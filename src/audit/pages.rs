use askama::Template;
use askama_web::WebTemplate;

use super::views::AuditEventView;
use crate::domain::FieldErrors;
use crate::http::pages::Layout;

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
