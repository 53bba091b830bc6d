//! Roles: what each allows, and custom ones made, edited and deleted (SPEC §14).

pub mod forms;
pub mod pages;
pub mod routes;
pub mod views;
