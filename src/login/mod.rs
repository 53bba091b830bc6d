//! Logging in and out, and changing one's own password.

pub mod pages;
pub mod routes;
