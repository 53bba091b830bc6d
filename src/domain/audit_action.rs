//! Every action the audit trail records, by name: those the database's
//! triggers write (migrations/*.sql, checked by the test below) and those the
//! service writes itself (logins, second factors, imports, webhook tests).

/// One kind of audit event. [`AuditAction::as_str`] is the `audit_events.action`
/// value, which is also what webhooks and the `action` filter see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    // Written by the triggers on `users` (0006, 0007, 0008, 0015).
    UserCreated,
    UserUpdated,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    UserRestored,
    UserPurged,
    PasswordChanged,
    // Written by the triggers on `api_tokens` (0006).
    TokenCreated,
    TokenUpdated,
    TokenRevoked,
    TokenDeleted,
    // Written by the triggers on `webhooks` (0009).
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookPaused,
    WebhookResumed,
    WebhookSecretRotated,
    // Written by the triggers on roles and groups (0018).
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    UserRolesChanged,
    // Written by the service.
    WebhookTested,
    WebhookRedelivered,
    UsersImported,
    LoginSucceeded,
    LoginFailed,
    LoginSecondStepFailed,
    Logout,
    TwoFactorEnabled,
    TwoFactorDisabled,
    TwoFactorReset,
    TwoFactorRecoveryCodeUsed,
}

impl AuditAction {
    pub const ALL: [Self; 38] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserDeleted,
        Self::UserRestored,
        Self::UserPurged,
        Self::PasswordChanged,
        Self::TokenCreated,
        Self::TokenUpdated,
        Self::TokenRevoked,
        Self::TokenDeleted,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookDeleted,
        Self::WebhookPaused,
        Self::WebhookResumed,
        Self::WebhookSecretRotated,
        Self::RoleCreated,
        Self::RoleUpdated,
        Self::RoleDeleted,
        Self::GroupCreated,
        Self::GroupUpdated,
        Self::GroupDeleted,
        Self::GroupMemberAdded,
        Self::GroupMemberRemoved,
        Self::UserRolesChanged,
        Self::WebhookTested,
        Self::WebhookRedelivered,
        Self::UsersImported,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginSecondStepFailed,
        Self::Logout,
        Self::TwoFactorEnabled,
        Self::TwoFactorDisabled,
        Self::TwoFactorReset,
        Self::TwoFactorRecoveryCodeUsed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserDeleted => "user.deleted",
            Self::UserRestored => "user.restored",
            Self::UserPurged => "user.purged",
            Self::PasswordChanged => "password.changed",
            Self::TokenCreated => "token.created",
            Self::TokenUpdated => "token.updated",
            Self::TokenRevoked => "token.revoked",
            Self::TokenDeleted => "token.deleted",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookUpdated => "webhook.updated",
            Self::WebhookDeleted => "webhook.deleted",
            Self::WebhookPaused => "webhook.paused",
            Self::WebhookResumed => "webhook.resumed",
            Self::WebhookSecretRotated => "webhook.secret_rotated",
            Self::RoleCreated => "role.created",
            Self::RoleUpdated => "role.updated",
            Self::RoleDeleted => "role.deleted",
            Self::GroupCreated => "group.created",
            Self::GroupUpdated => "group.updated",
            Self::GroupDeleted => "group.deleted",
            Self::GroupMemberAdded => "group.member_added",
            Self::GroupMemberRemoved => "group.member_removed",
            Self::UserRolesChanged => "user.roles_changed",
            Self::WebhookTested => "webhook.tested",
            Self::WebhookRedelivered => "webhook.redelivered",
            Self::UsersImported => "users.imported",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::LoginSecondStepFailed => "login.second_step_failed",
            Self::Logout => "logout",
            Self::TwoFactorEnabled => "2fa.enabled",
            Self::TwoFactorDisabled => "2fa.disabled",
            Self::TwoFactorReset => "2fa.reset",
            Self::TwoFactorRecoveryCodeUsed => "2fa.recovery_code_used",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == raw)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl sqlx::Type<sqlx::Postgres> for AuditAction {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for AuditAction {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The quoted SQL literals shaped like an action (`'family.verb'`), but not
    /// the service's settings (`'useradmin.actor'`). Comments are left out
    /// (an apostrophe in one would pair the quotes wrongly).
    fn action_literals(sql: &str) -> BTreeSet<String> {
        let code: String = sql
            .lines()
            .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
            .collect::<Vec<_>>()
            .join("\n");
        let mut found = BTreeSet::new();
        for (i, literal) in code.split('\'').enumerate() {
            let quoted = i % 2 == 1;
            let shaped = literal.split_once('.').is_some_and(|(family, verb)| {
                !family.is_empty()
                    && !verb.is_empty()
                    && literal.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                    })
            });
            // Permission names (`users.read`) are shaped alike.
            let permission = crate::domain::Permission::parse(literal).is_ok();
            if quoted && shaped && !permission && !literal.starts_with("useradmin.") {
                found.insert(literal.to_owned());
            }
        }
        found
    }

    #[test]
    fn every_action_the_migrations_write_is_known() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut found = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sql") {
                found.extend(action_literals(&std::fs::read_to_string(&path).unwrap()));
            }
        }
        // The triggers' actions are all there, so the scan reads what it should.
        assert!(found.len() >= 18, "{found:?}");
        for literal in &found {
            assert!(
                AuditAction::parse(literal).is_some(),
                "{literal} is written by a migration but is no AuditAction"
            );
        }
    }

    #[test]
    fn names_are_distinct_and_parse_back() {
        let names: BTreeSet<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("user.exploded"), None);
    }

    #[test]
    fn the_scan_skips_settings_and_sentences() {
        let sql = "perform set_config('useradmin.actor', $1, true); \
                   perform audit_record('user.created', 'user', 1, 'a', '{}'); \
                   raise exception 'it''s not. allowed'; -- the service's 'x.y'";
        assert_eq!(
            action_literals(sql).into_iter().collect::<Vec<_>>(),
            ["user.created"]
        );
    }
}
