//! Reliability and abuse proofs (issue 7, points 3–5): concurrency, property tests
//! on the domain types, malformed input against every route, XSS payloads and
//! session fixation, and faults that can be caused from outside the app process.

// The shared helpers (tests/support), under the name the modules use.
use useradmin_test_support as helpers;

mod concurrency;
mod connections;
mod domain_props;
mod faults;
mod fuzz;
mod security;
