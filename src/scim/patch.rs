//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations, with
//! paths and value filters, applied to a user's writable attributes in memory.
//! The result is a new [`UserState`]; the handler writes the difference.
//!
//! Real providers' forms are accepted: op names in any letter case
//! (`"Replace"`), `active` as a string, `emails[type eq "work"].value`, and
//! operations without a path whose value names attributes with dots.

use serde_json::Value;

use super::{
    error::{ScimError, ScimType},
    filter::{Attribute, Filter, strip_schema},
    user::{
        EMAIL_TYPE, UserState, active_value, field, name_from_parts, parse_email,
        parse_external_id, parse_name, primary_email, string_value,
    },
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
    UserName,
    DisplayName,
    /// `name`, or one of its parts.
    Name(Option<String>),
    Emails {
        filter: Option<Filter>,
        sub: Option<String>,
    },
    Active,
    ExternalId,
    /// `id`, `meta`, `schemas`: the service sets them.
    ReadOnly(String),
    /// An attribute the service does not keep (the enterprise extension, phone
    /// numbers, …): accepted and ignored.
    Ignored,
}

fn parse_target(path: &str) -> Result<Target, ScimError> {
    let invalid =
        |why: &str| ScimError::bad_request(ScimType::InvalidPath, format!("path '{path}' {why}"));
    let stripped = strip_schema(path.trim());
    if stripped.is_empty() {
        return Err(invalid("is empty"));
    }
    // Another schema's attribute (the enterprise extension): not kept.
    if stripped.len() >= 4 && stripped[..4].eq_ignore_ascii_case("urn:") {
        return Ok(Target::Ignored);
    }
    let (attribute, filter, sub) = match stripped.find('[') {
        Some(open) => {
            let close = stripped
                .rfind(']')
                .filter(|close| *close > open)
                .ok_or_else(|| invalid("has an unclosed '['"))?;
            let rest = &stripped[close + 1..];
            let sub = match rest {
                "" => None,
                _ => Some(
                    rest.strip_prefix('.')
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| invalid("has something after ']' that is not .attribute"))?
                        .to_owned(),
                ),
            };
            (&stripped[..open], Some(&stripped[open + 1..close]), sub)
        }
        None => match stripped.split_once('.') {
            Some((attribute, sub)) => (attribute, None, Some(sub.to_owned())),
            None => (stripped, None, None),
        },
    };
    let lower = attribute.to_ascii_lowercase();
    if filter.is_some() && lower != "emails" {
        return Ok(Target::Ignored);
    }
    Ok(match lower.as_str() {
        "username" => Target::UserName,
        "displayname" => Target::DisplayName,
        "name" => Target::Name(sub.map(|s| s.to_ascii_lowercase())),
        "emails" => Target::Emails {
            filter: filter
                .map(|text| {
                    Filter::parse_in_emails(text).map_err(|e| {
                        ScimError::bad_request(
                            ScimType::InvalidFilter,
                            format!("path '{path}': {e}"),
                        )
                    })
                })
                .transpose()?,
            sub: sub.map(|s| s.to_ascii_lowercase()),
        },
        "active" => Target::Active,
        "externalid" => Target::ExternalId,
        "id" | "meta" | "schemas" => Target::ReadOnly(attribute.to_owned()),
        _ => Target::Ignored,
    })
}

/// The writable attributes while operations apply, as text.
#[derive(Debug, Clone)]
struct Draft {
    user_name: String,
    email: String,
    formatted: Option<String>,
    display_name: Option<String>,
    given: Option<String>,
    family: Option<String>,
    active: bool,
    external_id: Option<String>,
}

impl Draft {
    fn of(state: &UserState) -> Self {
        Self {
            user_name: state.email.as_str().to_owned(),
            email: state.email.as_str().to_owned(),
            formatted: Some(state.name.as_str().to_owned()),
            display_name: Some(state.name.as_str().to_owned()),
            given: None,
            family: None,
            active: state.active,
            external_id: state.external_id.as_ref().map(|id| id.as_str().to_owned()),
        }
    }

    /// The user's one email as a `[…]` filter sees it.
    fn email_entry(&self) -> impl Fn(Attribute) -> super::filter::Value + '_ {
        use super::filter::Value;
        move |attribute| match attribute {
            Attribute::EmailValue => Value::Text(self.email.clone()),
            Attribute::EmailType => Value::Text(EMAIL_TYPE.to_owned()),
            Attribute::EmailPrimary => Value::Boolean(true),
            _ => Value::Null,
        }
    }

    fn apply(&mut self, op: Op, target: &Target, value: Option<&Value>) -> Result<(), ScimError> {
        let value = match (op, value) {
            (Op::Remove, _) => None,
            (_, Some(value)) => Some(value),
            (_, None) => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidSyntax,
                    "add and replace need a value",
                ));
            }
        };
        let text = |attribute: &str| -> Result<Option<String>, ScimError> {
            value
                .map(|v| string_value(v, attribute))
                .transpose()
                .map(Option::flatten)
        };
        match target {
            Target::UserName => {
                self.user_name = text("userName")?.ok_or_else(|| required("userName"))?;
            }
            Target::DisplayName => self.display_name = text("displayName")?,
            Target::Name(None) => match value {
                None | Some(Value::Null) => self.formatted = None,
                Some(Value::Object(name)) => {
                    for (part, slot) in [
                        ("formatted", &mut self.formatted),
                        ("givenName", &mut self.given),
                        ("familyName", &mut self.family),
                    ] {
                        if let Some(v) = field(name, part) {
                            *slot = string_value(v, &format!("name.{part}"))?;
                        }
                    }
                }
                Some(_) => return Err(ScimError::invalid_value("name must be an object")),
            },
            Target::Name(Some(part)) => match part.as_str() {
                "formatted" => self.formatted = text("name.formatted")?,
                "givenname" => self.given = text("name.givenName")?,
                "familyname" => self.family = text("name.familyName")?,
                _ => {}
            },
            Target::Emails { filter, sub } => {
                if let Some(filter) = filter
                    && !filter.matches(&self.email_entry())
                {
                    return Err(ScimError::bad_request(
                        ScimType::NoTarget,
                        "no email matches the path's filter",
                    ));
                }
                let Some(value) = value else {
                    return Err(ScimError::invalid_value(
                        "emails cannot be removed: the email is the userName",
                    ));
                };
                let email = match (sub.as_deref(), filter) {
                    (Some("value"), _) => string_value(value, "emails.value")?,
                    // type, primary, display: the one email is work and primary.
                    (Some(_), _) => return Ok(()),
                    (None, Some(_)) => match value {
                        Value::Object(entry) => field(entry, "value")
                            .map(|v| string_value(v, "emails.value"))
                            .transpose()?
                            .flatten(),
                        _ => return Err(ScimError::invalid_value("expected an email object")),
                    },
                    (None, None) => match value {
                        Value::Object(_) => primary_email(&Value::Array(vec![value.clone()]))?,
                        _ => primary_email(value)?,
                    },
                };
                self.email = email.ok_or_else(|| required("emails.value"))?;
            }
            Target::Active => {
                self.active = value
                    .map(active_value)
                    .transpose()?
                    .ok_or_else(|| required("active"))?;
            }
            Target::ExternalId => self.external_id = text("externalId")?,
            Target::ReadOnly(attribute) => {
                return Err(ScimError::bad_request(
                    ScimType::Mutability,
                    format!("{attribute} is read-only"),
                ));
            }
            Target::Ignored => {}
        }
        Ok(())
    }

    /// The state the operations lead to. `userName` and the primary email are
    /// one value: changing either changes both, and changing both differently
    /// is refused.
    fn conclude(self, before: &UserState) -> Result<UserState, ScimError> {
        let old_email = before.email.as_str();
        let email = match (self.user_name != old_email, self.email != old_email) {
            (true, true)
                if !self
                    .user_name
                    .trim()
                    .eq_ignore_ascii_case(self.email.trim()) =>
            {
                return Err(ScimError::invalid_value(
                    "userName and the primary email must be the same address",
                ));
            }
            (true, _) => parse_email(&self.user_name, "userName")?,
            (false, true) => parse_email(&self.email, "emails.value")?,
            (false, false) => before.email.clone(),
        };
        let old_name = Some(before.name.as_str().to_owned());
        let formatted = (self.formatted != old_name).then_some(self.formatted.as_deref());
        let display = (self.display_name != old_name).then_some(self.display_name.as_deref());
        let parts_given = self.given.is_some() || self.family.is_some();
        let name = match (formatted, display) {
            (Some(Some(name)), _) | (_, Some(Some(name))) => parse_name(name, "name")?,
            _ if parts_given => {
                let joined =
                    name_from_parts(None, None, self.given.as_deref(), self.family.as_deref())
                        .ok_or_else(|| required("name"))?;
                parse_name(&joined, "name")?
            }
            (Some(None), _) | (_, Some(None)) => return Err(required("name")),
            (None, None) => before.name.clone(),
        };
        Ok(UserState {
            email,
            name,
            active: self.active,
            external_id: parse_external_id(self.external_id.as_deref())?,
        })
    }
}

fn required(attribute: &str) -> ScimError {
    ScimError::invalid_value(format!("{attribute} is required and cannot be removed"))
}

/// Applies a PatchOp body to `before`.
pub fn apply(before: &UserState, body: &Value) -> Result<UserState, ScimError> {
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
    let mut draft = Draft::of(before);
    for operation in operations {
        let Value::Object(operation) = operation else {
            return Err(syntax("each operation must be an object"));
        };
        let op = match field(operation, "op") {
            Some(Value::String(op)) if op.eq_ignore_ascii_case("add") => Op::Add,
            Some(Value::String(op)) if op.eq_ignore_ascii_case("replace") => Op::Replace,
            Some(Value::String(op)) if op.eq_ignore_ascii_case("remove") => Op::Remove,
            _ => return Err(syntax("op must be add, replace or remove")),
        };
        let value = field(operation, "value");
        match field(operation, "path") {
            Some(Value::String(path)) => draft.apply(op, &parse_target(path)?, value)?,
            None | Some(Value::Null) => {
                if op == Op::Remove {
                    return Err(ScimError::bad_request(
                        ScimType::NoTarget,
                        "remove needs a path",
                    ));
                }
                let Some(Value::Object(attributes)) = value else {
                    return Err(ScimError::invalid_value(
                        "without a path, the value must be an object of attributes",
                    ));
                };
                for (key, value) in attributes {
                    let target = parse_target(key)?;
                    // A whole resource sent back: its read-only parts are ignored.
                    if matches!(target, Target::ReadOnly(_)) {
                        continue;
                    }
                    draft.apply(op, &target, Some(value))?;
                }
            }
            Some(_) => return Err(syntax("path must be a string")),
        }
    }
    draft.conclude(before)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{ExternalId, UserEmail, UserName};

    fn ada() -> UserState {
        UserState {
            email: UserEmail::parse("ada@example.com").unwrap(),
            name: UserName::parse("Ada Lovelace").unwrap(),
            active: true,
            external_id: Some(ExternalId::parse("okta-1").unwrap()),
        }
    }

    fn patch(operations: Value) -> Result<UserState, ScimError> {
        apply(
            &ada(),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}),
        )
    }

    #[test]
    fn entra_capitalised_ops_and_string_booleans() {
        let after = patch(json!([{"op": "Replace", "path": "active", "value": "False"}])).unwrap();
        assert!(!after.active);
        let after = patch(json!([{"op": "Replace", "value": {"active": "True"}}])).unwrap();
        assert!(after.active);
    }

    #[test]
    fn entra_email_value_path_changes_the_user_name_too() {
        let after = patch(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"}
        ]))
        .unwrap();
        assert_eq!(after.email.as_str(), "ada@new.example");
        let missed = patch(json!([
            {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@example.com"}
        ]))
        .unwrap_err();
        assert_eq!(missed.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn user_name_and_email_must_agree() {
        let both = patch(json!([
            {"op": "replace", "path": "userName", "value": "a@new.example"},
            {"op": "replace", "path": "emails", "value": [{"value": "b@new.example", "primary": true}]}
        ]))
        .unwrap_err();
        assert_eq!(both.scim_type, Some(ScimType::InvalidValue));
        let same = patch(json!([
            {"op": "replace", "path": "userName", "value": "a@new.example"},
            {"op": "replace", "path": "emails", "value": [{"value": "A@new.example", "primary": true}]}
        ]))
        .unwrap();
        assert_eq!(same.email.as_str(), "a@new.example");
    }

    #[test]
    fn names_and_external_ids() {
        let after = patch(json!([
            {"op": "replace", "value": {"name.givenName": "Augusta", "name.familyName": "King"}}
        ]))
        .unwrap();
        assert_eq!(after.name.as_str(), "Augusta King");
        let after =
            patch(json!([{"op": "add", "path": "displayName", "value": "Countess"}])).unwrap();
        assert_eq!(after.name.as_str(), "Countess");
        let after = patch(json!([{"op": "remove", "path": "externalId"}])).unwrap();
        assert_eq!(after.external_id, None);
        assert!(patch(json!([{"op": "remove", "path": "userName"}])).is_err());
        assert!(patch(json!([{"op": "remove", "path": "displayName"}])).is_err());
    }

    #[test]
    fn read_only_and_malformed_operations_are_refused() {
        let id = patch(json!([{"op": "replace", "path": "id", "value": "7"}])).unwrap_err();
        assert_eq!(id.scim_type, Some(ScimType::Mutability));
        let op = patch(json!([{"op": "move", "path": "active", "value": true}])).unwrap_err();
        assert_eq!(op.scim_type, Some(ScimType::InvalidSyntax));
        let no_path = patch(json!([{"op": "remove"}])).unwrap_err();
        assert_eq!(no_path.scim_type, Some(ScimType::NoTarget));
        assert!(patch(json!([])).is_err());
        assert!(apply(&ada(), &json!({"Operations": "x"})).is_err());
    }

    #[test]
    fn attributes_the_service_does_not_keep_are_ignored() {
        let after = patch(json!([
            {"op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
            {"op": "replace", "path": "title", "value": "Countess"}
        ]))
        .unwrap();
        assert_eq!(after, ada());
    }
}
