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

use super::extract::etag;
use crate::db::{tokens::TokenRow, users::UserRow};

/// A user in JSON (SPEC §4).
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
        }
    }
}

impl IntoResponse for UserView {
    /// The user with its `ETag`, so a client can send it back in `If-Match`.
    fn into_response(self) -> Response {
        let tag = HeaderValue::from_str(&etag(self.version)).expect("digits and quotes are valid");
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
pub fn user_page_response(source: Source, page: &[u8]) -> Response {
    let fields = page.strip_prefix(b"{").unwrap_or(page);
    let head: &[u8] = match source {
        Source::Cache => br#"{"source":"cache","#,
        Source::Database => br#"{"source":"database","#,
    };
    let mut body = Vec::with_capacity(head.len() + fields.len());
    body.extend_from_slice(head);
    body.extend_from_slice(fields);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
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

/// Formatting for the HTML pages.
impl UserView {
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
