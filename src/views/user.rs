use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{display, iso};
use crate::db::users::{GroupRef, UserRow};
use crate::domain::UserStatus;

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
    #[schema(value_type = String)]
    pub status: UserStatus,
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    pub external_id: Option<String>,
    /// The roles granted to the user directly (SPEC §14).
    pub roles: Vec<String>,
    /// The groups the user is in.
    pub groups: Vec<GroupRef>,
    /// What the user may do: its roles' and its groups' roles' permissions, sorted.
    pub permissions: Vec<String>,
}

/// The keys of a user object that say what the user may do, beside its
/// fields (`domain::user_fields`): they are kept in their own tables.
pub const ACCESS_KEYS: [&str; 3] = ["roles", "groups", "permissions"];

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
            roles: row.roles,
            groups: row.groups.0,
            permissions: row.permissions,
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

impl DeletedUserView {
    pub fn deleted_display(&self) -> String {
        display(self.deleted_at)
    }
}

/// Formatting for the HTML pages.
impl UserView {
    pub fn is_disabled(&self) -> bool {
        self.status == UserStatus::Disabled
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user_fields::USER_FIELDS;

    /// The user's JSON has a key for every field of the user's field table that
    /// a view shows (all but the deletion time, which `DeletedUserView` adds).
    #[test]
    fn the_json_keys_are_the_field_tables_names() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let view = UserView {
            id: 1,
            name: "Ada".into(),
            email: "ada@example.com".into(),
            is_admin: false,
            created_at: at,
            updated_at: at,
            version: 1,
            status: UserStatus::Active,
            disabled_reason: None,
            disabled_at: None,
            last_login_at: None,
            external_id: None,
            roles: vec![],
            groups: vec![],
            permissions: vec![],
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["status"], "active");
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|key| !ACCESS_KEYS.contains(key))
            .collect();
        let mut named: Vec<&str> = USER_FIELDS
            .iter()
            .map(|spec| spec.name)
            .filter(|name| *name != "deleted_at")
            .collect();
        keys.sort_unstable();
        named.sort_unstable();
        assert_eq!(keys, named);
    }
}
