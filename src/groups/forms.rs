//! What `/groups` takes: a group's fields and roles, and members to add, as
//! JSON from scripts or as the pages' forms; parsed here into domain values.

use axum::http::HeaderMap;
use serde::{Deserialize, Deserializer};

use crate::domain::access::MAX_MEMBERS_PER_REQUEST;
use crate::domain::{Description, ExternalId, FieldErrors, GroupFields, GroupName, RoleName};
use crate::http::{body::media_type, error::AppError};

/// `POST /groups` and `PATCH /groups/{id}`: absent fields stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    /// 1 to 100 characters, unique whatever its case; needed to create.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// The id an identity provider knows the group by (1 to 200 characters,
    /// unique); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, min_length = 1, max_length = 200)]
    pub external_id: Option<Option<String>>,
    /// The full list of the group's roles, by name; giving it needs
    /// `roles.manage`, and the actor must hold every permission of the roles
    /// it adds.
    pub roles: Option<Vec<String>>,
    /// The version the client last read (instead of `If-Match`).
    pub version: Option<i32>,
}

/// A field that is present, even as `null` (which clears it).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Reads a JSON body, or a page's form (whose checkboxes repeat `roles`
/// after an empty `roles` that says the list was sent; whose empty external
/// id clears it).
pub fn read_group_input(headers: &HeaderMap, body: &[u8]) -> Result<GroupInput, AppError> {
    match media_type(headers).as_deref() {
        Some("application/json") => read_json(body),
        Some("application/x-www-form-urlencoded") => {
            let mut input = GroupInput::default();
            for (key, value) in form_urlencoded::parse(body) {
                let value = value.into_owned();
                match key.as_ref() {
                    "name" => input.name = Some(value),
                    "description" => input.description = Some(value),
                    "external_id" if value.trim().is_empty() => input.external_id = Some(None),
                    "external_id" => input.external_id = Some(Some(value)),
                    "version" => input.version = value.trim().parse().ok(),
                    "roles" => {
                        let roles = input.roles.get_or_insert_with(Vec::new);
                        if !value.is_empty() {
                            roles.push(value);
                        }
                    }
                    _ => {}
                }
            }
            Ok(input)
        }
        _ => Err(AppError::UnsupportedMediaType),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => AppError::Unprocessable(format!("invalid body: {e}")),
            _ => AppError::BadRequest(format!("malformed JSON: {e}")),
        }
    })
}

impl GroupInput {
    /// The fields to write, or every field's problem. Creating needs a name.
    pub fn parse(&self, creating: bool) -> Result<GroupFields, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = match &self.name {
            None if creating => {
                errors.add("name", "must not be empty");
                None
            }
            None => None,
            Some(raw) => errors.take("name", GroupName::parse(raw)),
        };
        let description = self
            .description
            .as_deref()
            .and_then(|raw| errors.take("description", Description::parse(raw)));
        let external_id = match &self.external_id {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => errors.take("external_id", ExternalId::parse(raw)).map(Some),
        };
        let roles = self.roles.as_ref().map(|names| {
            names
                .iter()
                .filter_map(|raw| errors.take("roles", RoleName::parse(raw)))
                .collect()
        });
        if errors.is_empty() {
            Ok(GroupFields {
                name,
                description,
                external_id,
                roles,
            })
        } else {
            Err(errors)
        }
    }
}

/// `POST /groups/{id}/members`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersInput {
    /// 1 to 1,000 user ids.
    #[schema(min_items = 1, max_items = 1000)]
    pub user_ids: Vec<i64>,
}

/// Members to add as asked for: ids from a script, emails from the page.
pub enum NewMembers {
    Ids(Vec<i64>),
    /// The emails as typed, one a line (or separated by commas or spaces).
    Emails(String),
}

/// Reads the JSON body or the page's form (`emails`).
pub fn read_new_members(headers: &HeaderMap, body: &[u8]) -> Result<NewMembers, AppError> {
    match media_type(headers).as_deref() {
        Some("application/json") => {
            let input: MembersInput = read_json(body)?;
            check_count(input.user_ids.len(), "user_ids")?;
            Ok(NewMembers::Ids(input.user_ids))
        }
        Some("application/x-www-form-urlencoded") => {
            let emails = form_urlencoded::parse(body)
                .find(|(key, _)| key == "emails")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            Ok(NewMembers::Emails(emails))
        }
        _ => Err(AppError::UnsupportedMediaType),
    }
}

/// 1 to [`MAX_MEMBERS_PER_REQUEST`], or 422 on `field`.
pub fn check_count(count: usize, field: &str) -> Result<(), AppError> {
    if (1..=MAX_MEMBERS_PER_REQUEST).contains(&count) {
        Ok(())
    } else {
        Err(AppError::Validation(FieldErrors::single(
            field,
            format!("give 1 to {MAX_MEMBERS_PER_REQUEST} at a time"),
        )))
    }
}

/// The emails of the add-members box, once each, in the order typed.
pub fn emails_of(text: &str) -> Vec<String> {
    let mut emails: Vec<String> = Vec::new();
    for email in text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|e| !e.is_empty())
    {
        if !emails.iter().any(|seen| seen.eq_ignore_ascii_case(email)) {
            emails.push(email.to_owned());
        }
    }
    emails
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_null_clears_the_external_id_and_absent_keeps_it() {
        let cleared: GroupInput = serde_json::from_str(r#"{"external_id": null}"#).unwrap();
        assert_eq!(cleared.external_id, Some(None));
        let kept: GroupInput = serde_json::from_str(r#"{"name": "x"}"#).unwrap();
        assert_eq!(kept.external_id, None);
        assert!(serde_json::from_str::<GroupInput>(r#"{"role": ["admin"]}"#).is_err());
        let fields = kept.parse(false).unwrap();
        assert!(fields.external_id.is_none() && fields.roles.is_none());
    }

    #[test]
    fn a_name_is_needed_to_create_and_bounded() {
        let none = GroupInput::default();
        assert!(!none.parse(true).unwrap_err().get("name").is_empty());
        assert!(none.parse(false).is_ok());
        let long = GroupInput {
            name: Some("x".repeat(101)),
            roles: Some(vec![" ".into()]),
            ..GroupInput::default()
        };
        let errors = long.parse(true).unwrap_err();
        assert!(!errors.get("name").is_empty() && !errors.get("roles").is_empty());
    }

    #[test]
    fn the_form_sends_roles_after_an_empty_marker() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let input = read_group_input(
            &headers,
            b"csrf_token=t&version=3&roles=&roles=helpdesk&external_id=",
        )
        .unwrap();
        assert_eq!(input.roles.as_deref(), Some(&["helpdesk".to_owned()][..]));
        assert_eq!(input.version, Some(3));
        assert_eq!(input.external_id, Some(None));
        assert!(input.name.is_none());
    }

    #[test]
    fn emails_are_split_on_lines_commas_and_spaces_once_each() {
        assert_eq!(
            emails_of("a@x.org\r\nb@x.org, A@x.org;c@x.org  \n\n"),
            ["a@x.org", "b@x.org", "c@x.org"]
        );
        assert!(check_count(0, "user_ids").is_err());
        assert!(check_count(1000, "user_ids").is_ok());
        assert!(check_count(1001, "user_ids").is_err());
    }
}
