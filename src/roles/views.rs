//! A role as the API and the pages show it.

use serde::Serialize;
use time::OffsetDateTime;

use crate::db::roles::RoleRow;
use crate::domain::{Permission, PermissionSet};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// What holding the role allows, sorted.
    #[schema(value_type = Vec<Permission>)]
    pub permissions: PermissionSet,
    /// `admin`, `helpdesk` and `viewer`: neither editable nor deletable.
    pub builtin: bool,
    /// Users holding it directly.
    pub user_count: i64,
    /// Groups carrying it (their members hold it).
    pub group_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<RoleRow> for RoleView {
    fn from(row: RoleRow) -> Self {
        Self {
            permissions: row.permission_set(),
            id: row.id,
            name: row.name,
            description: row.description,
            builtin: row.builtin,
            user_count: row.user_count,
            group_count: row.group_count,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl RoleView {
    pub fn has(&self, permission: &Permission) -> bool {
        self.permissions.contains(*permission)
    }

    /// Whether anyone holds it, directly or through a group.
    pub fn granted(&self) -> bool {
        self.user_count > 0 || self.group_count > 0
    }

    /// Its permissions, comma-separated, or "none".
    pub fn permissions_display(&self) -> String {
        if self.permissions.is_empty() {
            "none".to_owned()
        } else {
            self.permissions.names().join(", ")
        }
    }

    /// `/users?role=…`: its holders, directly or through a group.
    pub fn holders_href(&self) -> String {
        format!(
            "/users?{}",
            serde_urlencoded::to_string([("role", &self.name)]).unwrap_or_default()
        )
    }
}
