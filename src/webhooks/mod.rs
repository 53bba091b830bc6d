//! Webhooks (SPEC §11): every audited change to a user or a token that an
//! endpoint subscribes to is queued in an outbox by the database, in the
//! transaction of the change (migration 0009), and sent from there by a
//! dispatcher in every instance, signed per the Standard Webhooks
//! specification, retried with backoff for 24 hours.
//!
//! * [`crate::auth::webhook_signature`]: `whsec_` secrets, signing and verifying.
//! * [`address_guard`]: the SSRF guard, at registration and at delivery.
//! * [`payload`]: the body, with the subject as the API shows it.
//! * [`sender`]: one HTTP attempt.
//! * [`backoff`]: when a failed attempt is tried again.
//! * [`dispatcher`]: claiming, sending and recording; graceful shutdown.
//! * [`recorder`]: delivered attempts, written in batches.
//!
//! The SQL is in [`crate::db::deliveries`].

pub mod address_guard;
pub mod backoff;
pub mod dispatcher;
pub mod pages;
pub mod payload;
mod recorder;
pub mod routes;
pub mod sender;
pub mod views;
mod wake;

pub use dispatcher::Dispatcher;
