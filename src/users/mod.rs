//! Users: the list, a user's page, create, edit and delete.

pub mod forms;
pub mod pages;
pub mod routes;
pub mod views;
