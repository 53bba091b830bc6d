//! Behaviour through HTTP against the real service, PostgreSQL and Redis.

mod helpers;
mod proxy;

mod auth_tokens;
mod browser;
mod cache;
mod cli;
mod hardening;
mod hardening_small;
mod health;
mod html_auth;
mod html_pages;
mod openapi;
mod root_and_limits;
mod users_list;
mod users_write;
