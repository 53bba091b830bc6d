//! Hears every change to users and tokens, whoever made it.
//!
//! The database's triggers (migration 0005) notify `useradmin_changes` on every
//! statement that changes users or tokens — from this service, the command line,
//! or raw SQL in Adminer. Each instance listens; on a notification it moves the
//! list-cache generation on and forgets the token checks it trusted, so readers
//! see a raw edit within moments. While the listening connection is lost nothing
//! is heard, so the instance does the same on every reconnect.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Generation;
use crate::cache::token_cache::TokenCache;
use crate::db;

/// The channel the triggers notify.
pub const CHANNEL: &str = "useradmin_changes";

/// What a change makes stale in this instance.
#[derive(Clone)]
pub struct Stale {
    pub generation: Generation,
    pub tokens: Arc<TokenCache>,
}

impl Stale {
    async fn forget(&self) {
        self.tokens.clear();
        self.generation.bump().await;
    }
}

/// Starts listening. The first subscription is made before this returns (when
/// the database answers), so a started instance already hears changes; the rest
/// runs in the background until `stop`. A reconnect forgets as a change does.
pub async fn listen(db: PgPool, stale: Stale, stop: CancellationToken) -> JoinHandle<()> {
    db::listen::listen(db, CHANNEL, "changes", stop, move || {
        let stale = stale.clone();
        async move { stale.forget().await }
    })
    .await
}
