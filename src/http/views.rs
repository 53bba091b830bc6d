//! What clients see. These are built from rows but are not rows: a password hash
//! has no field to land in.

use serde::Serialize;

pub use crate::views::{DeletedUserView, TokenView, UserView};

/// A message body, as the original service answered for `/` and deletes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub message: String,
}
