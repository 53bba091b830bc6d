use askama::Template;
use askama_web::WebTemplate;

use crate::domain::FieldErrors;
use crate::http::pages::Layout;

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
