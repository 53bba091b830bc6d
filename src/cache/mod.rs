//! Redis-backed caches over the one shared pool.

mod breaker;
pub mod changes;
mod user_list;

pub use breaker::Breaker;
pub use user_list::{Lookup, Ticket, UserListCache};
