//! PATCH of a group (RFC 7644 §3.5.2): `add`, `replace` and `remove` on
//! `displayName`, `externalId` and `members`, as Okta and Microsoft Entra send
//! them, folded into one change that the write path makes in one transaction.
//!
//! * `add` of `members`: those users join.
//! * `remove` with path `members[value eq "<id>"]`: exactly that member goes.
//! * `remove` with path `members` and a value list (Entra): only those listed
//!   go; without a value, every member goes.
//! * `replace` of `members`: the list is the new full membership.
//! * op names in any letter case; without a path, the value is an object of
//!   attributes (`{"displayName": "…"}`).

use serde_json::{Map, Value};

use super::{
    error::{ScimError, ScimType},
    group::{member_ids, parse_name, roles_refused},
    user::{field, parse_external_id, string_value},
};
use crate::{
    domain::scim_filter::{parse_member_path_filter, strip_group_schema},
    write::{MemberChanges, ScimGroupChange},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Where an operation applies.
#[derive(Debug)]
enum Target {
    DisplayName,
    ExternalId,
    Members,
    /// `members[value eq "…"]`: these members.
    MembersNamed(Vec<i64>),
    /// `id`, `meta`, `schemas`: the service sets them.
    ReadOnly(String),
    /// Not SCIM's to write.
    Roles,
    /// An attribute the service does not keep: accepted and ignored.
    Ignored,
}

fn parse_target(path: &str) -> Result<Target, ScimError> {
    let invalid =
        |why: String| ScimError::bad_request(ScimType::InvalidPath, format!("path '{path}' {why}"));
    let stripped = strip_group_schema(path.trim());
    if stripped.is_empty() {
        return Err(invalid("is empty".into()));
    }
    if let Some(open) = stripped.find('[') {
        let attribute = &stripped[..open];
        let rest = &stripped[open + 1..];
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| invalid("must end with ']'".into()))?;
        if !attribute.eq_ignore_ascii_case("members") {
            return Err(invalid(
                "has a filter; only members[value eq \"…\"] does".into(),
            ));
        }
        let values = parse_member_path_filter(inner).map_err(|e| {
            ScimError::bad_request(ScimType::InvalidFilter, format!("path '{path}': {e}"))
        })?;
        let ids = values
            .iter()
            .map(|value| member_ids(&serde_json::json!([{ "value": value }])))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        return Ok(Target::MembersNamed(ids));
    }
    Ok(match stripped.to_ascii_lowercase().as_str() {
        "displayname" => Target::DisplayName,
        "externalid" => Target::ExternalId,
        "members" => Target::Members,
        "roles" => Target::Roles,
        "id" | "meta" | "schemas" => Target::ReadOnly(stripped.to_owned()),
        _ if stripped.to_ascii_lowercase().starts_with("members.") => {
            return Err(invalid(
                "names a member's sub-attribute, which cannot be written".into(),
            ));
        }
        _ => Target::Ignored,
    })
}

/// The change the operations add up to.
#[derive(Debug, Default)]
struct Draft {
    change: ScimGroupChange,
}

impl Draft {
    fn join(&mut self, ids: Vec<i64>) {
        let members = &mut self.change.members;
        members.remove.retain(|id| !ids.contains(id));
        for id in ids {
            if !members.add.contains(&id) {
                members.add.push(id);
            }
        }
    }

    fn leave(&mut self, ids: Vec<i64>) {
        let members = &mut self.change.members;
        members.add.retain(|id| !ids.contains(id));
        for id in ids {
            if !members.remove.contains(&id) {
                members.remove.push(id);
            }
        }
    }

    fn set_members(&mut self, ids: Vec<i64>) {
        self.change.members = MemberChanges {
            add: Vec::new(),
            remove: Vec::new(),
            replace: true,
        };
        self.join(ids);
    }

    fn apply(&mut self, op: Op, target: Target, value: Option<&Value>) -> Result<(), ScimError> {
        let needs_value = || {
            value.filter(|v| !v.is_null()).ok_or_else(|| {
                ScimError::bad_request(ScimType::InvalidSyntax, "add and replace need a value")
            })
        };
        let text = |attribute: &str| -> Result<Option<String>, ScimError> {
            value
                .map(|v| string_value(v, attribute))
                .transpose()
                .map(Option::flatten)
        };
        match (target, op) {
            (Target::DisplayName, Op::Remove) => {
                return Err(ScimError::invalid_value(
                    "displayName is required and cannot be removed",
                ));
            }
            (Target::DisplayName, _) => {
                needs_value()?;
                self.change.name = Some(parse_name(text("displayName")?)?);
            }
            (Target::ExternalId, Op::Remove) => self.change.external_id = Some(None),
            (Target::ExternalId, _) => {
                needs_value()?;
                self.change.external_id = Some(parse_external_id(text("externalId")?.as_deref())?);
            }
            (Target::Members, Op::Add) => self.join(member_ids(needs_value()?)?),
            (Target::Members, Op::Replace) => self.set_members(member_ids(needs_value()?)?),
            // Entra removes some members with the path `members` and a list.
            (Target::Members, Op::Remove) => match value.filter(|v| !v.is_null()) {
                Some(listed) => self.leave(member_ids(listed)?),
                None => self.set_members(Vec::new()),
            },
            (Target::MembersNamed(ids), Op::Remove) => self.leave(ids),
            (Target::MembersNamed(_), _) => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidPath,
                    "a members[value eq \"…\"] path can only be removed",
                ));
            }
            (Target::ReadOnly(attribute), _) => {
                return Err(ScimError::bad_request(
                    ScimType::Mutability,
                    format!("{attribute} is read-only"),
                ));
            }
            (Target::Roles, _) => return Err(roles_refused()),
            (Target::Ignored, _) => {}
        }
        Ok(())
    }

    /// An operation without a path: its value names attributes.
    fn apply_object(&mut self, op: Op, attributes: &Map<String, Value>) -> Result<(), ScimError> {
        for (key, value) in attributes {
            let target = parse_target(key)?;
            // A whole resource sent back: its read-only parts are ignored.
            if matches!(target, Target::ReadOnly(_)) {
                continue;
            }
            self.apply(op, target, Some(value))?;
        }
        Ok(())
    }
}

fn parse_op(operation: &Map<String, Value>) -> Result<Op, ScimError> {
    match field(operation, "op") {
        Some(Value::String(op)) if op.eq_ignore_ascii_case("add") => Ok(Op::Add),
        Some(Value::String(op)) if op.eq_ignore_ascii_case("replace") => Ok(Op::Replace),
        Some(Value::String(op)) if op.eq_ignore_ascii_case("remove") => Ok(Op::Remove),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "op must be add, replace or remove",
        )),
    }
}

/// A PatchOp body, as one change.
pub fn parse(body: &Value) -> Result<ScimGroupChange, ScimError> {
    let syntax = |detail: &str| ScimError::bad_request(ScimType::InvalidSyntax, detail);
    let Value::Object(body) = body else {
        return Err(syntax("the body must be a PatchOp object"));
    };
    let Some(Value::Array(operations)) = field(body, "Operations") else {
        return Err(syntax("Operations must be a list of operations"));
    };
    if operations.is_empty() {
        return Err(syntax("Operations is empty"));
    }
    let mut draft = Draft::default();
    for operation in operations {
        let Value::Object(operation) = operation else {
            return Err(syntax("each operation must be an object"));
        };
        let op = parse_op(operation)?;
        let value = field(operation, "value");
        match field(operation, "path") {
            Some(Value::String(path)) => draft.apply(op, parse_target(path)?, value)?,
            None | Some(Value::Null) => match (op, value) {
                (Op::Remove, _) => {
                    return Err(ScimError::bad_request(
                        ScimType::NoTarget,
                        "remove needs a path",
                    ));
                }
                (_, Some(Value::Object(attributes))) => draft.apply_object(op, attributes)?,
                _ => {
                    return Err(ScimError::invalid_value(
                        "without a path, the value must be an object of attributes",
                    ));
                }
            },
            Some(_) => return Err(syntax("path must be a string")),
        }
    }
    let members = &draft.change.members;
    if members.add.len() + members.remove.len() > super::group::MAX_MEMBERS {
        return Err(ScimError::invalid_value(format!(
            "members: at most {} in one request",
            super::group::MAX_MEMBERS
        )));
    }
    Ok(draft.change)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(operations: Value) -> Result<ScimGroupChange, ScimError> {
        parse(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations}),
        )
    }

    fn members(change: &ScimGroupChange) -> (Vec<i64>, Vec<i64>, bool) {
        let m = &change.members;
        (m.add.clone(), m.remove.clone(), m.replace)
    }

    #[test]
    fn entra_adds_and_removes_listed_members_with_capitalised_ops() {
        let change = patch(json!([
            {"op": "Add", "path": "members", "value": [{"value": "1"}, {"value": "2"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "3"}]}
        ]))
        .unwrap();
        assert_eq!(members(&change), (vec![1, 2], vec![3], false));
        assert!(change.name.is_none());
    }

    #[test]
    fn a_value_path_removes_exactly_that_member() {
        let change = patch(json!([
            {"op": "remove", "path": "members[value eq \"7\"]"}
        ]))
        .unwrap();
        assert_eq!(members(&change), (vec![], vec![7], false));
        let all = patch(json!([{"op": "REMOVE", "path": "members"}])).unwrap();
        assert_eq!(members(&all), (vec![], vec![], true));
        let bad =
            patch(json!([{"op": "remove", "path": "members[display eq \"x\"]"}])).unwrap_err();
        assert_eq!(bad.scim_type, Some(ScimType::InvalidFilter));
        let add = patch(json!([{"op": "add", "path": "members[value eq \"7\"]", "value": "x"}]))
            .unwrap_err();
        assert_eq!(add.scim_type, Some(ScimType::InvalidPath));
    }

    #[test]
    fn later_operations_win_over_earlier_ones() {
        let change = patch(json!([
            {"op": "add", "path": "members", "value": [{"value": "1"}, {"value": "2"}]},
            {"op": "remove", "path": "members[value eq \"2\"]"},
            {"op": "replace", "path": "members", "value": [{"value": "5"}]},
            {"op": "add", "path": "members", "value": [{"value": "6"}]}
        ]))
        .unwrap();
        assert_eq!(members(&change), (vec![5, 6], vec![], true));
    }

    #[test]
    fn names_and_external_ids_with_or_without_a_path() {
        let change = patch(json!([
            {"op": "Replace", "value": {"displayName": "Sales EMEA", "id": "9"}},
            {"op": "replace", "path": "externalId", "value": "e-1"}
        ]))
        .unwrap();
        assert_eq!(change.name.unwrap().as_str(), "Sales EMEA");
        assert_eq!(change.external_id.unwrap().unwrap().as_str(), "e-1");
        let cleared = patch(json!([{"op": "remove", "path": "externalId"}])).unwrap();
        assert_eq!(cleared.external_id, Some(None));
        let refused = patch(json!([{"op": "remove", "path": "displayName"}])).unwrap_err();
        assert_eq!(refused.scim_type, Some(ScimType::InvalidValue));
        let roles = patch(json!([{"op": "add", "path": "roles", "value": ["admin"]}])).unwrap_err();
        assert_eq!(roles.scim_type, Some(ScimType::Mutability));
        let id = patch(json!([{"op": "replace", "path": "id", "value": "1"}])).unwrap_err();
        assert_eq!(id.scim_type, Some(ScimType::Mutability));
        let unknown = patch(json!([{"op": "add", "path": "members", "value": [{"value": "x"}]}]))
            .unwrap_err();
        assert_eq!(unknown.scim_type, Some(ScimType::InvalidValue));
    }
}
