//! One module per area, each with its own `router()`.

pub mod audit;
pub mod auth;
pub mod export;
pub mod health;
pub mod import;
pub mod lifecycle;
pub mod root;
pub mod scim;
pub mod tokens;
pub mod two_factor;
pub mod users;
pub mod webhooks;
