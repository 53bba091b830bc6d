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
    /// The permissions it may use, sorted (it acts with those its owner still
    /// holds); `null` for a token made before scopes existed: every permission
    /// its owner holds.
    #[schema(value_type = Option<Vec<crate::domain::Permission>>)]
    pub scopes: Option<Vec<String>>,
    /// After this it answers 401; `null`: it never expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl From<TokenRow> for TokenView {
    fn from(row: TokenRow) -> Self {
        Self {
            id: row.id,
            label: row.label,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            scopes: row.scopes.map(|names| {
                let mut names = names;
                names.sort_unstable();
                names
            }),
            expires_at: row.expires_at,
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
    pub fn expires_display(&self) -> String {
        self.expires_at.map_or_else(|| "never".into(), display)
    }
    pub fn scopes_display(&self) -> String {
        match &self.scopes {
            None => "all of its owner's".into(),
            Some(names) if names.len() == crate::domain::Permission::ALL.len() => "all".into(),
            Some(names) => names.join(", "),
        }
    }
    /// Whether it has expired by now (the list shows it so).
    pub fn expired(&self) -> bool {
        self.expires_at
            .is_some_and(|at| at <= OffsetDateTime::now_utc())
    }
}
