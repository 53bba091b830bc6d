//! The user and the token as the API shows them, shared by every face that
//! serialises them: the JSON API and the pages, export, webhooks and SCIM. Built
//! from rows but not rows: a password hash has no field to land in.

mod token;
mod user;

pub use token::TokenView;
pub use user::{ACCESS_KEYS, DeletedUserView, UserView};

use time::OffsetDateTime;

const DISPLAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

pub fn display(at: OffsetDateTime) -> String {
    at.format(DISPLAY).unwrap_or_default()
}

pub fn iso(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
