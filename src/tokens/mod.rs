//! API tokens: list, create, revoke.

pub mod forms;
pub mod pages;
pub mod routes;
