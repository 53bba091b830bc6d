//! Import of users from CSV, NDJSON or a JSON array: rows are matched to users
//! by email and become creates, updates of the fields that differ, or nothing.
//!
//! * [`read`] turns a file into rows as it arrives (its shape only);
//! * [`row`] parses a row's values, and holds the export's formula guard;
//! * [`plan`] decides what each row does, given what the database holds.
//!
//! The write path ([`crate::write::Writer::import`]) plans inside the
//! transaction that applies, so the plan applied is the plan checked.

pub mod pending;
pub mod plan;
pub mod read;
pub mod row;

pub use plan::{Action, Counts, Plan, PlannedRow};
pub use read::{FileError, ImportFormat, SubmittedRow, read_rows};
