use askama::Template;
use askama_web::WebTemplate;

use crate::domain::{FieldErrors, Permission};
use crate::http::pages::Layout;
use crate::tokens::forms::NewToken;
use crate::views::TokenView;

#[derive(Template, WebTemplate)]
#[template(path = "tokens/list.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<TokenView>,
    /// A token just created: shown once, never again.
    pub new_token: Option<String>,
    /// The form as filled in (empty: a fresh form, every scope ticked).
    pub input: NewToken,
    pub errors: FieldErrors,
    /// `TOKEN_MAX_DAYS`.
    pub max_days: u32,
}

impl TokensPage {
    /// The scopes offered: the permissions the viewer holds (a token gets
    /// none beyond them).
    pub fn all_permissions(&self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.layout.permissions.contains(*p))
            .collect()
    }

    /// Whether the form ticks `permission`: every one on a fresh form.
    pub fn is_scope_chosen(&self, permission: &Permission) -> bool {
        self.input
            .scopes
            .as_ref()
            .is_none_or(|chosen| chosen.iter().any(|name| name == permission.as_str()))
    }

    pub fn expires_in_days(&self) -> String {
        self.input.expires_in_days.clone().unwrap_or_default()
    }
}
