use serde::Serialize;
use time::OffsetDateTime;

use crate::views::display;

/// A webhook endpoint as listed (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    /// False while paused: deliveries wait.
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<crate::db::webhooks::WebhookRow> for WebhookView {
    fn from(row: crate::db::webhooks::WebhookRow) -> Self {
        Self {
            id: row.id,
            url: row.url,
            events: row.events,
            active: row.active,
            created_at: row.created_at,
        }
    }
}

impl WebhookView {
    pub fn created_display(&self) -> String {
        display(self.created_at)
    }

    pub fn subscribes(&self, event: &&str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// One delivery of an event to an endpoint, with its latest attempt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The receiver's last answer, if it answered.
    pub response_code: Option<i32>,
    pub duration_ms: Option<i32>,
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// When a pending delivery is tried next.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
}

impl From<crate::db::deliveries::DeliveryRow> for DeliveryView {
    fn from(row: crate::db::deliveries::DeliveryRow) -> Self {
        Self {
            id: row.id,
            event_type: row.event_type,
            next_attempt_at: (row.status == "pending").then_some(row.next_attempt_at),
            status: row.status,
            attempts: row.attempts,
            response_code: row.response_code,
            duration_ms: row.duration_ms,
            error: row.last_error,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
        }
    }
}

impl DeliveryView {
    pub fn created_display(&self) -> String {
        display(self.created_at)
    }

    pub fn next_display(&self) -> String {
        self.next_attempt_at.map(display).unwrap_or_default()
    }

    /// The status as the delivery log shows it: a pending delivery that has
    /// failed before is "retrying at 2026-12-01 09:30 UTC".
    pub fn status_display(&self) -> String {
        match (self.status.as_str(), self.next_attempt_at) {
            ("pending", Some(next)) if self.attempts > 0 => {
                format!("retrying at {}", display(next))
            }
            ("failed", _) => "failed, no more retries".into(),
            (status, _) => status.to_owned(),
        }
    }

    /// The last error in a few words: "connection refused", not the network
    /// library's chain with its OS error number. A receiver's answer is quoted
    /// as it was.
    pub fn error_display(&self) -> Option<String> {
        let error = self.error.as_deref()?;
        Some(match self.response_code {
            Some(_) => error.to_owned(),
            None => crate::reasons::plain(error),
        })
    }
}

/// `GET /webhooks/{id}/deliveries`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPageView {
    pub data: Vec<DeliveryView>,
    /// Send as `after` for the next (older) page.
    pub next: Option<String>,
}
