//! Reliability and abuse proofs (issue 7, points 3–5): concurrency, property tests
//! on the domain types, malformed input against every route, XSS payloads and
//! session fixation, and faults that can be caused from outside the app process.
#![allow(dead_code)]

#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/proxy.rs"]
mod proxy;

mod concurrency;
mod connections;
mod domain_props;
mod faults;
mod fuzz;
mod security;
