//! Who may do what: password hashing, API tokens and the first admin.

pub mod access;
pub mod code_throttle;
mod error;
pub mod login_csrf;
pub mod password;
pub mod recovery_codes;
mod redis_counter;
pub mod session_store;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod webhook_signature;

pub use error::AuthError;
pub use password::PasswordHasher;

/// The admin a request acts for, and how it authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAdmin {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub via: AuthMethod,
    /// What this request may do: the account's permissions, and for a token
    /// their intersection with its scopes.
    pub permissions: crate::domain::PermissionSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Bearer …`: no cookie, so no CSRF check.
    Token { id: i64, label: String },
    /// The session cookie from `/login`.
    Session,
}

impl CurrentAdmin {
    pub fn by_session(&self) -> bool {
        self.via == AuthMethod::Session
    }

    /// `Ok` when this request holds `permission`; else the 403 that names it.
    pub fn require(&self, permission: crate::domain::Permission) -> Result<(), AuthError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(AuthError::MissingPermission {
                permission: Some(permission),
                token: !self.by_session(),
            })
        }
    }
}
