//! `POST /roles` and `PATCH /roles/{id}` bodies, as JSON or as the pages' forms
//! (which repeat `permissions` once per ticked box, after an empty
//! `permissions` that says the list was sent), parsed into [`RoleFields`].

use axum::http::HeaderMap;
use serde::Deserialize;

use crate::domain::{Description, FieldErrors, PermissionSet, RoleFields, RoleName};
use crate::http::body::media_type;
use crate::http::error::{AppError, AppResult};

/// A role as a client sends it; every field may be left out of a `PATCH`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// 1 to 100 characters once trimmed, without control characters, unique
    /// whatever its case. Required to create.
    #[schema(min_length = 1, max_length = 100, pattern = r"^\s*[^\s\x00-\x1f\x7f]")]
    pub name: Option<String>,
    /// At most 500 characters; empty is none.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Every permission the role grants (the full list; default on create:
    /// none). Each must be one the actor holds (else 403).
    #[schema(value_type = Option<Vec<crate::domain::Permission>>)]
    pub permissions: Option<Vec<String>>,
}

impl RoleInput {
    /// The fields as the write path takes them, or every field's problem.
    /// `creating` requires a name and makes missing permissions an empty set.
    pub fn parse(&self, creating: bool) -> Result<RoleFields, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = match &self.name {
            None if creating => {
                errors.add("name", "must not be empty");
                None
            }
            None => None,
            Some(raw) => errors.take("name", RoleName::parse(raw)),
        };
        let description = match &self.description {
            None => None,
            Some(raw) => errors.take("description", Description::parse(raw)),
        };
        let permissions = match &self.permissions {
            None if creating => Some(PermissionSet::EMPTY),
            None => None,
            Some(names) => errors.take("permissions", PermissionSet::parse_all(names)),
        };
        if errors.is_empty() {
            Ok(RoleFields {
                name,
                description,
                permissions,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether the form ticks `permission` (the form shown again).
    pub fn has(&self, permission: &str) -> bool {
        self.permissions
            .as_ref()
            .is_some_and(|names| names.iter().any(|name| name == permission))
    }
}

impl RoleInput {
    /// The body by its `Content-Type`: JSON (strict: unknown fields and a
    /// `permissions` that is no list are 422) or the pages' form (whose
    /// `permissions` repeats, after an empty one that says the list was sent).
    pub fn read(headers: &HeaderMap, body: &[u8]) -> AppResult<Self> {
        match media_type(headers).as_deref() {
            Some(t)
                if t == "application/json"
                    || (t.starts_with("application/") && t.ends_with("+json")) =>
            {
                serde_json::from_slice(body).map_err(|e| {
                    use serde_json::error::Category;
                    match e.classify() {
                        Category::Data => AppError::Unprocessable(format!("invalid body: {e}")),
                        _ => AppError::BadRequest(format!("malformed JSON: {e}")),
                    }
                })
            }
            Some("application/x-www-form-urlencoded") => Ok(Self::from_form(body)),
            _ => Err(AppError::UnsupportedMediaType),
        }
    }

    fn from_form(body: &[u8]) -> Self {
        let mut input = Self::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "name" => input.name = Some(value.into_owned()),
                "description" => input.description = Some(value.into_owned()),
                "permissions" => {
                    let names = input.permissions.get_or_insert_with(Vec::new);
                    if !value.is_empty() {
                        names.push(value.into_owned());
                    }
                }
                _ => {}
            }
        }
        input
    }
}

/// `?force=true` on `DELETE /roles/{id}`: take the role from its holders.
#[derive(Debug, Default, Deserialize)]
pub struct ForceParam {
    pub force: Option<String>,
}

impl ForceParam {
    pub fn wanted(&self) -> Result<bool, String> {
        match self.force.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err("force must be true or false".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_come_as_a_json_list_or_as_repeated_form_fields() {
        let json: RoleInput = serde_json::from_str(
            r#"{"name": " Auditors ", "permissions": ["audit.read", "users.read"]}"#,
        )
        .unwrap();
        let fields = json.parse(true).unwrap();
        assert_eq!(fields.name.unwrap().as_str(), "Auditors");
        assert_eq!(
            fields.permissions.unwrap().names(),
            ["audit.read", "users.read"]
        );
        let form = RoleInput::from_form(
            b"csrf_token=t&name=x&description=&permissions=&permissions=users.read",
        );
        assert_eq!(form.permissions.as_deref().unwrap(), ["users.read"]);
        let none = RoleInput::from_form(b"name=x&permissions=");
        assert_eq!(
            none.parse(false).unwrap().permissions,
            Some(PermissionSet::EMPTY)
        );
        let bare: RoleInput = serde_json::from_str(r#"{"description": "d"}"#).unwrap();
        assert!(bare.parse(false).unwrap().permissions.is_none());
        assert!(!bare.parse(true).unwrap_err().get("name").is_empty());
        let unknown: RoleInput =
            serde_json::from_str(r#"{"name": "x", "permissions": ["users.everything"]}"#).unwrap();
        assert!(
            !unknown
                .parse(true)
                .unwrap_err()
                .get("permissions")
                .is_empty()
        );
        assert!(serde_json::from_str::<RoleInput>(r#"{"nmae": "x"}"#).is_err());
        assert!(serde_json::from_str::<RoleInput>(r#"{"name": 3}"#).is_err());
        assert!(serde_json::from_str::<RoleInput>(r#"{"permissions": "users.read"}"#).is_err());
    }

    /// The document's limits (literals, as utoipa takes them) are the domain's.
    #[test]
    fn the_documented_limits_are_the_domains() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(RoleInput::schema()).unwrap();
        let properties = &schema["properties"];
        assert_eq!(properties["name"]["maxLength"], RoleName::MAX_CHARS);
        assert_eq!(
            properties["description"]["maxLength"],
            Description::MAX_CHARS
        );
    }
}
