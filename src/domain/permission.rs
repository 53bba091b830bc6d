//! What an actor may do (SPEC §14): one fixed list of permissions, and a set of
//! them as a bitset, so a request's check is one bit test.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One permission, named in the API by its dotted string (`users.read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    UsersRead,
    UsersWrite,
    UsersLifecycle,
    UsersPurge,
    CredentialsReset,
    GroupsManage,
    RolesManage,
    TokensManage,
    WebhooksManage,
    AuditRead,
    ScimProvision,
}

impl Permission {
    /// Every permission, in the order of their names.
    pub const ALL: [Permission; 11] = [
        Permission::AuditRead,
        Permission::CredentialsReset,
        Permission::GroupsManage,
        Permission::RolesManage,
        Permission::ScimProvision,
        Permission::TokensManage,
        Permission::UsersLifecycle,
        Permission::UsersPurge,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::WebhooksManage,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users.read",
            Self::UsersWrite => "users.write",
            Self::UsersLifecycle => "users.lifecycle",
            Self::UsersPurge => "users.purge",
            Self::CredentialsReset => "credentials.reset",
            Self::GroupsManage => "groups.manage",
            Self::RolesManage => "roles.manage",
            Self::TokensManage => "tokens.manage",
            Self::WebhooksManage => "webhooks.manage",
            Self::AuditRead => "audit.read",
            Self::ScimProvision => "scim.provision",
        }
    }

    /// The permission with this exact name (lower case, dotted).
    pub fn parse(name: &str) -> Result<Self, UnknownPermission> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| UnknownPermission(name.chars().take(100).collect()))
    }

    /// Its bit in a [`PermissionSet`]: its place in [`Self::ALL`], so a set
    /// iterates in name order.
    const fn bit(self) -> u16 {
        1 << match self {
            Self::AuditRead => 0,
            Self::CredentialsReset => 1,
            Self::GroupsManage => 2,
            Self::RolesManage => 3,
            Self::ScimProvision => 4,
            Self::TokensManage => 5,
            Self::UsersLifecycle => 6,
            Self::UsersPurge => 7,
            Self::UsersRead => 8,
            Self::UsersWrite => 9,
            Self::WebhooksManage => 10,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a permission")]
pub struct UnknownPermission(pub String);

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Permission {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.map(Self::as_str)))
            .description(Some("a permission (SPEC §14)"))
            .into()
    }
}

impl utoipa::ToSchema for Permission {}

/// A set of permissions: a bitset, copied freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u16);

impl PermissionSet {
    pub const EMPTY: Self = Self(0);

    /// Every permission (an admin's, today).
    pub const ALL: Self = {
        let mut bits = 0;
        let mut i = 0;
        while i < Permission::ALL.len() {
            bits |= Permission::ALL[i].bit();
            i += 1;
        }
        Self(bits)
    };

    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `other` is in this set.
    pub const fn includes(self, other: Self) -> bool {
        other.0 & !self.0 == 0
    }

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub const fn with(self, permission: Permission) -> Self {
        Self(self.0 | permission.bit())
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Its permissions, sorted by name.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// The first permission of `other` (by name) that this set lacks.
    pub fn first_missing(self, other: Self) -> Option<Permission> {
        other.iter().find(|p| !self.contains(*p))
    }

    /// Names as stored (`text[]`) and shown.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_owned()).collect()
    }

    /// The permissions among these names, ignoring any that is no permission
    /// (a name stored by hand grants nothing).
    pub fn parse_known<S: AsRef<str>>(names: &[S]) -> Self {
        names
            .iter()
            .filter_map(|name| Permission::parse(name.as_ref()).ok())
            .collect()
    }

    /// Parses every name; the first unknown one is the error.
    pub fn parse_all<S: AsRef<str>>(names: &[S]) -> Result<Self, UnknownPermission> {
        names
            .iter()
            .map(|name| Permission::parse(name.as_ref()))
            .try_fold(Self::EMPTY, |set, p| Ok(set.with(p?)))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_parses_from_its_name_and_all_is_sorted() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Ok(p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.as_str())
            );
        }
        let names: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 11);
        assert!(Permission::parse("Users.Read").is_err());
        assert!(Permission::parse("admin").is_err());
        assert!(serde_json::from_str::<Permission>("\"users.purge\"").is_ok());
        assert!(serde_json::from_str::<Permission>("\"users.everything\"").is_err());
    }

    #[test]
    fn a_set_unions_intersects_and_iterates_in_name_order() {
        let reader = PermissionSet::EMPTY.with(Permission::UsersRead);
        let writer: PermissionSet = [Permission::UsersWrite, Permission::AuditRead]
            .into_iter()
            .collect();
        let both = reader.union(writer);
        assert!(both.contains(Permission::UsersRead) && both.contains(Permission::UsersWrite));
        assert!(!both.contains(Permission::UsersPurge));
        assert_eq!(both.intersection(reader), reader);
        assert!(both.includes(reader) && !reader.includes(both));
        assert_eq!(reader.first_missing(both), Some(Permission::AuditRead));
        assert_eq!(both.names(), ["audit.read", "users.read", "users.write"]);
        assert_eq!(PermissionSet::ALL.iter().count(), 11);
        assert!(PermissionSet::ALL.includes(both));
        assert!(PermissionSet::EMPTY.is_empty());
        assert_eq!(
            PermissionSet::parse_all(&["users.read", "users.read"]),
            Ok(reader)
        );
        assert!(PermissionSet::parse_all(&["users.read", "nope"]).is_err());
        assert_eq!(
            serde_json::to_value(both).unwrap(),
            serde_json::json!(["audit.read", "users.read", "users.write"])
        );
    }
}
