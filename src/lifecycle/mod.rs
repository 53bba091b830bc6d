//! Lifecycle: disable and enable, the deleted users, restore and purge, bulk actions.

pub mod forms;
pub mod pages;
pub mod routes;
