//! Redis-backed caches over the one shared pool, all stored under one cache
//! generation that every write moves on.

mod breaker;
pub mod changes;
mod generation;
pub mod local;
pub mod token_cache;
mod user_list;

pub use breaker::Breaker;
pub use generation::Generation;
pub use local::{LocalPages, Mirror};
pub use user_list::{Lookup, Ticket, UserListCache};
