use super::{ExternalId, FieldErrors, Password, RoleName, ScimProfile, UserEmail, UserName};

/// A user id from a URL. Ids are positive; anything else names no user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserId(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserIdError {
    /// Not an integer, or outside the 64-bit range.
    #[error("user id must be a positive integer")]
    Malformed,
    /// A well-formed integer that no user can have (0 or negative).
    #[error("no such user")]
    OutOfRange,
}

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, UserIdError> {
        let id: i64 = raw.parse().map_err(|_| UserIdError::Malformed)?;
        if id <= 0 {
            return Err(UserIdError::OutOfRange);
        }
        Ok(Self(id))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Whether an account may be used: a disabled one cannot log in, and its tokens
/// were revoked when it was disabled. The `users.status` column's type: TEXT
/// holding `active` or `disabled`, the same strings as in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for UserStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl sqlx::Type<sqlx::Postgres> for UserStatus {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl sqlx::postgres::PgHasArrayType for UserStatus {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for UserStatus {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

impl sqlx::Decode<'_, sqlx::Postgres> for UserStatus {
    fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
        let raw = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Self::parse(raw).ok_or_else(|| format!("not a user status: {raw:?}").into())
    }
}

/// Why an account was disabled: at most 500 characters, no control characters
/// but line breaks; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisabledReason(String);

impl DisabledReason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's fields as a client gave them, not yet parsed: `None` is absent.
#[derive(Debug, Default)]
pub struct UserFields {
    pub name: Option<String>,
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    pub password: Option<String>,
    pub status: Option<String>,
    pub disabled_reason: Option<String>,
    /// The direct roles' names (the full list).
    pub roles: Option<Vec<String>>,
}

/// Everything needed to create a user.
#[derive(Debug)]
pub struct NewUser {
    pub name: UserName,
    pub email: UserEmail,
    pub is_admin: bool,
    pub password: Option<Password>,
    /// The id an identity provider knows the user by (SCIM's `externalId`).
    pub external_id: Option<ExternalId>,
    /// Users are created active unless an identity provider says otherwise.
    pub status: UserStatus,
    pub disabled_reason: Option<DisabledReason>,
    /// What an identity provider wrote beside the name and email (SCIM only).
    pub scim_profile: Option<ScimProfile>,
    /// The direct roles to grant (`is_admin: true` adds `admin`).
    pub roles: Option<Vec<RoleName>>,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct UserChanges {
    pub name: Option<UserName>,
    pub email: Option<UserEmail>,
    pub is_admin: Option<bool>,
    pub password: Option<Password>,
    pub status: Option<UserStatus>,
    pub disabled_reason: Option<DisabledReason>,
    /// `Some(None)` clears it.
    pub external_id: Option<Option<ExternalId>>,
    /// SCIM's presentations of the name and email; `Some(None)` clears them.
    pub scim_profile: Option<Option<ScimProfile>>,
    /// The full list of direct roles. With `is_admin` as well, `is_admin`
    /// decides whether `admin` is among them.
    pub roles: Option<Vec<RoleName>>,
}

impl NewUser {
    pub fn parse(input: UserFields) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        if input.name.is_none() {
            errors.add("name", "is required");
        }
        if input.email.is_none() {
            errors.add("email", "is required");
        }
        let changes = UserChanges::parse_into(input, &mut errors);
        match (changes, errors.is_empty()) {
            (
                UserChanges {
                    name: Some(name),
                    email: Some(email),
                    is_admin,
                    password,
                    roles,
                    ..
                },
                true,
            ) => Ok(Self {
                name,
                email,
                is_admin: is_admin.unwrap_or(false),
                password,
                roles,
                external_id: None,
                status: UserStatus::Active,
                disabled_reason: None,
                scim_profile: None,
            }),
            _ => Err(errors),
        }
    }
}

impl UserChanges {
    pub fn parse(input: UserFields) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = Self::parse_into(input, &mut errors);
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    fn parse_into(input: UserFields, errors: &mut FieldErrors) -> Self {
        Self {
            name: input
                .name
                .and_then(|raw| errors.take("name", UserName::parse(&raw))),
            email: input
                .email
                .and_then(|raw| errors.take("email", UserEmail::parse(&raw))),
            is_admin: input.is_admin,
            password: input
                .password
                .and_then(|raw| errors.take("password", Password::parse(&raw))),
            status: input.status.and_then(|raw| {
                let status = UserStatus::parse(&raw);
                if status.is_none() {
                    errors.add("status", "must be active or disabled");
                }
                status
            }),
            disabled_reason: input
                .disabled_reason
                .and_then(|raw| errors.take("disabled_reason", DisabledReason::parse(&raw))),
            external_id: None,
            scim_profile: None,
            roles: input.roles.and_then(|raw| parse_roles(&raw, errors)),
        }
    }

    /// The direct role names these changes leave the user with, given the
    /// ones it holds now: `roles` replaces them, and `is_admin` adds or takes
    /// away `admin`. `None` when neither is asked for.
    pub fn direct_roles(&self, current: &[String]) -> Option<Vec<RoleName>> {
        if self.roles.is_none() && self.is_admin.is_none() {
            return None;
        }
        let mut roles: Vec<RoleName> = match &self.roles {
            Some(roles) => roles.clone(),
            None => current
                .iter()
                .filter_map(|name| RoleName::parse(name).ok())
                .collect(),
        };
        with_admin(&mut roles, self.is_admin);
        Some(roles)
    }
}

impl NewUser {
    /// The direct roles a new user starts with; `None`: none at all.
    pub fn initial_roles(&self) -> Option<Vec<RoleName>> {
        let mut roles = self.roles.clone().unwrap_or_default();
        with_admin(&mut roles, self.is_admin.then_some(true));
        (!roles.is_empty()).then_some(roles)
    }
}

/// The built-in role that `is_admin` stands for.
const ADMIN_ROLE: &str = "admin";

/// Adds or removes `admin` as `is_admin` asks (`None`: as it is).
fn with_admin(roles: &mut Vec<RoleName>, is_admin: Option<bool>) {
    let is_admin_role = |role: &RoleName| role.as_str().eq_ignore_ascii_case(ADMIN_ROLE);
    match is_admin {
        Some(true) if !roles.iter().any(is_admin_role) => {
            roles.push(RoleName::parse(ADMIN_ROLE).expect("a valid role name"));
        }
        Some(false) => roles.retain(|role| !is_admin_role(role)),
        _ => {}
    }
}

/// Role names as a client listed them; each must be a well-formed name
/// (whether a role has it is the write path's to say).
fn parse_roles(raw: &[String], errors: &mut FieldErrors) -> Option<Vec<RoleName>> {
    let mut roles = Vec::with_capacity(raw.len());
    for name in raw {
        match RoleName::parse(name) {
            Ok(role) => roles.push(role),
            Err(problem) => {
                errors.add("roles", format!("{name:?}: {problem}"));
                return None;
            }
        }
    }
    Some(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_64_bit_integers() {
        assert_eq!(UserId::parse("42").unwrap().get(), 42);
        assert_eq!(UserId::parse("0"), Err(UserIdError::OutOfRange));
        assert_eq!(UserId::parse("-7"), Err(UserIdError::OutOfRange));
        assert_eq!(UserId::parse("abc"), Err(UserIdError::Malformed));
        assert_eq!(UserId::parse("1.5"), Err(UserIdError::Malformed));
        assert_eq!(
            UserId::parse("99999999999999999999"),
            Err(UserIdError::Malformed)
        );
        assert_eq!(UserId::parse(""), Err(UserIdError::Malformed));
    }

    #[test]
    fn a_new_user_reports_every_bad_field_at_once() {
        let errors = NewUser::parse(UserFields {
            name: Some("  ".into()),
            email: None,
            password: Some("short".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(errors.get("name"), ["must not be empty"]);
        assert_eq!(errors.get("email"), ["is required"]);
        assert_eq!(errors.get("password"), ["must be at least 8 characters"]);
    }

    #[test]
    fn a_new_user_is_not_an_admin_unless_asked() {
        let user = NewUser::parse(UserFields {
            name: Some(" Alice ".into()),
            email: Some("alice@mail.com".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(user.name.as_str(), "Alice");
        assert!(!user.is_admin);
        assert!(user.password.is_none());
    }

    #[test]
    fn changes_leave_absent_fields_alone() {
        let changes = UserChanges::parse(UserFields {
            is_admin: Some(false),
            ..Default::default()
        })
        .unwrap();
        assert!(changes.name.is_none() && changes.email.is_none());
        assert_eq!(changes.is_admin, Some(false));
        assert!(changes.roles.is_none());
    }

    #[test]
    fn is_admin_adds_or_removes_the_admin_role() {
        let names = |roles: Option<Vec<RoleName>>| {
            roles.map(|roles| {
                roles
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        let current = ["Admin".to_owned(), "viewer".to_owned()];
        let changes = |is_admin, roles: Option<&[&str]>| {
            UserChanges::parse(UserFields {
                is_admin,
                roles: roles.map(|r| r.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            })
            .unwrap()
        };
        assert_eq!(names(changes(None, None).direct_roles(&current)), None);
        assert_eq!(
            names(changes(Some(false), None).direct_roles(&current)),
            Some(vec!["viewer".to_owned()])
        );
        assert_eq!(
            names(changes(Some(true), Some(&["helpdesk"])).direct_roles(&current)),
            Some(vec!["helpdesk".to_owned(), "admin".to_owned()])
        );
        assert_eq!(
            names(changes(None, Some(&[])).direct_roles(&current)),
            Some(vec![])
        );
        let errors = UserChanges::parse(UserFields {
            roles: Some(vec![" ".into()]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(!errors.get("roles").is_empty());
    }
}
