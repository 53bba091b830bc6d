//! `/`, `/health` and `/health/live`.

pub mod root;
pub mod routes;
