use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{IgnoredAny, MapAccess, Visitor},
};

use crate::domain::{FieldErrors, PermissionSet, TokenLabel, token_grant};
use crate::write::TokenGrant;

/// `POST /tokens`, as JSON or as the page's form (which repeats `scopes` once
/// per ticked box, after an empty `scopes` that says the list was sent).
#[derive(Debug, Default, utoipa::ToSchema)]
pub struct NewToken {
    /// What the token is for: 1 to 100 characters, without control characters.
    #[schema(min_length = 1)]
    pub label: String,
    /// The permissions it may use, at most those its creator holds (else
    /// 403). Omitted: every permission the creator holds now.
    #[schema(value_type = Option<Vec<crate::domain::Permission>>)]
    pub scopes: Option<Vec<String>>,
    /// Days until it expires: 1 to `TOKEN_MAX_DAYS` (default 365), which is
    /// also the default; 0 (no expiry) only when `TOKEN_MAX_DAYS` is 0, which
    /// is then the default too.
    #[schema(value_type = Option<u32>)]
    pub expires_in_days: Option<String>,
}

/// A new token, parsed.
pub struct ParsedToken {
    pub label: TokenLabel,
    pub grant: TokenGrant,
}

impl NewToken {
    /// The label, scopes and lifetime, or every field's problem. The scopes
    /// are not yet checked against what the creator holds.
    pub fn parse(&self, creator: PermissionSet, max_days: u32) -> Result<ParsedToken, FieldErrors> {
        let mut errors = FieldErrors::default();
        let label = errors.take(
            "label",
            TokenLabel::parse(&self.label).map_err(|e| e.to_string()),
        );
        let scopes = errors.take(
            "scopes",
            token_grant::scopes(self.scopes.as_deref(), creator),
        );
        let days = match self.expires_in_days.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => raw
                .parse::<i64>()
                .map(Some)
                .map_err(|_| "must be a whole number of days".to_owned()),
        }
        .and_then(|days| token_grant::lifetime_days(days, max_days));
        let lifetime_days = errors.take("expires_in_days", days);
        match (label, scopes, lifetime_days) {
            (Some(label), Some(scopes), Some(lifetime_days)) if errors.is_empty() => {
                Ok(ParsedToken {
                    label,
                    grant: TokenGrant {
                        scopes,
                        lifetime_days,
                    },
                })
            }
            _ => Err(errors),
        }
    }
}

/// `scopes` as a JSON list, or one form value (repeated).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<String>),
    One(String),
}

/// `expires_in_days` as a JSON number, or a form's text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Days {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for NewToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(NewTokenVisitor)
    }
}

struct NewTokenVisitor;

impl<'de> Visitor<'de> for NewTokenVisitor {
    type Value = NewToken;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with label, scopes and expires_in_days")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NewToken, A::Error> {
        let mut token = NewToken::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "label" => token.label = map.next_value()?,
                "scopes" => match map.next_value::<Option<OneOrMany>>()? {
                    None => {}
                    Some(OneOrMany::Many(names)) => {
                        token.scopes.get_or_insert_with(Vec::new).extend(names);
                    }
                    Some(OneOrMany::One(name)) => {
                        let scopes = token.scopes.get_or_insert_with(Vec::new);
                        if !name.is_empty() {
                            scopes.push(name);
                        }
                    }
                },
                "expires_in_days" => {
                    token.expires_in_days = match map.next_value::<Option<Days>>()? {
                        None => None,
                        Some(Days::Number(days)) => Some(days.to_string()),
                        Some(Days::Text(text)) => Some(text),
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_as_a_json_list_or_as_repeated_form_fields() {
        let json: NewToken = serde_json::from_str(
            r#"{"label": "x", "scopes": ["users.read", "audit.read"], "expires_in_days": 30}"#,
        )
        .unwrap();
        assert_eq!(
            json.scopes.as_deref().unwrap(),
            ["users.read", "audit.read"]
        );
        assert_eq!(json.expires_in_days.as_deref(), Some("30"));
        let form: NewToken = serde_urlencoded::from_str(
            "csrf_token=t&label=x&scopes=&scopes=users.read&scopes=audit.read&expires_in_days=",
        )
        .unwrap();
        assert_eq!(
            form.scopes.as_deref().unwrap(),
            ["users.read", "audit.read"]
        );
        let unticked: NewToken = serde_urlencoded::from_str("label=x&scopes=").unwrap();
        assert_eq!(unticked.scopes.as_deref(), Some(&[][..]));
        let bare: NewToken = serde_json::from_str(r#"{"label": "x"}"#).unwrap();
        assert!(bare.scopes.is_none() && bare.expires_in_days.is_none());
        let parsed = bare.parse(PermissionSet::ALL, 365).ok().unwrap();
        assert_eq!(parsed.grant.scopes, PermissionSet::ALL);
        assert_eq!(parsed.grant.lifetime_days, Some(365));
        let errors = unticked.parse(PermissionSet::ALL, 365).err().unwrap();
        assert!(!errors.get("scopes").is_empty());
        assert!(serde_json::from_str::<NewToken>(r#"{"label": 3}"#).is_err());
    }
}
