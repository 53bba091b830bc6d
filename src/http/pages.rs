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

    /// The flash message as the start of the page's title, so that a screen
    /// reader, which reads the title when the page loads after a redirect,
    /// announces the outcome ("Disabled Ann · Ann · useradmin").
    pub fn flash_title(&self) -> Option<&str> {
        self.flash
            .as_deref()
            .map(|flash| flash.trim().trim_end_matches('.'))
            .filter(|flash| !flash.is_empty())
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
    /// A sentence (see [`ErrorPage::sentence`]).
    pub message: String,
    pub request_id: String,
    pub link: Option<crate::http::error::ErrorLink>,
}

impl ErrorPage {
    /// An error's message as the page says it: the terse messages the JSON
    /// body carries ("not found") in plain words, and any other as a sentence
    /// (a capital first, a full stop last).
    pub fn sentence(status: u16, message: &str) -> String {
        let message = message.trim();
        let plain = match (status, message) {
            (404, "not found") => {
                "There is nothing at this address: it was deleted, or the link is wrong."
            }
            (405, "method not allowed") => "This address does not take this kind of request.",
            (403, "forbidden") => "You may not do this.",
            (403, "cross-site request refused") => {
                "The request came from another site, so it was refused. Open the page here and try again."
            }
            (422, "validation failed") => "Some of what was sent is not valid.",
            (500, "internal error") => {
                "Something went wrong on our side. Try again; if it keeps happening, tell the administrator the request id below."
            }
            _ => "",
        };
        if !plain.is_empty() {
            return plain.to_owned();
        }
        if message.is_empty() {
            return "Something went wrong.".to_owned();
        }
        // A message that starts with a parameter's name ("created_after must
        // be …", "next: …") keeps the name as it is written.
        let first_word = message.split(' ').next().unwrap_or_default();
        let mut sentence = if first_word.contains(['_', ':']) {
            message.to_owned()
        } else {
            let mut chars = message.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        };
        if !sentence.ends_with(['.', '!', '?']) {
            sentence.push('.');
        }
        sentence
    }
}

/// The confirmation before a single destructive POST: it names the thing, says
/// what follows, and posts the form (with the CSRF token) only when confirmed.
#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    /// The question, naming the thing: "Delete the webhook https://…?".
    pub heading: String,
    /// What happens, in a sentence or two.
    pub consequence: String,
    /// Where the form posts.
    pub action: String,
    /// The button's words.
    pub button: String,
    /// Where Cancel leads.
    pub cancel: String,
}

#[cfg(test)]
mod tests {
    use super::ErrorPage;

    #[test]
    fn error_messages_read_as_sentences() {
        assert_eq!(
            ErrorPage::sentence(400, "user id must be a positive integer"),
            "User id must be a positive integer."
        );
        assert_eq!(
            ErrorPage::sentence(400, "created_after must be a date"),
            "created_after must be a date."
        );
        assert_eq!(
            ErrorPage::sentence(404, "not found"),
            "There is nothing at this address: it was deleted, or the link is wrong."
        );
        assert_eq!(ErrorPage::sentence(409, "Done already."), "Done already.");
    }
}
