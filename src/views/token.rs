use serde::Serialize;
use time::OffsetDateTime;

use super::display;
use crate::db::tokens::TokenRow;

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
