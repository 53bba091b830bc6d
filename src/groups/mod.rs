//! Groups (SPEC §14): their list and pages, their fields and roles, and their
//! members, who hold the group's roles while they are in it.

pub mod forms;
pub mod members;
pub mod pages;
pub mod routes;
pub mod views;
