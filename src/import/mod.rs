//! Import of users from CSV, NDJSON or a JSON array: rows are matched to users
//! by email and become creates, updates of the fields that differ, or nothing.
//!
//! * [`read`] turns a file into rows as it arrives (its shape only);
//! * [`row`] parses a row's values, and holds the export's formula guard;
//! * [`batches`] hands the rows on a batch at a time, read on a thread;
//! * [`plan`] decides what each row does, given what the database holds.
//!
//! The write path (`Writer::import`) plans inside the
//! transaction that applies, so the plan applied is the plan checked.

pub mod batches;
pub mod pending;
pub mod plan;
pub mod read;
pub mod row;

pub use batches::{ChunksReader, RowBatches};
pub use plan::{Action, Counts, Plan, PlannedRow};
pub use read::{FileError, ImportFormat, SubmittedRow, for_each_row, read_rows};

/// Gives the memory an import freed back to the system: the allocator keeps
/// freed pages for reuse otherwise, and an instance that imported a large file
/// would keep its peak for good.
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own heap.
    unsafe {
        libc::malloc_trim(0);
    }
}
