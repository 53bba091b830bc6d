//! Roles and groups as clients name them (SPEC §14): their names and
//! descriptions, parsed once at the edge.

use std::fmt;

use super::PermissionSet;

/// Why a name or description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacter,
}

fn parse_text(raw: &str, max: usize, may_be_empty: bool) -> Result<String, AccessTextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() && !may_be_empty {
        return Err(AccessTextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(AccessTextError::TooLong(max));
    }
    if super::has_control_characters(trimmed, may_be_empty) {
        return Err(AccessTextError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

/// A role's name: trimmed, 1 to 100 characters, unique whatever its case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, AccessTextError> {
        parse_text(raw, Self::MAX_CHARS, false).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A group's name: trimmed, 1 to 100 characters, unique whatever its case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, AccessTextError> {
        parse_text(raw, Self::MAX_CHARS, false).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role's or group's description: trimmed, at most 500 characters, line
/// breaks allowed; empty is none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, AccessTextError> {
        parse_text(raw, Self::MAX_CHARS, true).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new role, or the fields of one to change (`None` keeps a field).
#[derive(Debug, Clone, Default)]
pub struct RoleFields {
    pub name: Option<RoleName>,
    pub description: Option<Description>,
    pub permissions: Option<PermissionSet>,
}

/// A new group, or the fields of one to change (`None` keeps a field;
/// `external_id: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct GroupFields {
    pub name: Option<GroupName>,
    pub description: Option<Description>,
    pub external_id: Option<Option<super::ExternalId>>,
    /// The full list of the group's roles, by name.
    pub roles: Option<Vec<RoleName>>,
}

/// The most members one request may add to a group.
pub const MAX_MEMBERS_PER_REQUEST: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(RoleName::parse("  Support ").unwrap().as_str(), "Support");
        assert_eq!(RoleName::parse(" "), Err(AccessTextError::Empty));
        assert_eq!(
            GroupName::parse(&"x".repeat(101)),
            Err(AccessTextError::TooLong(100))
        );
        assert!(GroupName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            GroupName::parse("a\0b"),
            Err(AccessTextError::ControlCharacter)
        );
        assert_eq!(Description::parse("").unwrap().as_str(), "");
        assert_eq!(
            Description::parse("two\nlines").unwrap().as_str(),
            "two\nlines"
        );
        assert_eq!(
            Description::parse(&"d".repeat(501)),
            Err(AccessTextError::TooLong(500))
        );
    }
}
