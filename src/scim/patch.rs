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
    user::{
        EMAIL_TYPE, EmailEntry, SentParts, UserState, active_value, field, name_from_parts,
        parse_email, parse_external_id, parse_name, primary_email, string_value,
    },
};
use crate::domain::scim_filter::{Attribute, Filter, strip_schema};

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

/// The writable attributes while operations apply, as text. The name's parts
/// and the email's type and display are what the client has sent (`None`: not
/// sent), not what it reads back.
#[derive(Debug, Clone)]
struct Draft {
    user_name: String,
    email: String,
    formatted: Option<String>,
    display_name: Option<String>,
    given: Option<String>,
    family: Option<String>,
    email_type: Option<String>,
    email_display: Option<String>,
    /// Whether an operation wrote any of the name's parts: then the name is
    /// worked out again from them.
    name_touched: bool,
    active: bool,
    external_id: Option<String>,
}

impl Draft {
    fn of(state: &UserState) -> Self {
        let profile = &state.profile;
        Self {
            user_name: state.email.as_str().to_owned(),
            email: state.email.as_str().to_owned(),
            formatted: profile.formatted.clone(),
            display_name: profile.display_name.clone(),
            given: profile.given_name.clone(),
            family: profile.family_name.clone(),
            email_type: profile.email_type.clone(),
            email_display: profile.email_display.clone(),
            name_touched: false,
            active: state.active,
            external_id: state.external_id.as_ref().map(|id| id.as_str().to_owned()),
        }
    }

    /// The user's one email as a `[…]` filter sees it.
    fn email_entry(&self) -> impl Fn(Attribute) -> crate::domain::scim_filter::Value + '_ {
        use crate::domain::scim_filter::Value;
        move |attribute| match attribute {
            Attribute::EmailValue => Value::Text(self.email.clone()),
            Attribute::EmailType => Value::Text(
                self.email_type
                    .clone()
                    .unwrap_or_else(|| EMAIL_TYPE.to_owned()),
            ),
            Attribute::EmailPrimary => Value::Boolean(true),
            _ => Value::Null,
        }
    }

    /// A whole email entry replaces the one email: its value, type and display.
    fn set_email_entry(&mut self, entry: EmailEntry) -> Result<(), ScimError> {
        self.email = entry.value.ok_or_else(|| required("emails.value"))?;
        self.email_type = entry.kind;
        self.email_display = entry.display;
        Ok(())
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
            Target::DisplayName => {
                self.display_name = text("displayName")?;
                self.name_touched = true;
            }
            Target::Name(None) => self.apply_name(value)?,
            Target::Name(Some(part)) => {
                match part.as_str() {
                    "formatted" => self.formatted = text("name.formatted")?,
                    "givenname" => self.given = text("name.givenName")?,
                    "familyname" => self.family = text("name.familyName")?,
                    _ => return Ok(()),
                }
                self.name_touched = true;
            }
            Target::Emails { filter, sub } => {
                self.apply_emails(filter.as_ref(), sub.as_deref(), value)?
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

    /// An operation on the whole `name`: its parts that the value names (none
    /// when it is removed).
    fn apply_name(&mut self, value: Option<&Value>) -> Result<(), ScimError> {
        self.name_touched = true;
        match value {
            None | Some(Value::Null) => {
                self.formatted = None;
                self.given = None;
                self.family = None;
            }
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
        }
        Ok(())
    }

    /// An operation on `emails`, `emails[filter]` or one of their
    /// sub-attributes: the filter must match the one email, which cannot be
    /// removed.
    fn apply_emails(
        &mut self,
        filter: Option<&Filter>,
        sub: Option<&str>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        if let Some(filter) = filter
            && !filter.matches(&self.email_entry())
        {
            return Err(ScimError::bad_request(
                ScimType::NoTarget,
                "no email matches the path's filter",
            ));
        }
        let text = |attribute: &str| -> Result<Option<String>, ScimError> {
            value
                .map(|v| string_value(v, attribute))
                .transpose()
                .map(Option::flatten)
        };
        match sub {
            Some("type") => {
                self.email_type = text("emails.type")?;
                return Ok(());
            }
            Some("display") => {
                self.email_display = text("emails.display")?;
                return Ok(());
            }
            // The one email is the primary one, whatever is sent.
            Some("primary") => return Ok(()),
            _ => {}
        }
        let Some(value) = value else {
            return Err(ScimError::invalid_value(
                "emails cannot be removed: the email is the userName",
            ));
        };
        match (sub, filter) {
            (Some("value"), _) => {
                self.email =
                    string_value(value, "emails.value")?.ok_or_else(|| required("emails.value"))?;
            }
            // Sub-attributes the service does not keep.
            (Some(_), _) => {}
            (None, Some(_)) => match value {
                Value::Object(entry) => self.set_email_entry(EmailEntry::parse(entry)?)?,
                _ => return Err(ScimError::invalid_value("expected an email object")),
            },
            (None, None) => {
                let entry = match value {
                    Value::Object(_) => primary_email(&Value::Array(vec![value.clone()]))?,
                    _ => primary_email(value)?,
                };
                self.set_email_entry(entry.ok_or_else(|| required("emails.value"))?)?;
            }
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
        let profile = SentParts {
            display_name: self.display_name.as_deref(),
            formatted: self.formatted.as_deref(),
            given_name: self.given.as_deref(),
            family_name: self.family.as_deref(),
            email_type: self.email_type.as_deref(),
            email_display: self.email_display.as_deref(),
        }
        .profile()?;
        // The name follows its parts as on a create, when one of them was written.
        let name = if self.name_touched {
            let name = name_from_parts(
                profile.formatted.as_deref(),
                profile.display_name.as_deref(),
                profile.given_name.as_deref(),
                profile.family_name.as_deref(),
            )
            .ok_or_else(|| required("name"))?;
            parse_name(&name, "name")?
        } else {
            before.name.clone()
        };
        Ok(UserState {
            email,
            name,
            active: self.active,
            external_id: parse_external_id(self.external_id.as_deref())?,
            profile,
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
    use crate::domain::{ExternalId, ScimProfile, UserEmail, UserName};

    fn ada() -> UserState {
        UserState {
            email: UserEmail::parse("ada@example.com").unwrap(),
            name: UserName::parse("Ada Lovelace").unwrap(),
            active: true,
            external_id: Some(ExternalId::parse("okta-1").unwrap()),
            profile: ScimProfile::default(),
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
    fn the_name_parts_and_email_type_are_kept_as_sent() {
        let after = patch(json!([
            {"op": "replace", "path": "emails", "value": [
                {"value": "ada@example.com", "type": "home", "display": "Ada at home"}]},
            {"op": "replace", "path": "name.givenName", "value": "Augusta"},
            {"op": "replace", "path": "name.familyName", "value": "King"},
            {"op": "replace", "path": "name.formatted", "value": "Augusta Ada King"},
            {"op": "replace", "path": "displayName", "value": "Ada"}
        ]))
        .unwrap();
        assert_eq!(after.name.as_str(), "Augusta Ada King");
        assert_eq!(after.profile.display_name.as_deref(), Some("Ada"));
        assert_eq!(after.profile.given_name.as_deref(), Some("Augusta"));
        assert_eq!(after.profile.email_type.as_deref(), Some("home"));
        assert_eq!(after.profile.email_display.as_deref(), Some("Ada at home"));
        // With name.formatted kept, a new displayName alone leaves the name.
        let again = apply(
            &after,
            &json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Countess"}]}),
        )
        .unwrap();
        assert_eq!(again.name.as_str(), "Augusta Ada King");
        assert_eq!(again.profile.display_name.as_deref(), Some("Countess"));
        // The stored type is what a value filter sees.
        let home = apply(
            &after,
            &json!({"Operations": [{"op": "replace", "path": "emails[type eq \"home\"].display", "value": "Home"}]}),
        )
        .unwrap();
        assert_eq!(home.profile.email_display.as_deref(), Some("Home"));
    }

    #[test]
    fn control_characters_in_values_are_refused_naming_the_attribute() {
        for (path, attribute) in [
            ("displayName", "displayName"),
            ("name.givenName", "name.givenName"),
            ("externalId", "externalId"),
            ("emails[type eq \"work\"].display", "emails.display"),
        ] {
            let refused =
                patch(json!([{"op": "replace", "path": path, "value": "a\u{0}b"}])).unwrap_err();
            assert_eq!(refused.scim_type, Some(ScimType::InvalidValue), "{path}");
            assert!(
                refused.detail.contains(attribute),
                "{path}: {}",
                refused.detail
            );
        }
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
