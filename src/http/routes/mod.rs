//! One module per area, each with its own `router()`.

pub mod health;
pub mod root;
pub mod users;
