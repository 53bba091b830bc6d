//! A group as a SCIM resource (RFC 7643 §4.2): what is sent out, and what a
//! create or replace body may carry, parsed into the service's typed values.
//!
//! `displayName` is the group's name; `members` are users, by id. The group's
//! description and roles are the service's own: SCIM neither shows nor writes
//! them (a body naming `roles` is refused).

use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    GROUP_SCHEMA,
    error::{ScimError, ScimType},
    user::{Meta, field, parse_external_id, string_value, timestamp, weak_etag},
};
use crate::{
    db::groups::{GroupRow, MemberRef},
    domain::{ExternalId, GroupName},
};

/// The most members one request may name (a PUT names them all).
pub const MAX_MEMBERS: usize = 10_000;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroup {
    pub schemas: [&'static str; 1],
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub display_name: String,
    pub members: Vec<ScimMember>,
    pub meta: Meta,
}

#[derive(Debug, Serialize)]
pub struct ScimMember {
    pub value: String,
    #[serde(rename = "$ref")]
    pub reference: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub display: String,
}

impl ScimGroup {
    /// `base` is where `/scim/v2` is: absolute under `PUBLIC_URL`, else relative.
    pub fn from_row(row: &GroupRow, members: &[MemberRef], base: &str) -> Self {
        Self {
            schemas: [GROUP_SCHEMA],
            id: row.id.to_string(),
            external_id: row.external_id.clone(),
            display_name: row.name.clone(),
            members: members
                .iter()
                .map(|member| ScimMember {
                    value: member.id.to_string(),
                    reference: format!("{base}/Users/{}", member.id),
                    kind: "User",
                    display: member.email.clone(),
                })
                .collect(),
            meta: Meta {
                resource_type: "Group",
                created: timestamp(row.created_at),
                last_modified: timestamp(row.updated_at),
                location: format!("{base}/Groups/{}", row.id),
                version: weak_etag(row.version),
            },
        }
    }
}

pub fn parse_name(raw: Option<String>) -> Result<GroupName, ScimError> {
    let raw = raw.ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    GroupName::parse(&raw).map_err(|e| ScimError::invalid_value(format!("displayName {e}")))
}

/// A member's `value`: a user's id. Anything that is no user id is refused
/// naming it.
fn member_id(raw: &str) -> Result<i64, ScimError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ScimError::invalid_value(format!("members value {raw:?} is not a user")))
}

/// The user ids a `members` value names: a list of `{"value": "<id>"}` (one
/// such object alone is read as a list of one; `null` as none).
pub fn member_ids(value: &Value) -> Result<Vec<i64>, ScimError> {
    let entries = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(entries) => entries.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => return Err(ScimError::invalid_value("members must be a list")),
    };
    if entries.len() > MAX_MEMBERS {
        return Err(ScimError::invalid_value(format!(
            "members: at most {MAX_MEMBERS} in one request"
        )));
    }
    entries
        .iter()
        .map(|entry| {
            let Value::Object(entry) = entry else {
                return Err(ScimError::invalid_value(
                    "each of members must be an object with a value",
                ));
            };
            match field(entry, "value") {
                Some(Value::String(raw)) => member_id(raw),
                Some(Value::Number(number)) => member_id(&number.to_string()),
                _ => Err(ScimError::invalid_value(
                    "each of members needs a value (the user's id)",
                )),
            }
        })
        .collect()
}

/// A group's roles are the service's: SCIM may not name them.
pub fn refuse_roles(object: &Map<String, Value>) -> Result<(), ScimError> {
    match field(object, "roles") {
        None => Ok(()),
        Some(_) => Err(roles_refused()),
    }
}

pub fn roles_refused() -> ScimError {
    ScimError::bad_request(
        ScimType::Mutability,
        "roles: a group's roles are granted in useradmin, not through SCIM",
    )
}

/// A create or replace body, parsed.
#[derive(Debug)]
pub struct GroupInput {
    pub name: GroupName,
    pub external_id: Option<ExternalId>,
    /// `None` when the body has no `members`: a replace then keeps them (an
    /// empty list empties the group).
    pub members: Option<Vec<i64>>,
}

impl GroupInput {
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(body) = body else {
            return Err(ScimError::bad_request(
                ScimType::InvalidSyntax,
                "the body must be a JSON object",
            ));
        };
        refuse_roles(body)?;
        let text = |key: &str| -> Result<Option<String>, ScimError> {
            field(body, key)
                .map(|v| string_value(v, key))
                .transpose()
                .map(Option::flatten)
        };
        Ok(Self {
            name: parse_name(text("displayName")?)?,
            external_id: parse_external_id(text("externalId")?.as_deref())?,
            members: field(body, "members").map(member_ids).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_group_needs_a_display_name_and_members_that_are_user_ids() {
        let input = GroupInput::parse(&json!({"displayName": " Sales ", "externalId": "okta-g1",
            "members": [{"value": "3", "display": "x"}, {"value": 4}]}))
        .unwrap();
        assert_eq!(input.name.as_str(), "Sales");
        assert_eq!(input.external_id.unwrap().as_str(), "okta-g1");
        assert_eq!(input.members, Some(vec![3, 4]));
        let missing = GroupInput::parse(&json!({"members": []})).unwrap_err();
        assert_eq!(missing.scim_type, Some(ScimType::InvalidValue));
        assert!(missing.detail.contains("displayName"));
        let bad = GroupInput::parse(&json!({"displayName": "S", "members": [{"value": "u-1"}]}))
            .unwrap_err();
        assert!(bad.detail.contains("\"u-1\""), "{}", bad.detail);
        let roles =
            GroupInput::parse(&json!({"displayName": "S", "roles": ["admin"]})).unwrap_err();
        assert_eq!(roles.scim_type, Some(ScimType::Mutability));
    }
}
