use askama::Template;
use askama_web::WebTemplate;

use crate::domain::FieldErrors;
use crate::http::pages::Layout;
use crate::views::DeletedUserView;
use crate::views::UserView;

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
    pub total_is_lower_bound: bool,
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
