//! What the integration tests of `useradmin` share (`tests/api`, `tests/reliability`).
//!
//! A library crate of its own, a path dev-dependency of the root package, so each
//! test binary uses what it needs from it: no `#[path]` includes, and no dead-code
//! allowance for the helpers one binary happens not to call.
//!
//! * [`spawn_app`]: the real service on a free port, against a fresh database of its
//!   own on the real PostgreSQL and the real Redis under a key prefix of its own, so
//!   tests run in parallel without seeing each other ([`TestApp`]).
//! * [`browser`], [`csrf_in`], [`session_cookie`], [`UserForm`] /
//!   [`submit_user_form`], [`assert_redirects_to`]: the admin pages as a browser
//!   uses them.
//! * [`json_of`], [`assert_error`]: JSON answers; [`list_page`], [`emails_of`],
//!   [`ids_of`], [`audit_events`], [`post_json`], [`user_name_by_email`]: lists,
//!   the audit trail and users by email.
//! * [`TestDatabase`], [`remove_test_data`], [`scratch_name`]: a database and a
//!   Redis key prefix of the test's own, removed when the test ends (also on a
//!   panic); names carry their owner ([`owner_tag`]) so `scripts/test` sweeps
//!   only what a finished or crashed run left.
//! * [`OwnedRedis`], [`closed_port`], [`proxy`], [`redis_keys`]: dependencies a
//!   test may stop, cut or point nowhere, and what Redis holds.

mod app;
mod html;
mod lists;
pub mod proxy;
mod scratch;
mod services;

pub use app::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Options, TestApp, assert_error, base_database_url, behind_proxy,
    database_url_for, json_of, redis_url, spawn_app, spawn_app_with,
};
pub use html::{
    UserForm, assert_redirect, assert_redirects_to, bare_client, browser, csrf_in, session_cookie,
    submit_user_form,
};
pub use lists::{
    assert_get_refused, audit_events, emails_of, ids_of, list_page, post_json, user_name_by_email,
};
pub use scratch::{TestDatabase, key_prefix_for, owner_tag, remove_test_data, scratch_name};
pub use services::{OwnedRedis, closed_port, redis_keys, within};
