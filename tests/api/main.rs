//! Behaviour through HTTP against the real service, PostgreSQL and Redis.

// The shared helpers (tests/support), under the names the modules use.
use useradmin_test_support::{self as helpers, proxy};

mod access_rules;
mod audit;
mod auth_tokens;
mod browser;
mod cache;
mod cli;
mod delegation;
mod export;
mod groups;
mod health;
mod html_auth;
mod html_pages;
mod import;
mod import_bounds;
mod lifecycle;
mod local_cache;
mod openapi;
mod roles;
mod root_and_limits;
mod scim;
mod two_factor;
mod users_list;
mod users_write;
mod webhooks;
mod webhooks_delivery;
