//! Parsed values: once one of these exists, it is valid. Handlers turn raw input
//! into these at the boundary and never pass raw strings further in.

pub mod access;
mod audit_action;
mod audit_query;
mod counting;
mod external_id;
mod field_errors;
mod list_query;
mod password;
mod permission;
pub mod scim_filter;
mod scim_profile;
mod text;
pub mod token_grant;
mod token_label;
mod user;
mod user_email;
pub mod user_fields;
mod user_name;
mod version;
mod webhook_events;

pub use access::{AccessTextError, Description, GroupFields, GroupName, RoleFields, RoleName};
pub use audit_action::AuditAction;
pub use audit_query::{
    AuditActorFilter, AuditQuery, AuditQueryError, RawAuditQuery, time_input_value,
};
pub use counting::{count, thousands};
pub use external_id::{ExternalId, ExternalIdError};
pub use field_errors::FieldErrors;
pub use list_query::{
    Cursor, CursorKey, ListQuery, ListQueryError, MAX_PAGE_SIZE, MAX_SEARCH_CHARS, PageCursor,
    RawListQuery, SortKey, SortOrder, UserFilters,
};
pub use password::Password;
pub use permission::{Permission, PermissionSet, UnknownPermission};
pub use scim_profile::ScimProfile;
pub use text::{CONTROL_CHARACTERS, has_control_characters, no_control_characters};
pub use token_label::{TokenLabel, TokenLabelError};
pub use user::{DisabledReason, NewUser, UserChanges, UserFields, UserId, UserIdError, UserStatus};
pub use user_email::{UserEmail, UserEmailError};
pub use user_fields::UserField;
pub use user_name::UserName;
pub use version::ExpectedVersion;
pub use webhook_events::{WEBHOOK_EVENTS, WebhookEvents};

/// The longest webhook endpoint URL the API documents and the form accepts.
/// (The URL's parser, `webhooks::address_guard::parse`, checks its syntax and
/// does not count its length.)
pub const WEBHOOK_URL_MAX_CHARS: usize = 2000;
