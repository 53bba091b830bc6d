//! A user as a SCIM resource: what is sent out, and what a create or replace
//! body may carry, parsed into the service's own typed values.
//!
//! The service keeps one email (which is the `userName`) and one name. On the way
//! in, the name is `name.formatted`, else `displayName`, else `givenName
//! familyName`. What the client sent for those four, and for the email's `type`
//! and `display`, is kept beside them ([`ScimProfile`]) and read back as sent;
//! what it did not send reads as the name (`name.formatted`, `displayName`) or
//! `work` (the email's type). Attributes the service does not keep (phone
//! numbers, the enterprise extension, a password, …) are accepted and ignored,
//! as identity providers send them by default.

use serde::Serialize;
use serde_json::{Map, Value};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{USER_SCHEMA, error::ScimError};
use crate::{
    db::users::UserRow,
    domain::{ExternalId, ScimProfile, UserEmail, UserName, UserStatus},
};

/// The one email's `type` when the client gave none.
pub const EMAIL_TYPE: &str = "work";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub schemas: [&'static str; 1],
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub user_name: String,
    pub name: ScimName,
    pub display_name: String,
    pub emails: [ScimEmail; 1],
    pub active: bool,
    pub meta: Meta,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimName {
    pub formatted: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ScimEmail {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    pub primary: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub resource_type: &'static str,
    pub created: String,
    pub last_modified: String,
    pub location: String,
    pub version: String,
}

/// `W/"<version>"`: `meta.version` and the `ETag` header.
pub fn weak_etag(version: i32) -> String {
    format!("W/\"{version}\"")
}

pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl ScimUser {
    /// `base` is where `/scim/v2` is: absolute under `PUBLIC_URL`, else relative.
    pub fn from_row(row: &UserRow, base: &str) -> Self {
        let profile = ScimProfile::from_stored(row.scim_profile.as_ref());
        Self {
            schemas: [USER_SCHEMA],
            id: row.id.to_string(),
            external_id: row.external_id.clone(),
            user_name: row.email.clone(),
            name: ScimName {
                formatted: profile.formatted.unwrap_or_else(|| row.name.clone()),
                given_name: profile.given_name,
                family_name: profile.family_name,
            },
            display_name: profile.display_name.unwrap_or_else(|| row.name.clone()),
            emails: [ScimEmail {
                value: row.email.clone(),
                kind: profile.email_type.unwrap_or_else(|| EMAIL_TYPE.to_owned()),
                display: profile.email_display,
                primary: true,
            }],
            active: row.status == UserStatus::Active,
            meta: Meta {
                resource_type: "User",
                created: timestamp(row.created_at),
                last_modified: timestamp(row.updated_at),
                location: format!("{base}/Users/{}", row.id),
                version: weak_etag(row.version),
            },
        }
    }
}

/// The attributes of a user that SCIM can write, as the service keeps them.
/// `profile` holds the parts as sent, without the name and email they were
/// sent with (added when written, see [`UserState::profile_to_store`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub email: UserEmail,
    pub name: UserName,
    pub active: bool,
    pub external_id: Option<ExternalId>,
    pub profile: ScimProfile,
}

impl UserState {
    pub fn of_row(row: &UserRow) -> Result<Self, ScimError> {
        // Rows written through any door hold valid values; a row edited by hand
        // into something invalid is reported rather than guessed at.
        let email = UserEmail::parse(&row.email)
            .map_err(|e| ScimError::invalid_value(format!("the stored email {e}")))?;
        let name = UserName::parse(&row.name)
            .map_err(|e| ScimError::invalid_value(format!("the stored name {e}")))?;
        let external_id = row
            .external_id
            .as_deref()
            .map(ExternalId::parse)
            .transpose()
            .map_err(|e| ScimError::invalid_value(format!("the stored externalId {e}")))?;
        let profile = ScimProfile {
            name: None,
            email: None,
            ..ScimProfile::from_stored(row.scim_profile.as_ref())
        };
        Ok(Self {
            email,
            name,
            active: row.status == UserStatus::Active,
            external_id,
            profile,
        })
    }

    /// The profile as stored: with the name and email it goes with, so that a
    /// later change of either outside SCIM can tell it is stale. `None` when
    /// the client sent nothing beyond the name and email.
    pub fn profile_to_store(&self) -> Option<ScimProfile> {
        let profile = ScimProfile {
            name: Some(self.name.as_str().to_owned()),
            email: Some(self.email.as_str().to_owned()),
            ..self.profile.clone()
        };
        (!profile.is_empty()).then_some(profile)
    }
}

/// Looks up `key` in a JSON object ignoring letter case (SCIM attribute names
/// are case-insensitive), and also under the core User schema's URN.
pub fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| crate::domain::scim_filter::strip_schema(k).eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// A string attribute; `null` reads as absent. A control character other than
/// white space (a NUL, which PostgreSQL cannot even store) is refused here,
/// naming the attribute; each attribute's own rule then decides about tabs and
/// line breaks (surrounding white space is trimmed, inner is refused).
pub fn string_value(value: &Value, attribute: &str) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => match text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        {
            Some(control) => Err(ScimError::invalid_value(format!(
                "{attribute} must not contain control characters (found U+{:04X})",
                u32::from(control)
            ))),
            None => Ok(Some(text.clone())),
        },
        _ => Err(ScimError::invalid_value(format!(
            "{attribute} must be a string"
        ))),
    }
}

/// `active`: a boolean, or the strings "true"/"false" in any letter case
/// (Microsoft Entra sends `"False"`).
pub fn active_value(value: &Value) -> Result<bool, ScimError> {
    match value {
        Value::Bool(active) => Ok(*active),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value("active must be true or false")),
    }
}

pub fn parse_email(raw: &str, attribute: &str) -> Result<UserEmail, ScimError> {
    UserEmail::parse(raw).map_err(|e| ScimError::invalid_value(format!("{attribute} {e}")))
}

pub fn parse_name(raw: &str, attribute: &str) -> Result<UserName, ScimError> {
    UserName::parse(raw).map_err(|e| ScimError::invalid_value(format!("{attribute} {e}")))
}

pub fn parse_external_id(raw: Option<&str>) -> Result<Option<ExternalId>, ScimError> {
    raw.map(|raw| {
        ExternalId::parse(raw).map_err(|e| ScimError::invalid_value(format!("externalId {e}")))
    })
    .transpose()
}

/// One entry of `emails`, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailEntry {
    pub value: Option<String>,
    pub kind: Option<String>,
    pub display: Option<String>,
}

impl EmailEntry {
    /// An `emails` entry object.
    pub fn parse(entry: &Map<String, Value>) -> Result<Self, ScimError> {
        let text = |key: &str, attribute: &str| {
            field(entry, key)
                .map(|v| string_value(v, attribute))
                .transpose()
                .map(Option::flatten)
        };
        Ok(Self {
            value: text("value", "emails.value")?,
            kind: text("type", "emails.type")?,
            display: text("display", "emails.display")?,
        })
    }
}

/// The primary email of an `emails` value: the entry marked primary, else the
/// only one. Several entries with none primary name no primary email.
pub fn primary_email(emails: &Value) -> Result<Option<EmailEntry>, ScimError> {
    let entries = match emails {
        Value::Null => return Ok(None),
        Value::Array(entries) => entries,
        _ => return Err(ScimError::invalid_value("emails must be a list")),
    };
    let mut values = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Object(entry) = entry else {
            return Err(ScimError::invalid_value("each of emails must be an object"));
        };
        let parsed = EmailEntry::parse(entry)?;
        let primary = match field(entry, "primary") {
            None | Some(Value::Null) => false,
            Some(flag) => active_value(flag)
                .map_err(|_| ScimError::invalid_value("emails.primary must be true or false"))?,
        };
        values.push((parsed, primary));
    }
    let mut primaries = values.iter().filter(|(_, primary)| *primary);
    let chosen = match (primaries.next(), primaries.next()) {
        (Some(_), Some(_)) => {
            return Err(ScimError::invalid_value(
                "only one of emails may be primary",
            ));
        }
        (Some((entry, _)), None) => Some(entry.clone()),
        (None, _) if values.len() == 1 => Some(values[0].0.clone()),
        (None, _) => None,
    };
    Ok(chosen)
}

/// The parts of a name and email as sent, checked and trimmed as they are kept.
pub struct SentParts<'a> {
    pub display_name: Option<&'a str>,
    pub formatted: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub email_type: Option<&'a str>,
    pub email_display: Option<&'a str>,
}

impl SentParts<'_> {
    pub fn profile(&self) -> Result<ScimProfile, ScimError> {
        let part = |raw: Option<&str>, attribute: &str| {
            ScimProfile::part(raw).map_err(|e| ScimError::invalid_value(format!("{attribute} {e}")))
        };
        Ok(ScimProfile {
            display_name: part(self.display_name, "displayName")?,
            formatted: part(self.formatted, "name.formatted")?,
            given_name: part(self.given_name, "name.givenName")?,
            family_name: part(self.family_name, "name.familyName")?,
            email_type: part(self.email_type, "emails.type")?,
            email_display: part(self.email_display, "emails.display")?,
            name: None,
            email: None,
        })
    }
}

/// A name from `name.formatted`, else `displayName`, else `givenName
/// familyName`.
pub fn name_from_parts(
    formatted: Option<&str>,
    display_name: Option<&str>,
    given: Option<&str>,
    family: Option<&str>,
) -> Option<String> {
    fn present(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(name) = present(formatted).or(present(display_name)) {
        return Some(name.to_owned());
    }
    let joined = [present(given), present(family)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

/// A create or replace body, parsed. `active` is absent when not sent: a
/// create makes the user active, a replace leaves its status as it is.
#[derive(Debug)]
pub struct UserInput {
    pub email: UserEmail,
    pub name: UserName,
    pub active: Option<bool>,
    pub external_id: Option<ExternalId>,
    /// The name's parts and the email's type and display, as sent.
    pub profile: ScimProfile,
}

impl UserInput {
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(body) = body else {
            return Err(ScimError::bad_request(
                super::error::ScimType::InvalidSyntax,
                "the body must be a JSON object",
            ));
        };
        let user_name = field(body, "userName")
            .map(|v| string_value(v, "userName"))
            .transpose()?
            .flatten()
            .ok_or_else(|| ScimError::invalid_value("userName is required"))?;
        let email = parse_email(&user_name, "userName")?;
        let primary = field(body, "emails")
            .map(primary_email)
            .transpose()?
            .flatten()
            .unwrap_or_default();
        if let Some(value) = &primary.value
            && !value.trim().eq_ignore_ascii_case(email.as_str())
        {
            return Err(ScimError::invalid_value(
                "the primary email must equal userName (ignoring letter case)",
            ));
        }

        let text = |object: &Map<String, Value>,
                    key: &str,
                    attribute: &str|
         -> Result<Option<String>, ScimError> {
            field(object, key)
                .map(|v| string_value(v, attribute))
                .transpose()
                .map(Option::flatten)
        };
        let (formatted, given, family) = match field(body, "name") {
            None | Some(Value::Null) => (None, None, None),
            Some(Value::Object(name)) => (
                text(name, "formatted", "name.formatted")?,
                text(name, "givenName", "name.givenName")?,
                text(name, "familyName", "name.familyName")?,
            ),
            Some(_) => return Err(ScimError::invalid_value("name must be an object")),
        };
        let display_name = text(body, "displayName", "displayName")?;
        let name = name_from_parts(
            formatted.as_deref(),
            display_name.as_deref(),
            given.as_deref(),
            family.as_deref(),
        )
        .ok_or_else(|| {
            ScimError::invalid_value(
                "a name is required: name.formatted, displayName, or name.givenName and name.familyName",
            )
        })?;
        let name = parse_name(&name, "name")?;
        let profile = SentParts {
            display_name: display_name.as_deref(),
            formatted: formatted.as_deref(),
            given_name: given.as_deref(),
            family_name: family.as_deref(),
            email_type: primary.kind.as_deref(),
            email_display: primary.display.as_deref(),
        }
        .profile()?;
        let active = field(body, "active")
            .filter(|v| !v.is_null())
            .map(active_value)
            .transpose()?;
        let external_id = parse_external_id(text(body, "externalId", "externalId")?.as_deref())?;
        Ok(Self {
            email,
            name,
            active,
            external_id,
            profile,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_name_comes_from_formatted_then_display_name_then_its_parts() {
        let base = json!({"userName": "ada@example.com"});
        let with = |extra: Value| {
            let mut body = base.clone();
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            UserInput::parse(&body).map(|input| input.name.as_str().to_owned())
        };
        assert_eq!(
            with(json!({"name": {"formatted": "Ada L."}, "displayName": "Ada"})).unwrap(),
            "Ada L."
        );
        assert_eq!(with(json!({"displayName": "Ada"})).unwrap(), "Ada");
        assert_eq!(
            with(json!({"name": {"givenName": "Ada", "familyName": "Lovelace"}})).unwrap(),
            "Ada Lovelace"
        );
        assert!(with(json!({})).is_err());
    }

    #[test]
    fn the_primary_email_must_be_the_user_name() {
        let ok = json!({"userName": "Ada@Example.com", "displayName": "Ada",
            "emails": [{"value": "other@example.com"}, {"value": "ada@example.com", "primary": true}]});
        assert_eq!(
            UserInput::parse(&ok).unwrap().email.as_str(),
            "Ada@Example.com"
        );
        let bad = json!({"userName": "ada@example.com", "displayName": "Ada",
            "emails": [{"value": "bob@example.com", "primary": true}]});
        assert!(
            UserInput::parse(&bad)
                .unwrap_err()
                .detail
                .contains("primary")
        );
    }

    #[test]
    fn the_parts_and_the_email_type_are_kept_as_sent() {
        let body = json!({"userName": "ada@example.com", "displayName": " Ada ",
            "name": {"formatted": "Augusta Ada King", "givenName": "Augusta Ada", "familyName": "King"},
            "emails": [{"value": "other@example.com", "type": "work"},
                       {"value": "ada@example.com", "type": "home", "display": "Home", "primary": true}]});
        let input = UserInput::parse(&body).unwrap();
        assert_eq!(input.name.as_str(), "Augusta Ada King");
        assert_eq!(
            input.profile,
            ScimProfile {
                display_name: Some("Ada".into()),
                formatted: Some("Augusta Ada King".into()),
                given_name: Some("Augusta Ada".into()),
                family_name: Some("King".into()),
                email_type: Some("home".into()),
                email_display: Some("Home".into()),
                name: None,
                email: None,
            }
        );
        let long = json!({"userName": "ada@example.com", "name": {"formatted": "Ada"},
            "displayName": "x".repeat(101)});
        let refused = UserInput::parse(&long).unwrap_err();
        assert!(
            refused.detail.starts_with("displayName"),
            "{}",
            refused.detail
        );
    }

    #[test]
    fn active_may_be_a_string_in_any_letter_case() {
        let body = json!({"userName": "a@example.com", "displayName": "A", "active": "False"});
        assert_eq!(UserInput::parse(&body).unwrap().active, Some(false));
        let body = json!({"USERNAME": "a@example.com", "displayname": "A", "Active": "TRUE"});
        assert_eq!(UserInput::parse(&body).unwrap().active, Some(true));
        let body = json!({"userName": "a@example.com", "displayName": "A", "active": "maybe"});
        assert!(UserInput::parse(&body).is_err());
    }
}
