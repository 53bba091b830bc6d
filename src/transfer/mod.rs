//! Import and export of users.

pub mod export;
pub mod export_routes;
pub mod import_routes;
pub mod pages;
