use askama::Template;
use askama_web::WebTemplate;

use crate::domain::FieldErrors;
use crate::http::pages::Layout;
use crate::views::TokenView;

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
