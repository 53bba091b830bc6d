//! The statements that change something, each visible to the write path only
//! (`pub(in crate::write)`): nothing outside `write` can call them, so every
//! change goes through a [`Writer`](super::Writer) method, in a transaction
//! that names who acts, and is announced after its commit.
//!
//! The rows they answer, and every read, stay in `db`. The few writes made
//! outside the write path on purpose are named as such there:
//! `db::deliveries::bookkeeping` (the webhook dispatcher's), `db::jobs` (the
//! periodic jobs' lock and audit retention), `db::secrets` (start-up) and
//! `db::seed` (the demo data command).

pub(in crate::write) mod access;
pub(in crate::write) mod actor;
pub(in crate::write) mod audit;
pub(in crate::write) mod deliveries;
pub(in crate::write) mod import;
pub(in crate::write) mod tokens;
pub(in crate::write) mod two_factor;
pub(in crate::write) mod users;
pub(in crate::write) mod webhooks;
