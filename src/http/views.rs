//! What clients see. These are built from rows but are not rows: a password hash
//! has no field to land in.

use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::conditional::etag;
use crate::db::{audit::AuditRow, tokens::TokenRow, users::UserRow};

/// A user in JSON.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
    /// `active` or `disabled`.
    pub status: String,
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    pub external_id: Option<String>,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            email: row.email,
            is_admin: row.is_admin,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            status: row.status,
            disabled_reason: row.disabled_reason,
            disabled_at: row.disabled_at,
            last_login_at: row.last_login_at,
            external_id: row.external_id,
        }
    }
}

/// A deleted user, as `GET /users/deleted` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeletedUserView {
    #[serde(flatten)]
    pub user: UserView,
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
}

impl IntoResponse for UserView {
    /// The user with its `ETag`, so a client can send it back in `If-Match`.
    fn into_response(self) -> Response {
        let tag = etag(self.version);
        let mut response = Json(self).into_response();
        response.headers_mut().insert(header::ETAG, tag);
        response
    }
}

/// Where a list came from: `"cache"` only on a cache hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cache,
    Database,
}

/// One page of `GET /users`, without its `source`: the form it is cached in.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserPage {
    pub data: Vec<UserView>,
    pub next: Option<String>,
    /// Cursor for `before=`: the page before this one (not in the original contract).
    pub prev: Option<String>,
    pub total: i64,
}

impl UserPage {
    /// The page as JSON bytes, as they are cached.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a page always serialises"))
    }
}

/// The shape of `GET /users` for the API document: what [`user_page_response`]
/// writes (a test checks they agree).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserListResponse {
    /// `cache` when the page came from the cache, `database` otherwise.
    pub source: Source,
    pub data: Vec<UserView>,
    /// Send as `after` (with the same `q`, `sort` and `limit`) for the next page.
    pub next: Option<String>,
    /// Send as `before` for the previous page.
    pub prev: Option<String>,
    /// How many users match `q` (all users without it).
    pub total: i64,
}

/// The response body of `GET /users`: `{"source": …}` followed by the fields of a
/// serialised [`UserPage`], so a cached page is sent without being parsed again.
/// The two parts go out as two chunks of one vectored write: a 300 KB page is
/// neither joined to its head nor copied on its way to the socket.
pub fn user_page_response(source: Source, page: Bytes) -> Response {
    let head = Bytes::from_static(match source {
        Source::Cache => br#"{"source":"cache","#,
        Source::Database => br#"{"source":"database","#,
    });
    let fields = match page.first() {
        Some(b'{') => page.slice(1..),
        _ => page,
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::new(TwoParts([Some(head), Some(fields)])),
    )
        .into_response()
}

/// A body of two byte strings sent one after the other, with its exact length
/// known up front (so the answer carries `Content-Length`, not chunks).
struct TwoParts([Option<Bytes>; 2]);

impl http_body::Body for TwoParts {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = self.0.iter_mut().find_map(Option::take);
        std::task::Poll::Ready(next.map(|part| Ok(http_body::Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let length = self.0.iter().flatten().map(|part| part.len() as u64).sum();
        http_body::SizeHint::with_exact(length)
    }
}

/// A message body, as the original service answered for `/` and deletes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub message: String,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<TokenRow> for TokenView {
    fn from(row: TokenRow) -> Self {
        Self {
            id: row.id,
            label: row.label,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

const DISPLAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

fn display(at: OffsetDateTime) -> String {
    at.format(DISPLAY).unwrap_or_default()
}

fn iso(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl DeletedUserView {
    pub fn deleted_display(&self) -> String {
        display(self.deleted_at)
    }
}

/// Formatting for the HTML pages.
impl UserView {
    pub fn is_disabled(&self) -> bool {
        self.status == "disabled"
    }
    pub fn last_login_display(&self) -> String {
        self.last_login_at.map_or_else(|| "never".into(), display)
    }
    pub fn disabled_at_display(&self) -> String {
        self.disabled_at.map(display).unwrap_or_default()
    }
    pub fn created_at_iso(&self) -> String {
        iso(self.created_at)
    }
    pub fn created_at_display(&self) -> String {
        display(self.created_at)
    }
    pub fn updated_at_iso(&self) -> String {
        iso(self.updated_at)
    }
    pub fn updated_at_display(&self) -> String {
        display(self.updated_at)
    }
}

impl TokenView {
    pub fn created_display(&self) -> String {
        display(self.created_at)
    }
    pub fn last_used_display(&self) -> String {
        self.last_used_at.map_or_else(|| "never".into(), display)
    }
    pub fn revoked_display(&self) -> String {
        self.revoked_at.map(display).unwrap_or_default()
    }
}

/// Who made a change: the admin's email or the token's label at the time.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditActorView {
    /// `admin`, `token`, `cli`, `sql` or `system`.
    pub kind: String,
    pub id: Option<i64>,
    pub label: String,
}

/// What a change was made to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditSubjectView {
    /// `user` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<i64>,
    pub label: String,
}

/// One event of the audit trail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: AuditActorView,
    /// `session`, `token`, `cli`, `import`, `scim`, `sql` or `system`.
    pub via: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// `user.created`, `user.updated`, `token.revoked`, `login.failed`, …
    pub action: String,
    pub subject: AuditSubjectView,
    /// `{"field": [old, new]}` of the fields that changed; a password or a
    /// secret as `"changed"`.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

impl From<AuditRow> for AuditEventView {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: row.at,
            actor: AuditActorView {
                kind: row.actor_kind,
                id: row.actor_id,
                label: row.actor_label,
            },
            via: row.via,
            request_id: row.request_id,
            client_ip: row.client_ip,
            action: row.action,
            subject: AuditSubjectView {
                kind: row.subject_type,
                id: row.subject_id,
                label: row.subject_label,
            },
            changes: row.changes,
        }
    }
}

/// One page of `GET /audit`, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPageView {
    pub data: Vec<AuditEventView>,
    /// Send as `after` (with the same filters) for older events.
    pub next: Option<String>,
}

/// One changed field, for the pages: old and new side by side.
pub struct ChangeLine {
    pub field: String,
    /// `None` when the field had no value (created) or is not shown ("changed").
    pub old: Option<String>,
    pub new: Option<String>,
    /// A password or a secret: only that it changed.
    pub concealed: bool,
}

impl AuditEventView {
    pub fn at_iso(&self) -> String {
        iso(self.at)
    }
    pub fn at_display(&self) -> String {
        display(self.at)
    }

    /// Where the subject is shown, while it exists.
    pub fn subject_href(&self) -> Option<String> {
        match (self.subject.kind.as_str(), self.subject.id) {
            ("user", Some(id)) => Some(format!("/users/{id}")),
            ("token", Some(_)) => Some("/tokens".into()),
            _ => None,
        }
    }

    /// The actor as a line of text: `admin a@b.c`, `token nightly sync`, `sql:postgres`.
    pub fn actor_display(&self) -> String {
        match self.actor.kind.as_str() {
            "sql" => format!("sql:{}", self.actor.label),
            kind => format!("{kind} {}", self.actor.label),
        }
    }

    pub fn change_lines(&self) -> Vec<ChangeLine> {
        let Some(fields) = self.changes.as_object() else {
            return Vec::new();
        };
        let text = |value: &serde_json::Value| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        fields
            .iter()
            .map(
                |(field, change)| match change.as_array().map(Vec::as_slice) {
                    Some([old, new]) => ChangeLine {
                        field: field.clone(),
                        old: text(old),
                        new: text(new),
                        concealed: false,
                    },
                    _ => ChangeLine {
                        field: field.clone(),
                        old: None,
                        new: text(change),
                        concealed: true,
                    },
                },
            )
            .collect()
    }
}

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
}

/// `GET /webhooks/{id}/deliveries`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPageView {
    pub data: Vec<DeliveryView>,
    /// Send as `after` for the next (older) page.
    pub next: Option<String>,
}
