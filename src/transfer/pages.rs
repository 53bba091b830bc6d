use askama::Template;
use askama_web::WebTemplate;

use crate::http::pages::Layout;

/// `GET /users/import`: the upload form, with the reason an upload was refused.
#[derive(Template, WebTemplate)]
#[template(path = "users/import.html")]
pub struct ImportPage {
    pub layout: Layout,
    pub error: Option<String>,
}

impl ImportPage {
    /// The columns an import writes, as the hint names them.
    pub fn columns(&self) -> String {
        crate::domain::user_fields::IMPORT_WRITTEN.join(", ")
    }
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
