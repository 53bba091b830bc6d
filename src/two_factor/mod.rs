//! Two-factor login: enrolment, the second step, recovery codes and reset.

pub mod routes;
