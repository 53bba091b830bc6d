//! Two-factor login (SPEC §13), the feature's one home: its routes and pages.
//! Its parts in the core layers: TOTP and recovery codes in `auth`, its writes
//! in `write::two_factor`, its tables in `db::two_factor`, the key being
//! enrolled in the browser session (`http::session`).

mod enrolment;
mod reset;
pub mod routes;
mod second_step;
