//! The audit trail as pages and JSON.

pub mod pages;
pub mod routes;
pub mod views;
