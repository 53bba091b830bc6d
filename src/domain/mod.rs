//! Parsed values: once one of these exists, it is valid. Handlers turn raw input
//! into these at the boundary and never pass raw strings further in.

mod field_errors;
mod list_query;
mod password;
mod user;
mod user_email;
mod user_name;

pub use field_errors::FieldErrors;
pub use list_query::{
    Cursor, CursorKey, ListQuery, ListQueryError, MAX_PAGE_SIZE, RawListQuery, SortKey, SortOrder,
};
pub use password::Password;
pub use user::{NewUser, UserChanges, UserId, UserIdError, UserInput};
pub use user_email::UserEmail;
pub use user_name::UserName;
