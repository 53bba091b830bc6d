use serde::{Deserialize, Serialize};

/// What an identity provider wrote through SCIM beside the one name and email,
/// so that it reads back what it wrote (SPEC §12): each part as sent (trimmed),
/// `None` when not sent. `name` and `email` are the name and email the parts
/// were written with; the database drops the name's parts when the name
/// changes elsewhere, and the email's display when the email does
/// (migration 0013).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_display: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl ScimProfile {
    /// The longest part kept, in characters (a name's limit).
    pub const MAX_CHARS: usize = 100;

    /// Whether nothing was written beside the name and email.
    pub fn is_empty(&self) -> bool {
        [
            &self.display_name,
            &self.formatted,
            &self.given_name,
            &self.family_name,
            &self.email_type,
            &self.email_display,
        ]
        .iter()
        .all(|part| part.is_none())
    }

    /// The stored column; a value that is not a profile (edited by hand) reads
    /// as none rather than failing every read of the user.
    pub fn from_stored(stored: Option<&serde_json::Value>) -> Self {
        stored
            .and_then(|value| serde_json::from_value(value.clone()).ok())
            .unwrap_or_default()
    }

    /// The column's value: `None` (SQL null) when nothing was written.
    pub fn to_stored(&self) -> Option<serde_json::Value> {
        if self.is_empty() {
            return None;
        }
        serde_json::to_value(self).ok()
    }

    /// A part as a client sent it: trimmed; empty is absent; at most
    /// [`Self::MAX_CHARS`] characters and no control characters.
    pub fn part(raw: Option<&str>) -> Result<Option<String>, String> {
        let Some(trimmed) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Some(trimmed.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_trimmed_and_bounded() {
        assert_eq!(ScimProfile::part(Some("  Ada ")), Ok(Some("Ada".into())));
        assert_eq!(ScimProfile::part(Some(" \t")), Ok(None));
        assert_eq!(ScimProfile::part(None), Ok(None));
        assert!(ScimProfile::part(Some(&"x".repeat(101))).is_err());
        assert!(ScimProfile::part(Some("a\tb")).is_err());
    }

    #[test]
    fn stored_as_sent_and_nothing_when_empty() {
        let profile = ScimProfile {
            display_name: Some("Ada".into()),
            email_type: Some("home".into()),
            name: Some("Ada Lovelace".into()),
            ..ScimProfile::default()
        };
        let stored = profile.to_stored().unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"displayName": "Ada", "emailType": "home", "name": "Ada Lovelace"})
        );
        assert_eq!(ScimProfile::from_stored(Some(&stored)), profile);
        let only_basis = ScimProfile {
            name: Some("Ada".into()),
            ..ScimProfile::default()
        };
        assert_eq!(only_basis.to_stored(), None);
        assert_eq!(
            ScimProfile::from_stored(Some(&serde_json::json!([1]))),
            ScimProfile::default()
        );
    }
}
