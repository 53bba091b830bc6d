//! useradmin: a web service for managing users. HTML admin pages for browsers and
//! a JSON API for scripts, served by the same handlers; data in PostgreSQL; login
//! sessions and the user-list cache in Redis.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod groups;
pub mod health;
pub mod http;
pub mod import;
pub mod jobs;
pub mod lifecycle;
pub mod login;
pub mod metrics;
pub mod reasons;
pub mod redis;
pub mod roles;
pub mod scim;
pub mod server;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod transfer;
pub mod two_factor;
pub mod users;
pub mod views;
pub mod webhooks;
pub mod write;

/// The schema migrations, embedded at build time; shared by start-up and tests.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
